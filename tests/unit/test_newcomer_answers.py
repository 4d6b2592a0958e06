"""What a new user is told (pure text and rules): the pending answer's duration, `extend`'s
approvers and end, the "ends soon" reminder's `extend` hint, who may request a role, where
break-glass is available, break-glass grants waiting for review, a flagged grant, one pending
extension per grant, a capped extension, and past requests for the operator CLI."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.core import history
from chalicelib.core.breakglass import awaiting_review, needs_review
from chalicelib.core.catalog import Catalog, Person, RoleSpec
from chalicelib.core.decisions import Refusal, Refused, break_glass_roles, check_request
from chalicelib.core.extensions import check_no_pending_extension, plan_extension
from chalicelib.core.model import AccessRequest, State, iso
from chalicelib.core.refusal_texts import not_a_requester
from chalicelib.notify import messages

NOW = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)


def person(slack_id: str, name: str) -> Person:
    return Person(slack_id, name, f"arn:aws:iam::123456789012:user/{name}")


PEOPLE = {
    p.slack_id: p for p in map(person, ["U0ALICE", "U0BOB", "U0CAROL"], ["alice", "bob", "carol"])
}
EC2 = RoleSpec(
    name="ec2-admin",
    role_arn="arn:aws:iam::123456789012:role/AWSEC2FULLACCESS",
    description="Full EC2 access",
    max_duration=timedelta(hours=4),
    default_duration=timedelta(hours=1),
    requesters=("*",),
    approvers=("U0BOB", "U0CAROL"),
    break_glass=True,
)
BILLING = replace(
    EC2,
    name="billing",
    role_arn="arn:aws:iam::123456789012:role/BILLING",
    requesters=("U0CAROL", "S0FINANCE"),
    approvers=("U0BOB",),
    break_glass=False,
)
CATALOG = Catalog(people=PEOPLE, roles={"ec2-admin": EC2, "billing": BILLING})


def request(**changes) -> AccessRequest:
    base = AccessRequest(
        id="7QK2M9TX4B",
        role="ec2-admin",
        role_arn=EC2.role_arn,
        requester="U0ALICE",
        requester_name="alice",
        principal_arn="arn:aws:iam::123456789012:user/alice",
        duration_seconds=3600,
        reason="INC-42 resize",
        created_at=iso(NOW),
        approval_deadline=iso(NOW + timedelta(hours=1)),
        approvals_required=1,
    )
    return replace(base, **changes)


# -- the pending answer ----------------------------------------------------------------------
def test_pending_answer_says_the_default_duration_is_the_roles_default() -> None:
    text = messages.request_pending(request(), EC2, None, "U0ALICE")
    assert "Request `7QK2M9TX4B` for `ec2-admin` for 1h, the role's default" in text
    assert "`/access request ec2-admin 2h …`" in text
    assert "1 approval needed from: <@U0BOB>, <@U0CAROL>." in text


def test_pending_answer_echoes_an_asked_duration() -> None:
    text = messages.request_pending(request(duration_seconds=7200), EC2, timedelta(hours=2), "U0A")
    assert "for `ec2-admin` for 2h is pending" in text and "default" not in text


def test_pending_answer_never_names_the_requester_as_approver() -> None:
    text = messages.request_pending(request(requester="U0BOB"), EC2, None, "U0BOB")
    assert "<@U0BOB>" not in text and "<@U0CAROL>" in text


# -- extend: who it waits for, the end, capped ------------------------------------------------
def grant(**changes) -> AccessRequest:
    return request(
        id="8QK2M9TX4B",
        state=State.ACTIVE,
        ends_at=iso(NOW + timedelta(hours=3, minutes=28)),
        **changes,
    )


def extension(by: timedelta) -> AccessRequest:
    return request(id="9QK2M9TX4B", extends="8QK2M9TX4B", duration_seconds=int(by.total_seconds()))


def test_extend_answer_names_the_approvers_and_the_end_if_approved_now() -> None:
    g = replace(grant(), ends_at=iso(NOW + timedelta(minutes=30)))
    text = messages.extension_pending(extension(timedelta(hours=1)), g, EC2, NOW)
    assert "1 approval needed from: <@U0BOB>, <@U0CAROL>." in text
    assert "goes on until 2026-11-28 10:30:00 UTC meanwhile" in text
    # the current end moved 1h later, not 1h after the approval
    assert "Approved now, it ends at 2026-11-28 11:30:00 UTC, 1h later." in text


def test_a_capped_extension_says_so() -> None:
    # ends 3h28m from now; 3h more would pass 4h from the approval: 32m only
    text = messages.extension_pending(extension(timedelta(hours=3)), grant(), EC2, NOW)
    assert (
        "ends at 2026-11-28 14:00:00 UTC, 32m later (3h asked; `ec2-admin` allows 4h at most"
        in text
    )
    told = messages.requester_extended(
        replace(grant(), ends_at=iso(NOW + timedelta(hours=4))),
        timedelta(minutes=32),
        timedelta(hours=3),
        EC2,
        "U0BOB",
    )
    assert "extended by <@U0BOB> by 32m (3h asked; `ec2-admin` allows 4h at most" in told


def test_an_extension_that_would_add_nothing_says_so() -> None:
    g = replace(grant(), ends_at=iso(NOW + timedelta(hours=4)))
    text = messages.extension_pending(extension(timedelta(hours=1)), g, EC2, NOW)
    assert "Approved now it would add nothing" in text


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 4 * 3600),  # the grant's end, seconds from now
    st.integers(60, 4 * 3600),  # asked
    st.integers(0, 3600),  # approval this long from now
)
def test_plan_extension_moves_the_end_from_the_current_end_capped_from_the_approval(
    left, by, later
) -> None:
    end, asked, at = (
        NOW + timedelta(seconds=left),
        timedelta(seconds=by),
        NOW + timedelta(seconds=later),
    )
    plan = plan_extension(end, asked, at, EC2.max_duration)
    if plan.new_end is None:
        assert end >= at + EC2.max_duration and plan.added == timedelta(0)
        return
    assert plan.new_end == min(end + asked, at + EC2.max_duration)
    assert plan.added == plan.new_end - end and plan.capped == (plan.added < asked)
    assert plan.cut_by == asked - plan.added


def test_one_pending_extension_per_grant() -> None:
    first = extension(timedelta(hours=1))
    with pytest.raises(Refused) as refused:
        check_no_pending_extension(grant(), [first], NOW)
    assert refused.value.reason is Refusal.EXTENSION_PENDING
    assert "Extension 9QK2M9TX4B of 8QK2M9TX4B (by 1h) is already waiting" in str(refused.value)
    # decided, lapsed, or of another grant: a new one may be asked
    check_no_pending_extension(grant(), [replace(first, state=State.DENIED)], NOW)
    check_no_pending_extension(grant(), [first], NOW + timedelta(hours=2))
    check_no_pending_extension(grant(), [replace(first, extends="0000000000")], NOW)


# -- the "ends soon" reminder ------------------------------------------------------------------
def test_the_ends_soon_reminder_suggests_extend() -> None:
    g = replace(grant(), ends_at=iso(NOW + timedelta(minutes=10)))
    text = messages.requester_reminder(g, NOW)
    assert "`/access extend 8QK2M9TX4B <duration> <reason>`" in text
    assert "`/access extend 8QK2M9TX4B 1h still resizing`" in text


# -- who may request a role --------------------------------------------------------------------
def test_a_requester_not_allowed_is_told_who_may_and_whom_to_ask() -> None:
    with pytest.raises(Refused) as refused:
        check_request(CATALOG, "U0ALICE", "billing", None, "audit", lambda group: frozenset())
    assert refused.value.reason is Refusal.NOT_A_REQUESTER
    assert refused.value.message == (
        "You may not request billing. It is for carol, members of the Slack user group "
        "S0FINANCE. To be added, ask its approvers (bob) or the platform team (requesters in "
        "roles/billing.toml)."
    )


def test_break_glass_refusal_names_the_break_glass_requesters() -> None:
    role = replace(EC2, break_glass_requesters=("U0CAROL",))
    text = not_a_requester(replace(CATALOG, roles={"ec2-admin": role}), role, break_glass=True)
    assert text.startswith("You may not use break-glass on ec2-admin. It is for carol.")
    assert "break_glass_requesters in roles/ec2-admin.toml" in text


def test_many_requesters_are_counted_not_listed() -> None:
    many = {f"U0P{i}": person(f"U0P{i}", f"p{i}") for i in range(9)}
    role = replace(BILLING, requesters=tuple(many))
    text = not_a_requester(replace(CATALOG, people={**PEOPLE, **many}), role)
    assert "It is for p0, p1, p2, p3, p4 and 4 more." in text


# -- where break-glass is available -----------------------------------------------------------
def test_roles_says_where_break_glass_is_available() -> None:
    lines = messages.roles_answer([BILLING, EC2], {})
    assert "break-glass" not in lines[1]
    assert lines[2].endswith(
        " · break-glass for emergencies: `/access breakglass ec2-admin <reason>`, granted at "
        "once for up to 1h, reviewed afterwards"
    )


def test_roles_shows_break_glass_only_to_those_who_may_use_it() -> None:
    only_carol = replace(EC2, break_glass_requesters=("U0CAROL",))
    catalog = replace(CATALOG, roles={"ec2-admin": only_carol})
    assert "break-glass" not in messages.roles_answer([only_carol], {})[1]  # not known: not shown
    alice = {r.name for r in break_glass_roles(catalog, "U0ALICE")}
    carol = {r.name for r in break_glass_roles(catalog, "U0CAROL")}
    assert alice == set() and carol == {"ec2-admin"}
    assert "breakglass ec2-admin" in messages.roles_answer([only_carol], {}, carol)[1]


# -- break-glass grants waiting for review, and a flagged one ----------------------------------
def test_an_approvers_list_shows_break_glass_grants_waiting_for_review() -> None:
    taken = request(break_glass=True, state=State.ACTIVE, ends_at=iso(NOW + timedelta(hours=1)))
    reviewed = replace(taken, id="AQK2M9TX4B", review="acknowledged", reviewed_by="U0CAROL")
    plain = replace(taken, id="BQK2M9TX4B", break_glass=False)
    expired = replace(taken, id="CQK2M9TX4B", state=State.EXPIRED)
    everything = [taken, reviewed, plain, expired]
    assert [needs_review(r) for r in everything] == [True, False, False, True]
    waiting = awaiting_review(CATALOG, everything, "U0BOB")
    assert [r.id for r in waiting] == ["7QK2M9TX4B", "CQK2M9TX4B"]
    assert awaiting_review(CATALOG, everything, "U0ALICE") == []  # their own, and no approver
    lines = messages.list_answer([], [], NOW, waiting, "https://sb.example")
    assert lines[-3] == "*Break-glass grants waiting for your review:*"
    assert lines[-2].startswith("• `7QK2M9TX4B` alice → `ec2-admin` 1h, active, taken 2026-11-28")
    assert lines[-2].endswith("<https://sb.example/requests/7QK2M9TX4B|acknowledge or flag>")


def test_a_flagged_grant_tells_the_requester_it_is_revoked_and_why() -> None:
    text = messages.requester_flagged(request(break_glass=True), "U0BOB", "not an emergency")
    assert "flagged by <@U0BOB>: not an emergency." in text
    assert "Your access is revoked" in text and "sessions on the role end now" in text
    ended = messages.requester_flagged(request(break_glass=True), "U0BOB", was_active=False)
    assert "It had already ended" in ended and "revoked" not in ended


# -- past requests for `tools.admin list --all` -------------------------------------------------
def test_history_selects_by_role_and_since_oldest_first() -> None:
    old = request(id="1QK2M9TX4B", created_at=iso(NOW - timedelta(days=40)), state=State.EXPIRED)
    new = request(id="2QK2M9TX4B", created_at=iso(NOW - timedelta(days=2)), state=State.DENIED)
    other = request(id="3QK2M9TX4B", role="billing", created_at=iso(NOW - timedelta(days=1)))
    since = history.since_moment("30d", NOW)
    assert since == "2026-10-29T10:00:00Z"
    assert history.select([other, new, old]) == [old, new, other]
    assert history.select([other, new, old], role="ec2-admin", since=since) == [new]
    assert history.since_moment(None, NOW) is None


def test_history_csv_quotes_and_defuses_user_text() -> None:
    text = history.to_csv([request(reason='=HYPERLINK("x"), and\nmore', approvals=("U0BOB",))])
    header, row = text.split("\n", 1)
    assert header.split(",") == list(history.CSV_COLUMNS)
    assert row.startswith("7QK2M9TX4B,ec2-admin,U0ALICE,alice,")
    assert row.endswith(',1h,2026-11-28T10:00:00Z,,U0BOB,,"\'=HYPERLINK(""x""), and\nmore"\n')
