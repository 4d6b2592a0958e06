"""The grant step's last look (core/grantable.check_grantable): an APPROVED item is granted
only if its own record and the policies as they are now say it may be. A hand edit of the
table — no approvals, forged approvals, a 30-day end — is refused with a reason."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.core.catalog import Catalog, Person, RoleSpec
from chalicelib.core.decisions import approve
from chalicelib.core.grantable import check_grantable
from chalicelib.core.groups import GroupsUnavailable
from chalicelib.core.model import AccessRequest, State, iso, transition

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
ARN = "arn:aws:iam::123456789012:role/EC2"
ROLE = RoleSpec(
    name="ec2-admin",
    role_arn=ARN,
    description="",
    max_duration=timedelta(hours=4),
    default_duration=timedelta(hours=1),
    requesters=("*",),
    approvers=("U0BOB", "U0CAROL", "S0ONCALL"),
    approvals_required=1,
    break_glass=True,
    break_glass_max=timedelta(hours=1),
    break_glass_requesters=("U0ALICE",),
)
PEOPLE = {
    u: Person(u, u[2:].lower(), f"arn:aws:iam::123456789012:user/{u[2:].lower()}")
    for u in ("U0ALICE", "U0BOB", "U0CAROL", "U0DAVE")
}
CATALOG = Catalog(people=PEOPLE, roles={"ec2-admin": ROLE})


def pending(duration: timedelta = timedelta(hours=1), requester: str = "U0ALICE"):
    made = AccessRequest(
        id="REQ0000001",
        role="ec2-admin",
        role_arn=ARN,
        requester=requester,
        requester_name=PEOPLE[requester].name,
        principal_arn=PEOPLE[requester].aws,
        duration_seconds=int(duration.total_seconds()),
        reason="INC-1",
        created_at=iso(NOW),
        approval_deadline=iso(NOW + timedelta(hours=1)),
        approvals_required=1,
    )
    return transition(made, State.PENDING, requester, "requested", NOW)


def approved(duration: timedelta = timedelta(hours=1)) -> AccessRequest:
    return approve(pending(duration), "U0BOB", NOW, ROLE)


def break_glass(duration: timedelta = timedelta(minutes=30)) -> AccessRequest:
    made = replace(pending(duration), break_glass=True, audit=())
    made = transition(made, State.PENDING, "U0ALICE", "break-glass", NOW, detail="INC-1")
    return transition(
        made, State.APPROVED, "U0ALICE", "taken without approval", NOW, ends_at=iso(NOW + duration)
    )


def test_a_request_approved_by_the_rules_is_grantable() -> None:
    assert approved().state is State.APPROVED
    assert check_grantable(approved(), CATALOG, NOW + timedelta(seconds=2)) is None
    assert check_grantable(break_glass(), CATALOG, NOW) is None


def hand_marked(**changes) -> AccessRequest:
    """An item set to APPROVED by a hand edit of the table, not by an approval."""
    item = pending()
    return replace(item, state=State.APPROVED, ends_at=iso(NOW + timedelta(hours=1)), **changes)


@pytest.mark.parametrize(
    "item, words",
    [
        (hand_marked(), "0 of the 1 approvals"),
        (hand_marked(approvals=("U0BOB",)), "0 of the 1 approvals"),  # not on record
        (replace(approved(), approvals=()), "0 of the 1 approvals"),
        (replace(approved(), ends_at=iso(NOW + timedelta(days=30))), "is later than"),
        (
            replace(
                approved(),
                duration_seconds=30 * 86400,
                ends_at=iso(NOW + timedelta(days=30)),
            ),
            "over the 4h",
        ),
        (replace(approved(), principal_arn="arn:aws:iam::123456789012:user/mallory"), "IAM user"),
        (replace(approved(), role_arn="arn:aws:iam::123456789012:role/Other"), "no longer"),
        (replace(approved(), extends="REQ0000000"), "extension"),
        (replace(approved(), ends_at=None), "no end"),
        (replace(break_glass(), audit=break_glass().audit[1:]), "no break-glass request"),
        (break_glass(timedelta(hours=2)), "over the 1h"),
    ],
)
def test_hand_edits_are_refused_with_a_reason(item: AccessRequest, words: str) -> None:
    reason = check_grantable(item, CATALOG, NOW)
    assert reason is not None and words in reason, reason


def test_the_policies_as_they_are_now_decide() -> None:
    item = approved()
    stricter = replace(ROLE, approvals_required=2)
    assert "1 of the 2" in check_grantable(
        item, replace(CATALOG, roles={"ec2-admin": stricter}), NOW
    )
    bob_gone = replace(ROLE, approvers=("U0CAROL",))
    assert check_grantable(item, replace(CATALOG, roles={"ec2-admin": bob_gone}), NOW)
    shorter = replace(ROLE, max_duration=timedelta(minutes=30))
    assert "over the 30m" in check_grantable(
        item, replace(CATALOG, roles={"ec2-admin": shorter}), NOW
    )
    closed = replace(ROLE, requesters=("U0DAVE",))
    assert "may not request" in check_grantable(
        item, replace(CATALOG, roles={"ec2-admin": closed}), NOW
    )
    people = {k: v for k, v in PEOPLE.items() if k != "U0ALICE"}
    assert "people.toml" in check_grantable(item, replace(CATALOG, people=people), NOW)
    no_glass = replace(ROLE, break_glass=False)
    assert "no longer allows" in check_grantable(
        break_glass(), replace(CATALOG, roles={"ec2-admin": no_glass}), NOW
    )
    not_listed = replace(ROLE, break_glass_requesters=("U0DAVE",))
    assert "break-glass" in check_grantable(
        break_glass(), replace(CATALOG, roles={"ec2-admin": not_listed}), NOW
    )


def test_approvals_count_through_groups_asked_now() -> None:
    item = approve(pending(), "U0DAVE", NOW, ROLE, members=lambda g: ("U0DAVE",))
    assert item.state is State.APPROVED
    assert check_grantable(item, CATALOG, NOW, members=lambda g: ("U0DAVE",)) is None
    assert check_grantable(item, CATALOG, NOW, members=lambda g: ()) is not None

    def unreachable(group: str):
        raise GroupsUnavailable("Slack is down")

    with pytest.raises(GroupsUnavailable):
        check_grantable(item, CATALOG, NOW, members=unreachable)


def test_the_requester_never_counts_even_on_record() -> None:
    item = approved()
    own = transition(replace(item, state=State.PENDING), State.APPROVED, "U0ALICE", "approved", NOW)
    assert "0 of the 1" in check_grantable(replace(own, approvals=("U0ALICE",)), CATALOG, NOW)


@settings(max_examples=200, deadline=None)
@given(
    minutes=st.integers(1, 600),
    end_shift=st.integers(-600, 600 * 60),
    later=st.integers(0, 600),
)
def test_a_window_is_granted_only_within_the_roles_limits(minutes, end_shift, later) -> None:
    item = approved(timedelta(minutes=minutes))
    item = replace(item, ends_at=iso(item.ends() + timedelta(seconds=end_shift)))
    reason = check_grantable(item, CATALOG, NOW + timedelta(seconds=later))
    within = minutes <= 240 and end_shift <= 5
    assert (reason is None) == within, (minutes, end_shift, reason)


def test_a_scheduled_window_is_grantable_from_its_start() -> None:
    """Approved days ahead for a 4-hour window, moved to APPROVED by the sweep a minute before
    its start: its end is its start plus its duration, not its approval's."""
    start = NOW + timedelta(days=2)
    asked = replace(pending(timedelta(hours=4)), starts_at=iso(start))
    scheduled = approve(asked, "U0BOB", NOW, ROLE)
    assert scheduled.state is State.SCHEDULED
    lead = start - timedelta(minutes=1)
    due = transition(scheduled, State.APPROVED, "switchback", "started", lead)
    assert check_grantable(due, CATALOG, lead) is None
    assert "is later than" in check_grantable(
        replace(due, ends_at=iso(start + timedelta(hours=5))), CATALOG, lead
    )
