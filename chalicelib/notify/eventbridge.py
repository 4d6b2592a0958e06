"""The EventBridge publisher: every lifecycle event as one PutEvents entry on the bus.

A subscriber of the notification port (notify/port.py), like the Slack notifier: it turns a
domain event into an outbox message (stored with the state change that caused it, sent by
the outbox, retried by the sweep), whose payload is the entry: ``Source`` "switchback",
``DetailType`` the event's name, ``Detail`` as docs/events.md describes it. The message's id is
the event's ``event_id``: the same on every retry, so a consumer can drop duplicates.
"""

from __future__ import annotations

import json
import uuid

from chalicelib.core import events
from chalicelib.core.events import Event, published_detail
from chalicelib.core.model import State, iso
from chalicelib.delivery.eventbridge import destination
from chalicelib.delivery.message import OutboxMessage
from chalicelib.delivery.outbox import INLINE_GRACE

SOURCE = "switchback"


class EventPublisher:
    def __init__(self, bus: str):
        self.bus = bus  # a name or an ARN, as PutEvents takes either

    def owes(self, event: Event) -> list[OutboxMessage]:
        """One entry per lifecycle event; nothing for what is said to people only (reminders).
        A flag that ends a break-glass grant is also its ``access.revoked``."""
        if event.name not in events.LIFECYCLE:
            return []
        names = [event.name]
        if event.name == events.FLAGGED and event.request.state is State.REVOKED:
            names.append(events.REVOKED)
        return [self._entry(event, name) for name in names]

    def _entry(self, event: Event, name: str) -> OutboxMessage:
        # An event announced once (an activity report) has one id however often it is tried.
        once = event.once and uuid.uuid5(uuid.NAMESPACE_URL, f"{event.once}/{name}").hex
        event_id = once or uuid.uuid4().hex
        request = event.request
        entry = {
            "Source": SOURCE,
            "DetailType": name,
            "Detail": json.dumps(published_detail(event, name, event_id)),
            "Resources": [request.role_arn if request else event.role_arn],
            "EventBusName": self.bus,
            "Time": iso(event.at),
        }
        return OutboxMessage(
            id=event_id,
            url=destination(self.bus),
            payload=json.dumps(entry),
            kind=f"event.{name}",
            request_id=request.id if request else "",
            created_at=iso(event.at),
            # Sent inline by the caller; the sweep only after a grace period, as Slack's.
            next_attempt_at=iso(event.at + INLINE_GRACE),
        )
