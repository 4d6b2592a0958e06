"""Every outgoing Slack message is stored first, then sent; what fails is retried by the sweeper.

Backoff doubles from 30 s up to 30 min; Slack's Retry-After wins when it asks for longer. A
message that keeps failing past ``max_age`` is given up and logged as an error, as is one whose
answer says retrying cannot help (channel_not_found, invalid_payload, 404…).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from . import telemetry
from .delivery import Outcome, post
from .errors import StoreConflict
from .model import iso, parse_iso
from .store import OutboxMessage, Store

FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(minutes=30)
INLINE_GRACE = timedelta(seconds=60)

Sender = Callable[[str, str, float], Outcome]


class Outbox:
    def __init__(self, store: Store, max_age: timedelta, sender: Sender = post):
        self._store = store
        self._max_age = max_age
        self._send = sender
        self.gave_up = 0

    def enqueue(
        self, url: str | None, payload: dict, kind: str, request_id: str, now: datetime
    ) -> OutboxMessage | None:
        if not url:
            telemetry.event(
                "message.undeliverable",
                logging.ERROR,
                request_id=request_id,
                kind=kind,
                error="no Slack destination (set SLACK_WEBHOOK_URL)",
            )
            telemetry.metric("undelivered")
            return None
        message = OutboxMessage(
            id=uuid.uuid4().hex,
            url=url,
            payload=json.dumps(payload),
            kind=kind,
            request_id=request_id,
            created_at=iso(now),
            # The caller sends it inline now; the sweep only after a grace
            # period, so the two do not race for it.
            next_attempt_at=iso(now + INLINE_GRACE),
        )
        return self._store.add_message(message)

    def send_now(
        self, messages: list[OutboxMessage | None], now: datetime, deadline: float
    ) -> None:
        """Try each message until the monotonic ``deadline``; what is left waits for the sweep."""
        for message in messages:
            remaining = deadline - time.monotonic()
            if message is None or remaining < 0.2:
                continue
            self._attempt(message, now, timeout=min(remaining, 10.0), claim=False)

    def deliver_due(self, now: datetime, time_budget: float = 30.0) -> int:
        deadline = time.monotonic() + time_budget
        sent = 0
        for message in self._store.due_messages(iso(now)):
            if time.monotonic() > deadline:
                break
            sent += self._attempt(message, now, timeout=5.0)
        return sent

    def _attempt(
        self, message: OutboxMessage, now: datetime, timeout: float, claim: bool = True
    ) -> bool:
        # Claim it first (a conditional write), so two sweeps never both send the same message;
        # if we die while sending, the claim lapses and a later sweep tries again.
        if claim:
            try:
                message = self._store.save_message(
                    replace(
                        message,
                        next_attempt_at=iso(now + timedelta(seconds=timeout) + INLINE_GRACE),
                    )
                )
            except StoreConflict:
                return False
        outcome = self._send(message.url, message.payload, timeout)
        attempts = message.attempts + 1
        if outcome.delivered:
            updated = replace(message, status="SENT", attempts=attempts, last_error="")
        elif outcome.permanent or now - parse_iso(message.created_at) >= self._max_age:
            updated = replace(
                message, status="GAVE_UP", attempts=attempts, last_error=outcome.error
            )
            self.gave_up += 1
            telemetry.event(
                "message.gave_up",
                logging.ERROR,
                request_id=message.request_id,
                message_id=message.id,
                kind=message.kind,
                attempts=attempts,
                error=outcome.error,
            )
            telemetry.metric("undelivered")
        else:
            wait = min(FIRST_RETRY * 2 ** (attempts - 1), LONGEST_RETRY)
            if outcome.retry_after:
                wait = max(wait, timedelta(seconds=outcome.retry_after))
            updated = replace(
                message,
                attempts=attempts,
                last_error=outcome.error,
                next_attempt_at=iso(now + wait),
            )
            telemetry.event(
                "message.retrying",
                logging.WARNING,
                request_id=message.request_id,
                message_id=message.id,
                kind=message.kind,
                error=outcome.error,
                retry_at=updated.next_attempt_at,
            )
        try:
            self._store.save_message(updated)
        except StoreConflict:
            return False  # a concurrent sweep handled it
        return outcome.delivered
