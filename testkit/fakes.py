"""In-memory repositories that keep the store's contract (chalicelib/ports.py), and a
``FakeStore`` with the store's public methods over them.

They enforce what the use cases rely on: every write of a request or message is conditional on
the version it was read at (or on the id being new) and raises StoreConflict otherwise, writing
nothing; a change and its messages, a pair, a transaction are all or nothing; the due, live and
by-person queries answer what DynamoDB's indexes would; locks have leases that lapse, refuse a
second holder and take ids handed over; response_url uses stop at their limit.
tests/contract/ runs one suite against these and the DynamoDB store alike.

Safe across threads: one lock per store guards every read and write. Nothing expires by TTL.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime

from chalicelib.aws.store import Repositories
from chalicelib.core import deadline
from chalicelib.core.errors import LockBusy, LockHandedOver, StoreConflict
from chalicelib.core.model import AccessRequest, State
from chalicelib.core.sweep_plan import Cursor, Mark
from chalicelib.delivery.message import OutboxMessage, as_added

TRANSACTION_ITEMS = 100  # as DynamoDB: a change and its messages must fit one transaction
# The time each state's requests are due by (the sweep's work), as the due index keys them.
DUE_BY = {State.PENDING: "approval_deadline", State.APPROVED: "ends_at", State.ACTIVE: "ends_at"}
DUE_BY[State.SCHEDULED] = "starts_at"  # the sweep starts it (core/schedule.py)
# The order of a role's open requests, as the live index sorts them.
_LIVE_ORDER = {State.ACTIVE: 0, State.APPROVED: 1, State.PENDING: 2}


def _fits(items: int) -> None:
    if items > TRANSACTION_ITEMS:
        raise ValueError(f"{items} items do not fit in one transaction")


class FakeMessages:
    def __init__(self, mutex: threading.RLock | None = None):
        self._mutex = mutex or threading.RLock()
        self._items: dict[str, OutboxMessage] = {}

    def add(self, message: OutboxMessage) -> OutboxMessage:
        with self._mutex:
            self._check_new([message])
            return self._put_new([message])[0]

    def save(self, message: OutboxMessage) -> OutboxMessage:
        with self._mutex:
            self._check_read(message)
            saved = replace(message, version=message.version + 1)
            self._items[saved.id] = saved
            return saved

    def save_each(self, messages: Sequence[OutboxMessage]) -> list[OutboxMessage | None]:
        return [self._saved_or_none(m) for m in messages]

    def _saved_or_none(self, message: OutboxMessage) -> OutboxMessage | None:
        try:
            return self.save(message)
        except StoreConflict:
            return None

    def due(self, until: str) -> list[OutboxMessage]:
        with self._mutex:
            due = [
                m
                for m in self._items.values()
                if m.status == "PENDING" and m.next_attempt_at <= until
            ]
        return sorted(due, key=lambda m: (m.next_attempt_at, m.id))

    def get(self, message_id: str) -> OutboxMessage | None:
        with self._mutex:
            return self._items.get(message_id)

    # -- for FakeRequests, under the shared mutex -------------------------------------------
    def _check_new(self, messages: Sequence[OutboxMessage]) -> None:
        if any(m.id in self._items for m in messages):
            raise StoreConflict("put_item")

    def _check_read(self, message: OutboxMessage) -> None:
        stored = self._items.get(message.id)
        if stored is None or stored.version != message.version:
            raise StoreConflict("put_item")

    def _put_new(self, messages: Sequence[OutboxMessage]) -> list[OutboxMessage]:
        added = [as_added(m) for m in messages]
        self._items.update((m.id, m) for m in added)
        return added


class FakeRequests:
    def __init__(self, messages: FakeMessages, mutex: threading.RLock | None = None):
        self._messages = messages
        self._mutex = mutex or threading.RLock()
        self._items: dict[str, AccessRequest] = {}

    # -- writes ------------------------------------------------------------------------------
    def create(
        self, request: AccessRequest, messages: Sequence[OutboxMessage] = ()
    ) -> AccessRequest:
        _fits(1 + len(messages))
        with self._mutex:
            if request.id in self._items:
                raise StoreConflict("put_item")
            self._messages._check_new(messages)
            saved = replace(request, version=1)
            self._items[saved.id] = saved
            self._messages._put_new(messages)
            return saved

    def save(self, request: AccessRequest, messages: Sequence[OutboxMessage] = ()) -> AccessRequest:
        return self._save_together([request], messages)[0]

    def save_each(
        self, changes: Sequence[tuple[AccessRequest, Sequence[OutboxMessage]]]
    ) -> list[AccessRequest | None]:
        for _, messages in changes:
            _fits(1 + len(messages))
        return [self._saved_or_none(request, messages) for request, messages in changes]

    def _saved_or_none(
        self, request: AccessRequest, messages: Sequence[OutboxMessage]
    ) -> AccessRequest | None:
        try:
            return self.save(request, messages)
        except StoreConflict:
            return None

    def save_pair(
        self, first: AccessRequest, second: AccessRequest, messages: Sequence[OutboxMessage] = ()
    ) -> tuple[AccessRequest, AccessRequest]:
        one, two = self._save_together([first, second], messages)
        return one, two

    def _save_together(
        self, requests: Sequence[AccessRequest], messages: Sequence[OutboxMessage]
    ) -> list[AccessRequest]:
        """Each request if still at the version it was read at, and the messages (new), all or
        nothing."""
        _fits(len(requests) + len(messages))
        with self._mutex:
            for request in requests:
                stored = self._items.get(request.id)
                if stored is None or stored.version != request.version:
                    raise StoreConflict("transact_write_items")
            self._messages._check_new(messages)
            saved = [replace(r, version=r.version + 1) for r in requests]
            self._items.update((r.id, r) for r in saved)
            self._messages._put_new(messages)
            return saved

    # -- reads -------------------------------------------------------------------------------
    def get(self, request_id: str) -> AccessRequest | None:
        with self._mutex:
            return self._items.get(request_id)

    def get_many(self, request_ids: set[str]) -> list[AccessRequest]:
        with self._mutex:
            found = [self._items[i] for i in request_ids if i in self._items]
        return sorted(found, key=lambda r: r.id)

    def due(self, state: State, until: str) -> list[AccessRequest]:
        by = DUE_BY.get(state)
        if by is None:
            return []  # only work the sweep does carries the due index's keys
        due = [
            (getattr(r, by), r.id, r)
            for r in self._all()
            if r.state is state and getattr(r, by) and getattr(r, by) <= until
        ]
        return [r for *_, r in sorted(due, key=lambda d: d[:2])]

    def in_state(self, state: State) -> list[AccessRequest]:
        return self.due(state, "9999")

    def open_grants(self, role_arn: str) -> list[AccessRequest]:
        return self._live(role_arn, (State.ACTIVE, State.APPROVED))

    def pending_of_role(self, role_arn: str) -> list[AccessRequest]:
        return self._live(role_arn, (State.PENDING,))

    def _live(self, role_arn: str, states: tuple[State, ...]) -> list[AccessRequest]:
        live = [r for r in self._all() if r.role_arn == role_arn and r.state in states]
        return sorted(live, key=lambda r: (_LIVE_ORDER[r.state], r.created_at, r.id))

    def of_person(self, slack_id: str, limit: int = 50) -> list[AccessRequest]:
        theirs = [r for r in self._all() if r.requester == slack_id]
        return sorted(theirs, key=lambda r: (r.created_at, r.id), reverse=True)[:limit]

    def of_person_since(self, slack_id: str, since: str | None = None) -> list[AccessRequest]:
        theirs = [
            r
            for r in self._all()
            if r.requester == slack_id and (since is None or r.created_at >= since)
        ]
        return sorted(theirs, key=lambda r: (r.created_at, r.id))

    def every_since(self, since: str | None = None) -> list[AccessRequest]:
        kept = [r for r in self._all() if since is None or r.created_at >= since]
        return sorted(kept, key=lambda r: (r.created_at, r.id))

    def _all(self) -> list[AccessRequest]:
        with self._mutex:
            return list(self._items.values())


@dataclass
class _Lock:
    owner: str
    expires: int  # epoch seconds, as the table's TTL attribute
    pending: set[str] = field(default_factory=set)


class FakeLocks:
    def __init__(self, mutex: threading.RLock | None = None):
        self._mutex = mutex or threading.RLock()
        self._items: dict[str, _Lock] = {}

    @contextmanager
    def hold(
        self,
        name: str,
        lease_seconds: float = 30.0,
        wait_seconds: float = 20.0,
        clock=time.time,
        sleep=time.sleep,
        hand_over: str | None = None,
    ) -> Iterator[FakeHeldLock]:
        owner = uuid.uuid4().hex
        give_up = clock() + deadline.lock_wait(wait_seconds, reserve=5.0)
        pause = 0.05
        while True:
            now = clock()
            with self._mutex:
                before = self._items.get(name)
                if before is None or before.expires < int(now):
                    self._items[name] = _Lock(owner, int(now + lease_seconds) + 1)
                    held = FakeHeldLock(self, name, owner)
                    held.inherited = set(before.pending) if before else set()
                    break
            if hand_over is not None and self.leave_with_holder(name, hand_over, now):
                raise LockHandedOver(f"{name}: {hand_over} left with its holder")
            if now >= give_up:
                raise LockBusy(f"{name} is locked by another process")
            sleep(pause)
            pause = min(pause * 2, 1.0)
        try:
            yield held
        finally:
            with self._mutex:
                lock = self._items.get(name)
                if lock is not None and lock.owner == owner:
                    if lock.pending:
                        lock.expires = 0  # lapse, so the next holder inherits the ids
                    else:
                        del self._items[name]

    def leave_with_holder(self, name: str, item_id: str, now: float) -> bool:
        with self._mutex:
            lock = self._items.get(name)
            if lock is None or lock.expires < int(now):
                return False
            lock.pending.add(item_id)
            return True

    def _take_pending(self, name: str, owner: str) -> set[str]:
        with self._mutex:
            lock = self._items.get(name)
            if lock is None or lock.owner != owner:
                return set()
            taken, lock.pending = lock.pending, set()
            return taken


class FakeHeldLock:
    def __init__(self, locks: FakeLocks, name: str, owner: str):
        self._locks, self._name, self._owner = locks, name, owner
        self.inherited: set[str] = set()

    def take_pending(self) -> set[str]:
        return self._locks._take_pending(self._name, self._owner)


class FakeRecords:
    def __init__(self, mutex: threading.RLock | None = None):
        self._mutex = mutex or threading.RLock()
        self._ledgers: dict[str, tuple[str, int]] = {}
        self._uses: dict[str, int] = {}
        self._seen: dict[str, str | None] = {}
        self._reviews: dict[str, str] = {}
        self._suspended: dict[tuple[str, str], str] = {}
        self._owed: dict[str, tuple[str, int]] = {}
        self._reports: dict[str, str] = {}

    def read_cut_ledger(self, role_arn: str) -> tuple[str | None, int]:
        with self._mutex:
            return self._ledgers.get(role_arn, (None, 0))

    def write_cut_ledger(self, role_arn: str, text: str, read_version: int) -> None:
        with self._mutex:
            if role_arn in self._ledgers and self._ledgers[role_arn][1] != read_version:
                raise StoreConflict("put_item")  # written since it was read
            self._ledgers[role_arn] = (text, read_version + 1)

    def take_response_use(self, request_id: str, limit: int, forget_at: int) -> bool:
        with self._mutex:
            uses = self._uses.get(request_id, 0)
            if uses >= limit:
                return False
            self._uses[request_id] = uses + 1
            return True

    def first_arrival(self, key: str, forget_at: int) -> tuple[bool, str | None]:
        with self._mutex:
            if key in self._seen:
                return False, self._seen[key]
            self._seen[key] = None
            return True, None

    def keep_answer(self, key: str, answer: str, forget_at: int) -> None:
        with self._mutex:
            self._seen[key] = answer

    def await_review(self, request_id: str, due_at: str) -> None:
        with self._mutex:
            self._reviews[request_id] = due_at

    def unreviewed(self, until: str) -> list[str]:
        with self._mutex:
            due = [(at, rid) for rid, at in self._reviews.items() if at <= until]
        return [rid for _, rid in sorted(due)]

    def awaiting_review(self) -> list[str]:
        with self._mutex:
            due = [(at, rid) for rid, at in self._reviews.items()]
        return [rid for _, rid in sorted(due)]

    def reviewed(self, request_id: str) -> None:
        with self._mutex:
            self._reviews.pop(request_id, None)

    def suspend_break_glass(self, person: str, role: str, request_id: str) -> None:
        with self._mutex:
            self._suspended[(person, role)] = request_id

    def break_glass_suspension(self, person: str, role: str) -> str | None:
        with self._mutex:
            return self._suspended.get((person, role))

    def lift_break_glass_suspension(self, person: str, role: str) -> None:
        with self._mutex:
            self._suspended.pop((person, role), None)

    def owe_report(self, request_id: str, due_at: str, reported: int = 0) -> None:
        with self._mutex:
            self._owed[request_id] = (due_at, reported)

    def owed_reports(self, until: str) -> list[tuple[str, str, int]]:
        with self._mutex:
            due = [(at, rid, n) for rid, (at, n) in self._owed.items() if at <= until]
        return [(rid, at, n) for at, rid, n in sorted(due)]

    def report_made(self, request_id: str) -> None:
        with self._mutex:
            self._owed.pop(request_id, None)

    def keep_report(self, request_id: str, report: str) -> None:
        with self._mutex:
            self._reports[request_id] = report

    def kept_report(self, request_id: str) -> str | None:
        with self._mutex:
            return self._reports.get(request_id)


class FakeStore(Repositories):
    """The store's public methods (chalicelib/aws/store.py) over the in-memory repositories:
    ``FakeStore()``, or ``FakeStore("name")`` for the table name a deployment is tagged by
    (aws/grants.py reads it)."""

    def __init__(self, table_name: str = "switchback"):
        mutex = threading.RLock()
        messages = FakeMessages(mutex)
        super().__init__(
            FakeRequests(messages, mutex), messages, FakeLocks(mutex), FakeRecords(mutex)
        )
        self._table = table_name


class FakeRoleChecks:
    """The sweep's role checks (chalicelib/aws/role_marks.py) in memory: marks that keep the
    earlier time, a seq that a clear must match, and the idle stream's cursor."""

    def __init__(self) -> None:
        self._mutex = threading.RLock()
        self._marks: dict[str, Mark] = {}
        self._cursor: Cursor | None = None

    def mark(self, role_arn: str, at: datetime, why: str) -> None:
        with self._mutex:
            known = self._marks.get(role_arn)
            if known is None:
                self._marks[role_arn] = Mark(role_arn, at, why, 1)
            elif at < known.due_at:
                self._marks[role_arn] = Mark(role_arn, at, why, known.seq + 1)
            else:
                self._marks[role_arn] = replace(known, seq=known.seq + 1)

    def due(self, now: datetime) -> dict[str, Mark]:
        with self._mutex:
            return {a: m for a, m in self._marks.items() if m.due_at <= now}

    def clear(self, mark: Mark) -> bool:
        with self._mutex:
            known = self._marks.get(mark.role_arn)
            if known is None or known.seq != mark.seq:
                return False
            del self._marks[mark.role_arn]
            return True

    def cursor(self) -> Cursor | None:
        with self._mutex:
            return self._cursor

    def save_cursor(self, cursor: Cursor) -> None:
        with self._mutex:
            self._cursor = cursor
