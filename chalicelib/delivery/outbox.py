"""Every outgoing Slack message is stored first, then sent; what fails is retried by the sweeper.

Backoff doubles from 30 s up to 30 min; Slack's Retry-After wins when it asks for longer. A
message that keeps failing past ``max_age`` is given up, logged as an error and counted, as is
one whose answer says retrying cannot help (channel_not_found, invalid_payload, 404…) — unless
it has a fallback: a requester's message sent to a response_url that Slack no longer accepts
(expired, used up) goes to the approvers' channel or a direct message instead.

Delivery is at least once: a send that timed out may have reached Slack, and is sent again.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from chalicelib import telemetry
from chalicelib.aws.store import Store
from chalicelib.core.errors import StoreConflict
from chalicelib.core.model import iso, parse_iso
from chalicelib.delivery.eventbridge import is_event
from chalicelib.delivery.message import OutboxMessage
from chalicelib.delivery.slack import CHAT_POST_MESSAGE, Outcome, SlackDelivery

FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(minutes=30)
INLINE_GRACE = timedelta(seconds=60)
SWEEP_SEND_TIMEOUT = 5.0  # seconds per attempt in the sweep
RESPONSE_URL_USES = 5  # Slack accepts at most five posts to one response_url
RESPONSE_URL_COUNTER_KEPT = timedelta(days=1)  # the URL lives 30 minutes; then DynamoDB's TTL
# Destinations an inline send talks to at once (each keeps its own order). Slack allows short
# bursts; four keeps a click that granted ten requests well inside its budget.
LANES_AT_ONCE = 4

# (destination, payload JSON, timeout seconds, patient) -> Outcome; ``patient`` allows quick
# in-process retries (the sweep), never within a slash command's deadline.
Sender = Callable[..., Outcome]


class Routes:
    """A sender that hands each message to the sender for its destination: the first whose
    prefix the destination starts with, else ``default`` (Slack)."""

    def __init__(self, default: Sender, by_prefix: dict[str, Sender]):
        self._default = default
        self._by_prefix = by_prefix

    def __call__(self, url: str, payload_json: str, timeout: float, patient: bool = False):
        send = next((s for p, s in self._by_prefix.items() if url.startswith(p)), self._default)
        return send(url, payload_json, timeout, patient)


def _refused_by(message: OutboxMessage) -> str:
    return "the event bus refused it" if is_event(message.url) else "Slack refused it"


def _about(message: OutboxMessage) -> dict:
    """What every event about a message carries."""
    return {"request_id": message.request_id, "message_id": message.id, "kind": message.kind}


class Outbox:
    def __init__(self, store: Store, max_age: timedelta, sender: Sender | None = None):
        self._store = store
        self._max_age = max_age
        self._send = sender or SlackDelivery()

    def enqueue(
        self,
        url: str | None,
        payload: dict,
        kind: str,
        request_id: str,
        now: datetime,
        **options,
    ) -> OutboxMessage | None:
        """Store a message to send (``options`` as for ``prepare``). A ``message_id`` makes it
        once-only: a second enqueue with the same id stores nothing and returns None
        (reminders use this)."""
        message = self.prepare(url, payload, kind, request_id, now, **options)
        return None if message is None else self.add(message)

    def add(self, message: OutboxMessage) -> OutboxMessage | None:
        """Store a prepared message on its own; None if one with its id was stored before."""
        try:
            return self._store.add_message(message)
        except StoreConflict:
            return None  # a message with this id was queued before

    def prepare(
        self,
        url: str | None,
        payload: dict,
        kind: str,
        request_id: str,
        now: datetime,
        *,
        message_id: str | None = None,
        fallback: tuple[str | None, dict] | None = None,
        url_expires_at: datetime | None = None,
    ) -> OutboxMessage | None:
        """The message to store, not stored yet (it is written with the state change that
        owes it); None if it has nowhere to go."""
        fallback_url, fallback_payload = fallback if fallback else (None, None)
        if not url and fallback_url:
            url, payload, fallback_url = fallback_url, fallback_payload or {}, None
            url_expires_at = None  # going straight to the later route
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
            id=message_id or uuid.uuid4().hex,
            url=url,
            payload=json.dumps(payload),
            kind=kind,
            request_id=request_id,
            created_at=iso(now),
            # The caller sends it inline now; the sweep only after a grace
            # period, so the two do not race for it.
            next_attempt_at=iso(now + INLINE_GRACE),
            fallback_url=fallback_url,
            fallback_payload=json.dumps(fallback_payload) if fallback_url else None,
            # Marks a post to a slash command's response_url: usable until then, five times.
            url_expires_at=iso(url_expires_at) if url_expires_at else None,
        )
        return message

    def already_queued(self, message_id: str) -> bool:
        return self._store.get_message(message_id) is not None

    def take_response_use(self, request_id: str, now: datetime) -> bool:
        """Reserve one of the five posts Slack allows to a request's response_url."""
        forget_at = int((now + RESPONSE_URL_COUNTER_KEPT).timestamp())
        return self._store.take_response_use(request_id, RESPONSE_URL_USES, forget_at)

    def _unusable(self, message: OutboxMessage, now: datetime) -> str | None:
        """Why a post to a slash command's response_url cannot go there now, if it cannot: the
        URL is past its time, or, on the message's first attempt, Slack's five posts to it are
        taken. One use is reserved per message, when it is first sent, so what a change owes
        costs nothing until it is committed and sent (a retried conflict takes none)."""
        if not message.url_expires_at:
            return None  # not a response_url, or already on its fallback
        if now >= parse_iso(message.url_expires_at):
            return "response_url expired"
        if message.attempts == 0 and not self.take_response_use(message.request_id, now):
            return "response_url used up"
        return None

    def send_now(
        self, messages: list[OutboxMessage | None], now: datetime, deadline: float
    ) -> None:
        """Send the messages until the monotonic ``deadline``: each destination's in order,
        destinations side by side (a lock holder tells ten requesters at once, not in turn),
        Slack's before any event (a bus that hangs costs Slack nothing). Then record what
        became of them all in one write (up to 100 a transaction): the caller keeps time for
        it after the deadline. What is not tried, or not recorded, waits for the sweep."""
        queued = [m for m in messages if m is not None]
        tried: list[OutboxMessage] = []
        for phase in (
            [m for m in queued if not is_event(m.url)],
            [m for m in queued if is_event(m.url)],
        ):
            tried += self._send_side_by_side(phase, now, deadline)
        if not tried:
            return
        try:
            self._store.save_messages(tried)  # a message a sweep took meanwhile is its own
        except Exception as error:  # sent, not recorded: the sweep sends these again
            for message in tried:
                telemetry.event(
                    "message.inline_failed",
                    logging.ERROR,
                    **_about(message),
                    error=f"not recorded: {type(error).__name__}: {error}",
                )

    def _send_side_by_side(
        self, messages: list[OutboxMessage], now: datetime, deadline: float
    ) -> list[OutboxMessage]:
        """Each destination's messages in turn, up to LANES_AT_ONCE destinations at a time;
        the messages as they are to be recorded."""
        lanes: dict[str, list[OutboxMessage]] = {}
        for message in messages:
            lanes.setdefault(_destination(message), []).append(message)
        if len(lanes) <= 1:
            return self._send_in_turn(messages, now, deadline)
        import contextvars
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(LANES_AT_ONCE, len(lanes))) as pool:
            # Each lane runs in a copy of this context: the caller's time budget holds there.
            runs = [
                pool.submit(contextvars.copy_context().run, self._send_in_turn, lane, now, deadline)
                for lane in lanes.values()
            ]
            return [message for run in runs for message in run.result()]

    def _send_in_turn(
        self, messages: list[OutboxMessage], now: datetime, deadline: float
    ) -> list[OutboxMessage]:
        tried = []
        for message in messages:
            remaining = deadline - time.monotonic()
            if remaining < 0.2:
                break
            try:
                tried.append(self._try(message, now, timeout=min(remaining, 10.0))[1])
            except Exception as error:  # the caller's answer matters more; the sweep has it
                telemetry.event(
                    "message.inline_failed",
                    logging.ERROR,
                    **_about(message),
                    error=f"{type(error).__name__}: {error}",
                )
        return tried

    def deliver_due(self, now: datetime, time_budget: float = 30.0) -> int:
        """Send what is due, oldest first. A destination that timed out, failed or asked us to
        wait gets no more messages in this pass: its others keep their order and wait too."""
        deadline = time.monotonic() + time_budget
        struggling: set[str] = set()
        sent = 0
        for message in self._store.due_messages(iso(now)):
            if time.monotonic() > deadline:
                break
            if message.url in struggling:
                continue
            outcome = self._attempt(message, now, timeout=SWEEP_SEND_TIMEOUT, patient=True)
            if outcome is None:
                continue
            if outcome.delivered:
                sent += 1
            elif not outcome.permanent:
                struggling.add(message.url)
        return sent

    def _attempt(
        self,
        message: OutboxMessage,
        now: datetime,
        timeout: float,
        claim: bool = True,
        patient: bool = False,
    ) -> Outcome | None:
        """One send, then record what happened; None if another sweep has the message."""
        # Claim it first (a conditional write), so two sweeps never both send the same message;
        # if we die while sending, the claim lapses and a later sweep tries again.
        if claim:
            lease = timedelta(seconds=timeout * 3) + INLINE_GRACE  # patient sends may retry
            try:
                message = self._store.save_message(
                    replace(message, next_attempt_at=iso(now + lease))
                )
            except StoreConflict:
                return None
        outcome, updated = self._try(message, now, timeout, patient)
        try:
            self._store.save_message(updated)
        except StoreConflict:
            return None  # a concurrent sweep handled it
        return outcome

    def _try(
        self, message: OutboxMessage, now: datetime, timeout: float, patient: bool = False
    ) -> tuple[Outcome, OutboxMessage]:
        """One send; what happened, and the message as it is to be recorded (not written)."""
        unusable = self._unusable(message, now)
        if unusable and message.fallback_url:
            message = self._reroute(message, now, unusable)
        elif unusable:  # nowhere else to go (no webhook, no bot token)
            outcome = Outcome(delivered=False, permanent=True, error=unusable)
            return outcome, self._give_up(message, message.attempts + 1, outcome, "")
        outcome = self._send(message.url, message.payload, timeout, patient)
        attempts = message.attempts + 1
        if outcome.delivered:
            updated = replace(message, status="SENT", attempts=attempts, last_error="")
        elif outcome.permanent and message.fallback_url:
            updated = replace(self._reroute(message, now, outcome.error), attempts=attempts)
        elif outcome.permanent or now - parse_iso(message.created_at) >= self._max_age:
            why = _refused_by(message) if outcome.permanent else "too old"
            updated = self._give_up(message, attempts, outcome, why)
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
                **_about(message),
                error=outcome.error,
                retry_at=updated.next_attempt_at,
            )
        return outcome, updated

    def _give_up(
        self, message: OutboxMessage, attempts: int, outcome: Outcome, why: str
    ) -> OutboxMessage:
        """The message as given up, logged as an error and counted."""
        telemetry.event(
            "message.gave_up",
            logging.ERROR,
            **_about(message),
            attempts=attempts,
            why=why or outcome.error,
            error=outcome.error,
        )
        telemetry.metric("undelivered")
        return replace(message, status="GAVE_UP", attempts=attempts, last_error=outcome.error)

    def _reroute(self, message: OutboxMessage, now: datetime, why: str) -> OutboxMessage:
        """The same message, now addressed to its fallback and due at once."""
        telemetry.event(
            "message.rerouted",
            logging.WARNING,
            **_about(message),
            why=why,
        )
        return _to_fallback(message, now, why)


def _destination(message: OutboxMessage) -> str:
    """Where a message goes, as far as its order matters: a webhook or response_url, one
    person's direct messages, an event bus."""
    if message.url == CHAT_POST_MESSAGE:
        return f"{message.url}#{json.loads(message.payload).get('channel', '')}"
    return message.url


def _to_fallback(message: OutboxMessage, now: datetime, why: str) -> OutboxMessage:
    return replace(
        message,
        url=message.fallback_url or message.url,
        payload=message.fallback_payload or message.payload,
        fallback_url=None,
        fallback_payload=None,
        url_expires_at=None,
        last_error=why,
        next_attempt_at=iso(now),
    )
