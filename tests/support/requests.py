"""Requests as the use cases hand them to the core, for pure-core tests: alice asks for
ec2-admin at NOW; each test changes what it is about."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from chalicelib.core.model import AccessRequest, State, iso, transition

NOW = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)
ROLE_ARN = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"


def iam_user(user: str) -> str:
    return f"arn:aws:iam::123456789012:user/{user}"


def a_request(**changes) -> AccessRequest:
    """alice's request for ec2-admin, made at NOW, for an hour, with ``changes``."""
    made = AccessRequest(
        id="7QK2M9TX4B",
        role="ec2-admin",
        role_arn=ROLE_ARN,
        requester="U0ALICE",
        requester_name="alice",
        principal_arn=iam_user("alice"),
        duration_seconds=3600,
        reason="INC-42 resize the ASG",
        created_at=iso(NOW),
        approval_deadline=iso(NOW + timedelta(hours=1)),
        approvals_required=1,
    )
    return replace(made, **changes)


def approved(request_id: str, user: str, approved_at: datetime, minutes: int) -> AccessRequest:
    """``user``'s request, asked for and approved at ``approved_at``, for ``minutes``."""
    made = a_request(
        id=request_id,
        requester=f"U0{user.upper()}",
        requester_name=user,
        principal_arn=iam_user(user),
        duration_seconds=minutes * 60,
        reason="INC-1",
        created_at=iso(approved_at),
        approval_deadline=iso(approved_at + timedelta(hours=1)),
        ends_at=iso(approved_at + timedelta(minutes=minutes)),
    )
    made = transition(made, State.PENDING, made.requester, "requested", approved_at)
    return transition(made, State.APPROVED, "U0BOB", "approved", approved_at)
