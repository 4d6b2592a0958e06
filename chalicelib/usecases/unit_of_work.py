"""The unit of work: every state change is written with what it owes, or not at all.

A ``Change`` is a request as it is to be written, the domain events it announces, and the
request as it was read (None: a new one). ``commit`` writes one change, or two together (an
extension and the grant it moves), with the outbox messages their events owe, in one
conditional DynamoDB transaction; ``commit_each`` writes a batch (a role step's state
changes), each change with its own messages, in as few transactions as fit. After a write,
the port sends the messages at the next flush and the listeners (telemetry) hear each
committed event. ``announce`` stores what an event that changes no state owes (reminders,
drift; no listener hears those). ``retrying`` is the one loop for lost races: read, decide
and commit again.

Working out what a change owes has no side effects, so a retried conflict costs nothing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from chalicelib.core.errors import LockBusy, StoreConflict
from chalicelib.core.events import Event
from chalicelib.core.model import AccessRequest
from chalicelib.delivery.message import OutboxMessage
from chalicelib.notify.telemetry import TelemetrySubscriber
from chalicelib.usecases.context import Context

CONFLICT_RETRIES = 8
T = TypeVar("T")


@dataclass(frozen=True)
class Change:
    """``request`` as it is to be written; ``events``: what happened (their messages are
    written with it); ``was``: the request as it was read, or None for a new request."""

    request: AccessRequest
    events: tuple[Event, ...] = ()
    was: AccessRequest | None = None


class Listener(Protocol):
    def committed(self, event: Event, was: AccessRequest | None) -> None:
        """``event`` is written, with its change (``was``: the request before it)."""
        ...


class UnitOfWork:
    def __init__(self, context: Context, listeners: Sequence[Listener] | None = None):
        self._context = context
        self.listeners = list(listeners) if listeners is not None else [TelemetrySubscriber()]

    def commit(self, *changes: Change) -> list[AccessRequest]:
        """Write one change, or two together, with the messages their events owe: one
        conditional transaction, all or nothing. Returns the requests as written. Raises
        StoreConflict (someone else moved first), AwsUnavailable (AwsUncertain: it may have
        been written)."""
        store = self._context.store
        owed = self._owed(changes)
        if len(changes) == 1:
            [change] = changes
            write = store.create_request if change.was is None else store.save_request
            saved = [write(change.request, owed)]
        elif len(changes) == 2 and all(c.was is not None for c in changes):
            saved = list(store.save_pair(changes[0].request, changes[1].request, owed))
        else:
            raise ValueError("commit writes one change, or two existing requests together")
        self._done(changes, owed)
        return saved

    def commit_each(self, changes: Sequence[Change]) -> list[AccessRequest | None]:
        """Write a batch of changes to existing requests, each with its own messages, in as
        few transactions as fit; one that lost a race is None and the others are written."""
        batch = [(change, self._owed([change])) for change in changes]
        saved = self._context.store.save_requests([(c.request, owed) for c, owed in batch])
        for (change, owed), done in zip(batch, saved, strict=True):
            if done is not None:
                self._done([change], owed)
        return saved

    def announce(self, event: Event) -> bool:
        """Store what an event that changes no state owes, on its own (reminders, drift, what
        a revoke left undone); False if nothing was stored (nothing owed, or an ``once`` key
        announced before)."""
        return self._context.notify.publish(event)

    def retrying(self, attempt: Callable[[int], T], subject: str) -> T:
        """Run ``attempt(n)`` (read, decide, commit) until it does not lose a race: full
        jitter between tries, so a burst of clicks spreads out instead of colliding again.
        Raises LockBusy when ``subject`` keeps changing under it."""
        for n in range(CONFLICT_RETRIES):
            try:
                return attempt(n)
            except StoreConflict:
                time.sleep(random.uniform(0, min(0.25, 0.01 * 2**n)))
        raise LockBusy(f"request {subject} is changing too fast; try again")

    def _owed(self, changes: Sequence[Change]) -> list[OutboxMessage]:
        """What the changes' events owe, from every subscriber (nothing is stored yet)."""
        return self._context.notify.owes(e for change in changes for e in change.events)

    def _done(self, changes: Sequence[Change], owed: list[OutboxMessage]) -> None:
        self._context.notify.stored(owed)
        for change in changes:
            for event in change.events:
                for listener in self.listeners:
                    listener.committed(event, change.was)
