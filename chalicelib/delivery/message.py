"""An outbox message: something owed to someone outside (a Slack post, an EventBridge entry),
stored with the state change that owes it and sent afterwards by the outbox (outbox.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class OutboxMessage:
    id: str
    url: str
    payload: str  # JSON text, exactly what is POSTed
    kind: str
    request_id: str
    created_at: str
    next_attempt_at: str
    attempts: int = 0
    status: str = "PENDING"  # PENDING, SENT, GAVE_UP
    last_error: str = ""
    version: int = 0
    # Where to send it instead if ``url`` refuses it for good or is past ``url_expires_at``
    # (a response_url lives 30 minutes): the approvers' channel or a direct message.
    fallback_url: str | None = None
    fallback_payload: str | None = None
    url_expires_at: str | None = None


def as_added(message: OutboxMessage) -> OutboxMessage:
    """A new message as the store holds it once written."""
    return replace(message, version=1)
