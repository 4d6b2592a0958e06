"""Pure rules of extensions and break-glass reviews."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.core.breakglass import ACKNOWLEDGED, FLAGGED, check_reviewer, reviewed
from chalicelib.core.catalog import Catalog, Person, RoleSpec
from chalicelib.core.decisions import Refusal, Refused
from chalicelib.core.extensions import check_extension, extended, extended_end
from chalicelib.core.model import AccessRequest, State, iso

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
ROLE = RoleSpec(
    name="ec2-admin",
    role_arn="arn:aws:iam::123456789012:role/EC2",
    description="",
    max_duration=timedelta(hours=4),
    default_duration=timedelta(hours=1),
    requesters=("*",),
    approvers=("U0BOB", "S0ONCALL"),
    break_glass=True,
)
CATALOG = Catalog(
    people={
        u: Person(u, u.lower(), f"arn:aws:iam::123456789012:user/{u.lower()}")
        for u in ("U0ALICE", "U0BOB", "U0CAROL", "U0DAVE")
    },
    roles={"ec2-admin": ROLE},
)
GRANT = AccessRequest(
    id="GRANT00001",
    role="ec2-admin",
    role_arn=ROLE.role_arn,
    requester="U0ALICE",
    requester_name="alice",
    principal_arn="arn:aws:iam::123456789012:user/u0alice",
    duration_seconds=3600,
    reason="INC-1",
    created_at=iso(NOW - timedelta(minutes=30)),
    approval_deadline=iso(NOW),
    approvals_required=1,
    state=State.ACTIVE,
    ends_at=iso(NOW + timedelta(minutes=30)),
)
ONCALL = {"S0ONCALL": frozenset({"U0CAROL"})}.__getitem__


@given(
    left=st.integers(1, 12 * 3600),
    by=st.integers(60, 12 * 3600),
    longest=st.integers(60, 12 * 3600),
)
def test_an_extension_never_shortens_and_never_passes_max_duration_from_now(
    left: int, by: int, longest: int
) -> None:
    end = NOW + timedelta(seconds=left)
    new = extended_end(end, timedelta(seconds=by), NOW, timedelta(seconds=longest))
    if new is None:
        assert end >= NOW + timedelta(seconds=longest)  # already as far as it may go
    else:
        assert end < new <= end + timedelta(seconds=by)
        assert new <= NOW + timedelta(seconds=longest)


def test_extending_keeps_the_start_and_records_the_extension() -> None:
    ext = replace(GRANT, id="EXT0000001", extends=GRANT.id, approvals=("U0BOB",))
    moved = extended(GRANT, ext, NOW + timedelta(hours=1), NOW)
    assert moved.ends_at == iso(NOW + timedelta(hours=1)) and moved.extensions == (ext.id,)
    assert moved.ends() - moved.duration == GRANT.ends() - GRANT.duration  # same start
    assert moved.audit[-1].action == "extended" and moved.audit[-1].actor == "U0BOB"
    with pytest.raises(AssertionError):
        extended(GRANT, ext, GRANT.ends(), NOW)


@pytest.mark.parametrize(
    "grant, user, by, reason",
    [
        (GRANT, "U0BOB", timedelta(hours=1), Refusal.NOT_A_REQUESTER),
        (replace(GRANT, state=State.EXPIRED), "U0ALICE", timedelta(hours=1), Refusal.NOT_PENDING),
        (GRANT, "U0ALICE", timedelta(hours=5), Refusal.DURATION_TOO_LONG),
        (GRANT, "U0ALICE", timedelta(seconds=30), Refusal.DURATION_TOO_SHORT),
        (None, "U0ALICE", timedelta(hours=1), Refusal.NOT_PENDING),
    ],
)
def test_who_may_ask_to_extend(grant, user, by, reason) -> None:
    with pytest.raises(Refused) as refused:
        check_extension(CATALOG, grant, user, by, NOW, ONCALL)
    assert refused.value.reason is reason
    assert check_extension(CATALOG, GRANT, "U0ALICE", timedelta(hours=1), NOW, ONCALL) is ROLE


def test_who_may_review_a_break_glass_grant() -> None:
    glass = replace(GRANT, break_glass=True)
    assert check_reviewer(CATALOG, glass, "U0CAROL", ONCALL) is ROLE  # through the group
    for actor, reason in [
        ("U0ALICE", Refusal.OWN_REQUEST),
        ("U0DAVE", Refusal.NOT_AN_APPROVER),
        ("U0STRANGER", Refusal.NOT_AN_APPROVER),
    ]:
        with pytest.raises(Refused) as refused:
            check_reviewer(CATALOG, glass, actor, ONCALL)
        assert refused.value.reason is reason
    with pytest.raises(Refused) as refused:
        check_reviewer(CATALOG, GRANT, "U0BOB", ONCALL)
    assert refused.value.reason is Refusal.NOT_BREAK_GLASS
    # an approver who broke the glass is never the one who reviews it
    own = replace(glass, requester="U0BOB", requester_name="bob")
    with pytest.raises(Refused) as refused:
        check_reviewer(CATALOG, own, "U0BOB", ONCALL)
    assert refused.value.reason is Refusal.OWN_REQUEST
    done = reviewed(glass, "U0BOB", ACKNOWLEDGED, NOW)
    assert done.state is State.ACTIVE and done.review == ACKNOWLEDGED
    with pytest.raises(Refused) as refused:
        check_reviewer(CATALOG, done, "U0CAROL", ONCALL)
    assert refused.value.reason is Refusal.ALREADY_REVIEWED
    flagged = reviewed(glass, "U0BOB", FLAGGED, NOW, "no incident")
    assert flagged.state is State.REVOKED and flagged.review == FLAGGED
    ended = reviewed(replace(glass, state=State.EXPIRED), "U0BOB", FLAGGED, NOW)
    assert ended.state is State.EXPIRED and ended.review == FLAGGED
