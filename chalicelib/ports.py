"""What the use cases need of storage: four small repositories, and the sweep's role checks,
as Protocols.

DynamoDB's (chalicelib/aws/requests.py, messages.py, locks.py, records.py) and the in-memory
fakes (testkit/fakes.py) both honour them; tests/contract/ runs one suite against both.
Every write of a request or a message is conditional on the version it was read at (or on the
id being new) and raises StoreConflict otherwise, writing nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from chalicelib.core.model import AccessRequest, State
from chalicelib.core.sweep_plan import Cursor, Mark
from chalicelib.delivery.message import OutboxMessage


class Requests(Protocol):
    def get(self, request_id: str) -> AccessRequest | None: ...

    def create(
        self, request: AccessRequest, messages: Sequence[OutboxMessage] = ()
    ) -> AccessRequest:
        """A new request (version 1) with the messages it owes, together."""

    def save(self, request: AccessRequest, messages: Sequence[OutboxMessage] = ()) -> AccessRequest:
        """The changed request (version + 1) with its messages, if unchanged since read."""

    def save_each(
        self, changes: Sequence[tuple[AccessRequest, Sequence[OutboxMessage]]]
    ) -> list[AccessRequest | None]:
        """``save`` for each change, each with its messages; None where a change conflicted."""

    def save_pair(
        self, first: AccessRequest, second: AccessRequest, messages: Sequence[OutboxMessage] = ()
    ) -> tuple[AccessRequest, AccessRequest]:
        """Two requests and their messages, all or nothing."""

    def due(self, state: State, until: str) -> list[AccessRequest]:
        """PENDING by approval deadline, APPROVED and ACTIVE by end, at or before ``until``."""

    def in_state(self, state: State) -> list[AccessRequest]: ...

    def open_grants(self, role_arn: str) -> list[AccessRequest]:
        """The role's ACTIVE, then APPROVED requests, each oldest first."""

    def pending_of_role(self, role_arn: str) -> list[AccessRequest]:
        """The role's PENDING requests, oldest first."""

    def get_many(self, request_ids: set[str]) -> list[AccessRequest]:
        """Consistent reads, by id; missing ids left out."""

    def of_person(self, slack_id: str, limit: int = 50) -> list[AccessRequest]:
        """A person's requests, newest first."""

    def of_person_since(self, slack_id: str, since: str | None = None) -> list[AccessRequest]:
        """Every request of a person created at or after ``since`` (None: all), oldest first."""

    def every_since(self, since: str | None = None) -> list[AccessRequest]:
        """Every request kept, of anyone, created at or after ``since``, oldest first."""


class Messages(Protocol):
    def add(self, message: OutboxMessage) -> OutboxMessage:
        """A new message (version 1); StoreConflict if its id was stored before."""

    def save(self, message: OutboxMessage) -> OutboxMessage: ...

    def save_each(self, messages: Sequence[OutboxMessage]) -> list[OutboxMessage | None]:
        """``save`` for each message; None where one conflicted."""

    def due(self, until: str) -> list[OutboxMessage]:
        """PENDING messages whose next attempt is at or before ``until``."""

    def get(self, message_id: str) -> OutboxMessage | None: ...


class HeldLock(Protocol):
    inherited: set[str]  # ids a lapsed holder left with the lock

    def take_pending(self) -> set[str]:
        """Ids others left with the lock since it was taken (or last asked), removed."""


class Locks(Protocol):
    def hold(
        self,
        name: str,
        lease_seconds: float = 30.0,
        wait_seconds: float = 20.0,
        clock: Callable[[], float] = ...,
        sleep: Callable[[float], None] = ...,
        hand_over: str | None = None,
    ) -> AbstractContextManager[HeldLock]:
        """Hold ``name`` exclusively for a lease; LockBusy after waiting, LockHandedOver once
        ``hand_over`` is left with a live holder."""

    def leave_with_holder(self, name: str, item_id: str, now: float) -> bool:
        """Leave ``item_id`` with the live holder of ``name``; False if none holds it."""


class Records(Protocol):
    def read_cut_ledger(self, role_arn: str) -> tuple[str | None, int]: ...

    def write_cut_ledger(self, role_arn: str, text: str, read_version: int) -> None: ...

    def take_response_use(self, request_id: str, limit: int, forget_at: int) -> bool: ...

    def first_arrival(self, key: str, forget_at: int) -> tuple[bool, str | None]: ...

    def keep_answer(self, key: str, answer: str, forget_at: int) -> None: ...

    def await_review(self, request_id: str, due_at: str) -> None: ...

    def unreviewed(self, until: str) -> list[str]: ...

    def awaiting_review(self) -> list[str]: ...

    def reviewed(self, request_id: str) -> None: ...

    def suspend_break_glass(self, person: str, role: str, request_id: str) -> None:
        """``person``'s break-glass on ``role`` is suspended by the flagged ``request_id``."""

    def break_glass_suspension(self, person: str, role: str) -> str | None:
        """The flagged request suspending it, or None."""

    def lift_break_glass_suspension(self, person: str, role: str) -> None: ...

    # Activity reports (chalicelib/usecases/activity.py): owed by a grant's end, then kept.
    def owe_report(self, request_id: str, due_at: str, reported: int = 0) -> None: ...

    def owed_reports(self, until: str) -> list[tuple[str, str, int]]: ...

    def report_made(self, request_id: str) -> None: ...

    def keep_report(self, request_id: str, report: str) -> None: ...

    def kept_report(self, request_id: str) -> str | None: ...


class RoleChecks(Protocol):
    """Role checks the sweep owes (chalicelib/aws/role_marks.py): marks, and the idle
    stream's cursor (chalicelib/core/sweep_plan.py)."""

    def mark(self, role_arn: str, at: datetime, why: str) -> None:
        """Read ``role_arn`` at the first pass at or after ``at``; a role marked twice keeps
        the earlier time, and a mark made while its role is being read is not cleared."""

    def due(self, now: datetime) -> dict[str, Mark]:
        """Every mark due at ``now``, by role ARN."""

    def clear(self, mark: Mark) -> bool:
        """Remove ``mark`` (its role was read); False if it was marked again meanwhile."""

    def cursor(self) -> Cursor | None: ...

    def save_cursor(self, cursor: Cursor) -> None: ...
