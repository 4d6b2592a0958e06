"""Who may ask, who may decide, and the request lifecycle (one transitions table)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.core.catalog import Catalog, Person, RoleSpec
from chalicelib.core.decisions import (
    Refusal,
    Refused,
    approve,
    check_decider,
    check_request,
    deny,
    may_request,
    requestable_roles,
)
from chalicelib.core.model import (
    FINAL_STATES,
    TRANSITIONS,
    AuditEntry,
    State,
    TransitionError,
    is_request_id,
    iso,
    new_request_id,
    normalise_request_id,
    transition,
)
from tests.support.requests import NOW, ROLE_ARN
from tests.support.requests import a_request as request


def person(slack_id: str, name: str) -> Person:
    return Person(slack_id=slack_id, name=name, aws=f"arn:aws:iam::123456789012:user/{name}")


PEOPLE = {
    p.slack_id: p
    for p in (
        person("U0ALICE", "alice"),
        person("U0BOB", "bob"),
        person("U0CAROL", "carol"),
        person("U0DAVE", "dave"),
    )
}


def role(**changes) -> RoleSpec:
    base = RoleSpec(
        name="ec2-admin",
        role_arn=ROLE_ARN,
        description="Full EC2 access",
        max_duration=timedelta(hours=4),
        default_duration=timedelta(hours=1),
        requesters=("*",),
        approvers=("U0BOB", "U0CAROL"),
    )
    return replace(base, **changes)


def catalog(*roles: RoleSpec, people: dict | None = None) -> Catalog:
    return Catalog(
        people=dict(PEOPLE if people is None else people),
        roles={r.name: r for r in (roles or (role(),))},
    )


def refusal(call, *args) -> Refused:
    with pytest.raises(Refused) as raised:
        call(*args)
    assert str(raised.value) == raised.value.message and raised.value.message
    return raised.value


# -- check_request ----------------------------------------------------------------------------


def test_request_ok_with_default_and_explicit_duration():
    spec, duration = check_request(catalog(), "U0ALICE", "ec2-admin", None, "INC-42")
    assert spec.name == "ec2-admin" and duration == timedelta(hours=1)
    _, duration = check_request(catalog(), "U0ALICE", "ec2-admin", timedelta(hours=4), "x")
    assert duration == timedelta(hours=4)
    _, duration = check_request(catalog(), "U0ALICE", "ec2-admin", timedelta(minutes=1), "x")
    assert duration == timedelta(minutes=1)


def test_request_refusals():
    c = catalog(role(requesters=("U0BOB",)), replace(role(), name="other", role_arn=ROLE_ARN + "2"))
    cases = [
        (("U0NOBODY", "ec2-admin", None, "x"), Refusal.UNKNOWN_PERSON),
        (("U0ALICE", "s3-admin", None, "x"), Refusal.UNKNOWN_ROLE),
        (("U0ALICE", "ec2-admin", None, "x"), Refusal.NOT_A_REQUESTER),
        (("U0ALICE", "other", timedelta(seconds=59), "x"), Refusal.DURATION_TOO_SHORT),
        (("U0ALICE", "other", timedelta(hours=4, seconds=1), "x"), Refusal.DURATION_TOO_LONG),
        (("U0ALICE", "other", None, ""), Refusal.REASON_MISSING),
        (("U0ALICE", "other", None, "  \t "), Refusal.REASON_MISSING),
    ]
    for args, expected in cases:
        assert refusal(check_request, c, *args).reason is expected, args


def test_request_refusal_messages_help():
    assert "4h at most" in refusal(
        check_request, catalog(), "U0ALICE", "ec2-admin", timedelta(hours=5), "x"
    ).message.replace("(", "").replace(")", "")
    assert "s3-admin" in refusal(check_request, catalog(), "U0ALICE", "s3-admin", None, "x").message


def test_reason_pattern():
    c = catalog(role(reason_pattern=r"\bINC-\d+\b"))
    check_request(c, "U0ALICE", "ec2-admin", None, "fix for INC-42 now")
    refused = refusal(check_request, c, "U0ALICE", "ec2-admin", None, "just because")
    assert refused.reason is Refusal.REASON_PATTERN
    assert r"\bINC-\d+\b" in refused.message


def test_requesters_star_means_everyone_in_people():
    c = catalog()
    assert all(may_request(c, p, c.role("ec2-admin")) for p in PEOPLE)
    assert not may_request(c, "U0NOBODY", c.role("ec2-admin"))


def test_requestable_roles_sorted_and_filtered():
    zeta = replace(role(), name="zeta", role_arn=ROLE_ARN + "Z")
    alpha = replace(role(requesters=("U0BOB",)), name="alpha", role_arn=ROLE_ARN + "A")
    c = catalog(zeta, alpha)
    assert [r.name for r in requestable_roles(c, "U0BOB")] == ["alpha", "zeta"]
    assert [r.name for r in requestable_roles(c, "U0ALICE")] == ["zeta"]
    assert requestable_roles(c, "U0NOBODY") == []


# -- check_decider ----------------------------------------------------------------------------


def test_decider_ok_returns_the_role():
    assert check_decider(catalog(), request(), "U0BOB", NOW).name == "ec2-admin"


def test_decider_refusals():
    c = catalog()
    cases = [
        (request(), "U0DAVE", Refusal.NOT_AN_APPROVER),
        (request(), "U0NOBODY", Refusal.NOT_AN_APPROVER),
        (
            request(requester="U0BOB", principal_arn=PEOPLE["U0BOB"].aws),
            "U0BOB",
            Refusal.OWN_REQUEST,
        ),
        (
            request(approvals_required=2, approvals=("U0BOB",)),
            "U0BOB",
            Refusal.ALREADY_DECIDED,
        ),
        (request(state=State.APPROVED), "U0BOB", Refusal.NOT_PENDING),
        (request(state=State.DENIED), "U0BOB", Refusal.NOT_PENDING),
        (request(state=State.ACTIVE), "U0BOB", Refusal.NOT_PENDING),
        (request(role="gone"), "U0BOB", Refusal.UNKNOWN_ROLE),
        (request(role_arn=ROLE_ARN + "X"), "U0BOB", Refusal.UNKNOWN_ROLE),
    ]
    for req, approver, expected in cases:
        assert refusal(check_decider, c, req, approver, NOW).reason is expected, (req, approver)


def test_decider_past_deadline():
    deadline = NOW + timedelta(hours=1)
    check_decider(catalog(), request(), "U0BOB", deadline - timedelta(seconds=1))
    for at in (deadline, deadline + timedelta(days=1)):
        assert refusal(check_decider, catalog(), request(), "U0BOB", at).reason is (
            Refusal.PAST_DEADLINE
        )


def test_decider_rechecks_the_requester_against_current_policies():
    without_alice = {k: v for k, v in PEOPLE.items() if k != "U0ALICE"}
    moved_alice = dict(PEOPLE, U0ALICE=person("U0ALICE", "alice2"))
    for c in (
        catalog(people=without_alice),  # removed from people.toml
        catalog(role(requesters=("U0DAVE",))),  # no longer a requester
        catalog(people=moved_alice),  # her IAM user changed since she asked
    ):
        refused = refusal(check_decider, c, request(), "U0BOB", NOW)
        assert refused.reason is Refusal.REQUESTER_NOT_ELIGIBLE


def test_decider_rechecks_the_approver_against_current_policies():
    c = catalog(role(approvers=("U0CAROL",)))
    assert refusal(check_decider, c, request(), "U0BOB", NOW).reason is Refusal.NOT_AN_APPROVER
    without_bob = {k: v for k, v in PEOPLE.items() if k != "U0BOB"}
    c = catalog(people=without_bob)
    assert refusal(check_decider, c, request(), "U0BOB", NOW).reason is Refusal.NOT_AN_APPROVER


def test_decider_refuses_when_the_role_was_tightened_since_the_request():
    # max_duration lowered below what was asked
    c = catalog(role(max_duration=timedelta(minutes=30), default_duration=timedelta(minutes=30)))
    assert refusal(check_decider, c, request(), "U0BOB", NOW).reason is (Refusal.DURATION_TOO_LONG)
    # MFA now required: the request would be granted without the MFA condition
    c = catalog(role(require_mfa=True))
    assert refusal(check_decider, c, request(require_mfa=False), "U0BOB", NOW).reason is (
        Refusal.REQUESTER_NOT_ELIGIBLE
    )
    check_decider(c, request(require_mfa=True), "U0BOB", NOW)
    # loosening is fine
    check_decider(catalog(role(require_mfa=False)), request(require_mfa=True), "U0BOB", NOW)


# -- approve / deny ---------------------------------------------------------------------------


def test_single_approval_moves_to_approved():
    approved = approve(request(), "U0BOB", NOW)
    assert approved.state is State.APPROVED
    assert approved.approvals == ("U0BOB",)
    assert approved.ends_at == "2026-11-28T11:00:00Z"
    assert approved.audit[-1] == AuditEntry(
        at=iso(NOW), actor="U0BOB", action="approved", state=State.APPROVED
    )


def test_quorum_of_two():
    pending = request(approvals_required=2)
    first = approve(pending, "U0BOB", NOW)
    assert first.state is State.PENDING
    assert first.approvals == ("U0BOB",)
    assert first.ends_at is None
    assert first.audit[-1].action == "approval recorded"
    assert first.audit[-1].detail == "1 of 2"
    assert first.audit[-1].state is State.PENDING
    # bob cannot count twice, carol can approve
    assert refusal(check_decider, catalog(), first, "U0BOB", NOW).reason is (
        Refusal.ALREADY_DECIDED
    )
    later = NOW + timedelta(minutes=7)
    check_decider(catalog(), first, "U0CAROL", later)
    second = approve(first, "U0CAROL", later)
    assert second.state is State.APPROVED
    assert second.approvals == ("U0BOB", "U0CAROL")
    assert second.ends_at == iso(later + timedelta(hours=1))
    assert second.ends() == later + timedelta(hours=1)
    assert [e.action for e in second.audit] == ["approval recorded", "approved"]
    # and after that nobody decides any more
    assert refusal(check_decider, catalog(), second, "U0DAVE", later).reason is (
        Refusal.NOT_PENDING
    )
    with pytest.raises(TransitionError):
        approve(second, "U0DAVE", later)


def test_deny():
    denied = deny(request(), "U0CAROL", NOW, "  not during the freeze ")
    assert denied.state is State.DENIED
    assert denied.audit[-1] == AuditEntry(
        at=iso(NOW),
        actor="U0CAROL",
        action="denied",
        state=State.DENIED,
        detail="not during the freeze",
    )
    with pytest.raises(TransitionError):
        deny(denied, "U0BOB", NOW)


# -- the transitions table --------------------------------------------------------------------

states = st.sampled_from(list(State))


@settings(max_examples=200, deadline=None)
@given(states, states, st.text(max_size=20), st.integers(0, 10**8))
def test_transition_allowed_iff_in_table(start, to, detail, seconds):
    now = NOW + timedelta(seconds=seconds)
    before = request(state=start, audit=(AuditEntry("x", "y", "z", start),))
    if to in TRANSITIONS.get(start, frozenset()):
        after = transition(before, to, "U0BOB", "act", now, detail=detail, failure="f")
        assert after.state is to
        assert after.audit[:-1] == before.audit
        assert len(after.audit) == len(before.audit) + 1
        assert after.audit[-1] == AuditEntry(iso(now), "U0BOB", "act", to, detail)
        assert after.failure == "f"
        assert replace(after, state=start, audit=before.audit, failure=None) == before
    else:
        with pytest.raises(TransitionError) as raised:
            transition(before, to, "U0BOB", "act", now, detail=detail)
        assert start.value.lower() in str(raised.value) and to.value.lower() in str(raised.value)


def test_transitions_table_matches_the_design():
    assert {s: set(t) for s, t in TRANSITIONS.items()} == {
        State.PENDING: {
            State.PENDING,  # one more approval recorded
            State.APPROVED,
            State.SCHEDULED,  # approved ahead of its start
            State.DENIED,
            State.CANCELLED,
            State.LAPSED,
            State.EXTENDED,  # an extension, applied to its grant
            State.FAILED,  # an extension whose grant ended, or could not move later
        },
        State.APPROVED: {State.ACTIVE, State.FAILED},
        # a window that starts later: started, not eligible at its start, or called off
        State.SCHEDULED: {State.APPROVED, State.FAILED, State.CANCELLED},
        # a grant can become void under it: its role or IAM user deleted
        State.ACTIVE: {State.EXPIRED, State.REVOKED, State.FAILED},
    }
    assert FINAL_STATES == {
        State.EXPIRED,
        State.REVOKED,
        State.DENIED,
        State.CANCELLED,
        State.LAPSED,
        State.FAILED,
        State.EXTENDED,
    }


def test_audit_entry_round_trips():
    entry = AuditEntry(iso(NOW), "U0BOB", "approved", State.APPROVED, "ok")
    assert AuditEntry.from_dict(entry.to_dict()) == entry
    assert AuditEntry.from_dict({k: v for k, v in entry.to_dict().items() if k != "detail"}) == (
        replace(entry, detail="")
    )


def test_request_ids():
    for _ in range(50):
        rid = new_request_id()
        assert is_request_id(rid) and rid.isalnum() and rid == rid.upper()
    assert is_request_id(" 7qk2m9tx4b ")
    assert normalise_request_id(" 7qk2m9tx4b ") == "7QK2M9TX4B"
    for bad in ("7QK2M9TX4", "7QK2M9TX4BB", "7QK2M9TX4I", "7QK2M9TX4L", "7QK2M9TX4O", "7QK2M9TX4U"):
        assert not is_request_id(bad)


def test_request_properties():
    r = request(principal_arn="arn:aws:iam::123456789012:user/team/alice.b")
    assert r.session_name == "alice.b"
    assert r.sid == "Switchback7QK2M9TX4B"
    assert r.duration == timedelta(hours=1)
    assert r.ends() is None
    assert r.end_if_approved_at(NOW.replace(microsecond=5)) == NOW + timedelta(hours=1)


def test_a_request_that_can_no_longer_be_granted_can_still_be_denied():
    tightened = catalog(role(require_mfa=True))
    assert refusal(check_decider, tightened, request(), "U0BOB", NOW).reason is (
        Refusal.REQUESTER_NOT_ELIGIBLE
    )
    assert check_decider(tightened, request(), "U0BOB", NOW, approving=False).name == "ec2-admin"
    own = refusal(check_decider, tightened, request(), "U0ALICE", NOW, False)
    assert own.reason is Refusal.OWN_REQUEST
    outsider = refusal(check_decider, tightened, request(), "U0DAVE", NOW, False)
    assert outsider.reason is Refusal.NOT_AN_APPROVER


# -- quorum under any order of clicks ----------------------------------------------------------
CLICKERS = st.sampled_from(["U0ALICE", "U0BOB", "U0CAROL", "U0DAVE", "U0EVE", "U0NOBODY"])


@settings(max_examples=200, deadline=None)
@given(st.lists(CLICKERS, max_size=12), st.integers(1, 3))
def test_quorum_counts_distinct_listed_approvers_only(clicks, required):
    """Whatever the order and repeats of clicks, only distinct listed approvers other than the
    requester count, and the request is approved exactly when enough of them clicked."""
    people = {**PEOPLE, "U0EVE": person("U0EVE", "eve")}
    approvers = ("U0ALICE", "U0BOB", "U0CAROL", "U0EVE")  # alice lists herself: never counts
    c = catalog(role(approvers=approvers, approvals_required=required), people=people)
    current = request(approvals_required=required)
    for clicker in clicks:
        try:
            check_decider(c, current, clicker, NOW)
        except Refused:
            continue
        current = approve(current, clicker, NOW)
    eligible = list(dict.fromkeys(x for x in clicks if x in ("U0BOB", "U0CAROL", "U0EVE")))
    assert current.approvals == tuple(eligible[:required])
    assert (current.state is State.APPROVED) == (len(eligible) >= required)
    assert "U0ALICE" not in current.approvals


def test_may_revoke_only_an_active_grant_and_only_requester_or_approver():
    from chalicelib.core.decisions import may_revoke

    active = request(state=State.ACTIVE)
    assert may_revoke(catalog(), active, "U0ALICE")
    assert may_revoke(catalog(), active, "U0BOB")
    assert not may_revoke(catalog(), active, "U0DAVE")
    assert not may_revoke(catalog(role(approvers=("U0CAROL",))), active, "U0BOB")
    for state in State:
        if state is not State.ACTIVE:
            assert not may_revoke(catalog(), request(state=state), "U0ALICE")


# -- policy changes apply to requests in flight ----------------------------------------------------
def test_an_approval_counts_only_while_its_approver_still_approves():
    pending = request(approvals_required=2, approvals=("U0BOB",), state=State.PENDING)
    # bob was removed from the role's approvers since he approved
    now_role = role(approvers=("U0CAROL", "U0DAVE"), approvals_required=2)
    after = approve(pending, "U0CAROL", NOW, now_role)
    assert after.state is State.PENDING and after.audit[-1].detail == "1 of 2"


def test_approvals_are_counted_against_the_current_quorum():
    pending = request(approvals_required=2, state=State.PENDING)
    lowered = role(approvals_required=1)
    assert approve(pending, "U0BOB", NOW, lowered).state is State.APPROVED
    raised = role(approvals_required=2)
    single = request(approvals_required=1, state=State.PENDING)
    after = approve(single, "U0BOB", NOW, raised)
    assert after.state is State.PENDING and after.approvals_required == 2
