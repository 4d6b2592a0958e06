"""The notification port: the use cases say what happened, the subscribers say who hears it.

A subscriber turns a domain event (chalicelib/core/events.py) into the outbox messages it
owes: the Slack notifier (notify/slack.py) into Slack posts, the EventBridge publisher
(notify/eventbridge.py) into PutEvents entries. They are wired in chalicelib/wiring.py, one
line each; a new channel (Microsoft Teams, e-mail) is one more module and one more line.

``owes`` collects what a state change owes, for the caller to write in the same DynamoDB
transaction as the change (then ``stored``); ``publish`` stores what an event owes on its own
(reminders: no state change). ``flush`` sends what this thread stored (the outbox sends each
destination's messages in order, destinations side by side, Slack's before any event: an event
bus that is down costs a slash command's answer nothing the Slack messages needed); whatever is
not sent in time goes with the sweep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Protocol

from chalicelib.core.events import Event
from chalicelib.delivery.message import OutboxMessage, as_added
from chalicelib.delivery.outbox import Outbox


class Subscriber(Protocol):
    def owes(self, event: Event) -> list[OutboxMessage]:
        """The messages ``event`` owes (not stored yet); [] if it means nothing here."""
        ...


class Notifications:
    def __init__(
        self,
        outbox: Outbox,
        subscribers: Sequence[Subscriber],
        clock: Callable[[], datetime],
    ):
        self.outbox = outbox
        self.subscribers = list(subscribers)
        self._clock = clock
        # Per thread: the local server handles requests in threads, and each flushes its own.
        self._local = threading.local()

    @property
    def clock(self) -> Callable[[], datetime]:
        return self._clock

    @clock.setter
    def clock(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        for subscriber in self.subscribers:
            if hasattr(subscriber, "clock"):
                subscriber.clock = clock  # type: ignore[attr-defined]

    def owes(self, events: Iterable[Event]) -> list[OutboxMessage]:
        """What ``events`` owe, from every subscriber, in wiring order."""
        events = list(events)
        owed = []
        ranks = self._local.__dict__.setdefault("ranks", {})
        for rank, subscriber in enumerate(self.subscribers):
            for event in events:
                for message in subscriber.owes(event):
                    ranks[message.id] = rank
                    owed.append(message)
        return owed

    def stored(self, messages: Iterable[OutboxMessage]) -> None:
        """``messages`` were written (with their state change): send them at the next flush."""
        self._unsent().extend(as_added(m) for m in messages)

    def publish(self, event: Event) -> bool:
        """Store what ``event`` owes on its own (no state change goes with it); False if
        nothing was stored (nothing owed, or an ``event.once`` announced before)."""
        stored = [m for m in map(self.outbox.add, self.owes([event])) if m is not None]
        self._unsent().extend(stored)
        return bool(stored)

    def direct_recipients(self, role_name: str, requester: str) -> tuple[str, ...]:
        """The approvers a subscriber tells directly of a new request (kept on the request, so
        that each hears how it was decided)."""
        found: tuple[str, ...] = ()
        for subscriber in self.subscribers:
            recipients = getattr(subscriber, "direct_recipients", None)
            if recipients is not None:
                found += tuple(p for p in recipients(role_name, requester) if p not in found)
        return found

    def flush(self, seconds: float) -> None:
        """Send what this thread stored, within ``seconds``; the rest goes with the next sweep."""
        deadline = time.monotonic() + seconds
        unsent = self._local.__dict__.pop("unsent", [])
        ranks = self._local.__dict__.pop("ranks", {})
        unsent.sort(key=lambda m: ranks.get(m.id, 0))  # stable: each subscriber's in order
        self.outbox.send_now(unsent, self.clock(), deadline)
        for subscriber in self.subscribers:  # what a subscriber queued outside a use case
            own = getattr(subscriber, "flush", None)
            if own is not None:
                own(max(0.0, deadline - time.monotonic()))

    def _unsent(self) -> list[OutboxMessage]:
        return self._local.__dict__.setdefault("unsent", [])
