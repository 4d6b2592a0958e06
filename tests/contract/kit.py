"""What the contract suite builds its requests and messages from."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from chalicelib.core.model import AccessRequest, State, iso, transition
from chalicelib.delivery.message import OutboxMessage

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
ROLE = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"
OTHER_ROLE = "arn:aws:iam::123456789012:role/AWSS3FULLACCESS"


def at(minutes: float) -> str:
    """An ISO time ``minutes`` after NOW."""
    return iso(NOW + timedelta(minutes=minutes))


def a_request(
    request_id: str = "0000000001", state: State = State.PENDING, **changes
) -> AccessRequest:
    """A request as a use case would hand it to the store (version 0: never stored)."""
    request = AccessRequest(
        id=request_id,
        role="ec2-admin",
        role_arn=ROLE,
        requester="U0ALICE",
        requester_name="alice",
        principal_arn="arn:aws:iam::123456789012:user/alice",
        duration_seconds=1800,
        reason="INC-42 <b>&",
        created_at=iso(NOW),
        approval_deadline=at(60),
        approvals_required=1,
    )
    request = transition(request, State.PENDING, "U0ALICE", "requested", NOW)
    return replace(request, state=state, **changes)


def moved(request: AccessRequest, to: State, **changes) -> AccessRequest:
    """``request`` changed as a use case changes it: a transition, with its audit entry."""
    return replace(transition(request, to, "U0BOB", to.value.lower(), NOW), **changes)


def a_message(message_id: str = "m1", request_id: str = "0000000001", **changes) -> OutboxMessage:
    message = OutboxMessage(
        id=message_id,
        url="http://127.0.0.1:9/x",
        payload='{"text": "hi"}',
        kind="requester.granted",
        request_id=request_id,
        created_at=iso(NOW),
        next_attempt_at=at(1),
    )
    return replace(message, **changes)
