"""Planning one locked step on a role: both policies and the state changes (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib import session_limits
from chalicelib.model import AccessRequest, State, iso, transition
from chalicelib.roleplan import (
    USER_DELETED,
    WINDOW_OVER,
    RolePlan,
    RoleView,
    access_ended_at,
    grant_ids,
    grant_of,
    plan,
    plan_role_missing,
)
from chalicelib.trust import PLACEHOLDER, is_managed, minified, statement_for, statements

NOW = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)
ROLE_ARN = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"
ROLE_ID = "AROAEXAMPLEROLEID0001"
QUOTA = 2048
EC2 = {
    "Sid": "EC2Service",
    "Effect": "Allow",
    "Principal": {"Service": "ec2.amazonaws.com"},
    "Action": "sts:AssumeRole",
}
BASELINE = {"Version": "2012-10-17", "Statement": [EC2]}


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


PATHS = {
    State.APPROVED: [State.APPROVED],
    State.ACTIVE: [State.APPROVED, State.ACTIVE],
    State.EXPIRED: [State.APPROVED, State.ACTIVE, State.EXPIRED],
    State.REVOKED: [State.APPROVED, State.ACTIVE, State.REVOKED],
    State.FAILED: [State.APPROVED, State.FAILED],
}


def request(
    request_id: str,
    state: State,
    ends: datetime,
    user: str = "alice",
    role_arn: str = ROLE_ARN,
) -> AccessRequest:
    """A request that went through the lifecycle to ``state``; a revoke or failure happened a
    minute ago (or at its end, if that was earlier)."""
    made = AccessRequest(
        id=request_id,
        role="ec2-admin",
        role_arn=role_arn,
        requester=f"U0{user.upper()}",
        requester_name=user,
        principal_arn=f"arn:aws:iam::123456789012:user/{user}",
        duration_seconds=3600,
        reason="INC-1",
        created_at=iso(at(-120)),
        approval_deadline=iso(at(-60)),
        approvals_required=1,
        ends_at=iso(ends),
    )
    made = transition(made, State.PENDING, made.requester, "requested", at(-120))
    for step in PATHS[state]:
        moment = {State.EXPIRED: ends, State.REVOKED: min(ends, at(-1))}.get(step, at(-61))
        made = transition(made, step, "U0BOB", step.value.lower(), moment)
    return made


def view(trust: dict = BASELINE, limits: dict | None = None, max_session: int = 3600) -> RoleView:
    return RoleView(ROLE_ARN, ROLE_ID, trust, limits, timedelta(seconds=max_session))


def with_grants(*requests: AccessRequest, base: dict = BASELINE) -> dict:
    return dict(base, Statement=statements(base) + [statement_for(grant_of(r)) for r in requests])


def limits_for(cuts: dict[str, list[datetime]]) -> dict | None:
    return session_limits.document(None, cuts, ROLE_ID)


def applied(before: RoleView, planned: RolePlan) -> RoleView:
    return replace(before, trust=planned.trust, limits=planned.limits)


# -- granting ----------------------------------------------------------------------------------
def test_approved_grant_gets_its_statement_and_a_live_cut():
    grant = request("AAAAAAAAA1", State.APPROVED, at(60))
    planned = plan(view(), [grant], NOW, QUOTA)
    assert planned.activate == (grant,) and planned.added == ("AAAAAAAAA1",)
    assert planned.trust == with_grants(grant)
    assert session_limits.cuts_of(planned.limits) == {"alice": [at(60)]}
    assert not planned.fail and not planned.expire and not planned.drift


def test_mfa_roles_add_the_mfa_condition():
    grant = replace(request("AAAAAAAAA1", State.APPROVED, at(60)), require_mfa=True)
    [_, statement] = plan(view(), [grant], NOW, QUOTA).trust["Statement"]
    assert statement["Condition"]["Bool"] == {"aws:MultiFactorAuthPresent": "true"}


def test_a_second_overlapping_grant_extends_and_never_shortens():
    first = request("AAAAAAAAA1", State.ACTIVE, at(120))
    current = view(with_grants(first), limits_for({"alice": [at(120)]}))
    shorter = request("AAAAAAAAA2", State.APPROVED, at(30))
    planned = plan(current, [first, shorter], NOW, QUOTA)
    assert session_limits.cuts_of(planned.limits) == {"alice": [at(120)]}
    assert grant_ids(planned.trust) == {"AAAAAAAAA1", "AAAAAAAAA2"}
    longer = request("AAAAAAAAA3", State.APPROVED, at(180))
    planned = plan(current, [first, longer], NOW, QUOTA)
    assert session_limits.cuts_of(planned.limits) == {"alice": [at(180)]}


def test_a_grant_that_would_overflow_the_trust_quota_fails_and_writes_nothing():
    grant = request("AAAAAAAAA1", State.APPROVED, at(60))
    quota = len(minified(BASELINE)) + 50
    planned = plan(view(), [grant], NOW, quota)
    assert planned.trust is BASELINE and planned.limits is None
    [(failed, reason)] = planned.fail
    assert failed == grant and "over the" in reason and "character limit" in reason
    assert not planned.activate
    assert not planned.trust_changed(view()) and not planned.limits_changed(view())


def test_a_grant_that_would_overflow_the_limits_quota_fails_and_writes_nothing():
    grant = request("AAAAAAAAA1", State.APPROVED, at(60))
    planned = plan(view(), [grant], NOW, QUOTA, limits_quota=100)
    assert planned.trust is BASELINE and planned.limits is None
    [(_, reason)] = planned.fail
    assert "SwitchbackSessionLimits" in reason


def test_only_the_grants_that_fit_are_activated():
    grants = [request(f"AAAAAAAAA{i}", State.APPROVED, at(60), user=f"u{i}") for i in range(1, 9)]
    planned = plan(view(), grants, NOW, QUOTA)
    assert len(planned.activate) + len(planned.fail) == 8
    assert 5 <= len(planned.activate) <= 7
    assert len(minified(planned.trust)) <= QUOTA


def test_an_approved_grant_whose_window_is_over_fails():
    grant = request("AAAAAAAAA1", State.APPROVED, NOW)
    planned = plan(view(), [grant], NOW, QUOTA)
    assert planned.fail == ((grant, WINDOW_OVER),) and planned.trust is BASELINE


def test_rejected_grants_fail_with_iams_words():
    grant = request("AAAAAAAAA1", State.APPROVED, at(60))
    planned = plan(view(), [grant], NOW, QUOTA, rejected={grant.id: "IAM refused"})
    assert planned.fail == ((grant, "IAM refused"),) and planned.trust is BASELINE


# -- ending ------------------------------------------------------------------------------------
def test_an_ended_grant_expires_and_its_cut_closes():
    grant = request("AAAAAAAAA1", State.ACTIVE, at(-1))
    current = view(with_grants(grant), limits_for({"alice": [at(-1)]}))
    planned = plan(current, [grant], NOW, QUOTA)
    assert planned.expire == (grant,) and planned.trust == BASELINE
    assert session_limits.cuts_of(planned.limits) == {"alice": [at(-1)]}
    assert not planned.drift


def test_a_revoked_grant_loses_trust_and_its_sessions_end_now():
    revoked = request("AAAAAAAAA1", State.REVOKED, at(60))
    current = view(with_grants(revoked), limits_for({"alice": [at(60)]}))
    planned = plan(current, [revoked], NOW, QUOTA)
    assert planned.trust == BASELINE
    assert session_limits.cuts_of(planned.limits) == {"alice": [NOW]}
    assert not planned.drift  # a recorded revoke is no drift


def test_revoking_one_of_two_overlapping_grants_does_not_cut_the_other():
    revoked = request("AAAAAAAAA1", State.REVOKED, at(120))
    other = request("AAAAAAAAA2", State.ACTIVE, at(60))
    current = view(with_grants(revoked, other), limits_for({"alice": [at(120)]}))
    planned = plan(current, [revoked, other], NOW, QUOTA)
    assert grant_ids(planned.trust) == {"AAAAAAAAA2"}
    assert session_limits.cuts_of(planned.limits) == {"alice": [at(60)]}


def test_cuts_age_out_after_the_roles_max_session_duration():
    current = view(BASELINE, limits_for({"alice": [at(-59)], "bob": [at(-60)]}))
    assert session_limits.cuts_of(plan(current, [], NOW, QUOTA).limits) == {"alice": [at(-59)]}
    assert plan(current, [], at(2), QUOTA).limits is None
    assert plan(view(BASELINE, limits_for({"bob": [at(-60)]}), 7200), [], NOW, QUOTA).limits


def test_the_last_grant_leaves_the_placeholder_when_nothing_else_is_there():
    grant = request("AAAAAAAAA1", State.ACTIVE, at(-1))
    only = {"Version": "2012-10-17", "Statement": [statement_for(grant_of(grant))]}
    planned = plan(view(only), [grant], NOW, QUOTA)
    assert planned.trust["Statement"] == [PLACEHOLDER]


# -- drift -------------------------------------------------------------------------------------
def test_a_managed_statement_with_no_active_grant_is_removed_and_noted():
    stray = request("AAAAAAAAA9", State.ACTIVE, at(60))
    planned = plan(view(with_grants(stray)), [], NOW, QUOTA)
    assert planned.trust == BASELINE
    assert planned.drift == ("removed statements with no active grant: AAAAAAAAA9",)


def test_a_live_session_limit_with_no_grant_behind_it_ends_now_and_is_noted():
    planned = plan(view(BASELINE, limits_for({"mallory": [at(60)]})), [], NOW, QUOTA)
    assert session_limits.cuts_of(planned.limits) == {"mallory": [NOW]}
    assert planned.drift == ("ended the sessions of mallory now: no live grant behind their limit",)


def test_a_missing_statement_of_an_active_grant_is_written_again():
    grant = request("AAAAAAAAA1", State.ACTIVE, at(60))
    planned = plan(view(BASELINE, limits_for({"alice": [at(60)]})), [grant], NOW, QUOTA)
    assert planned.trust == with_grants(grant) and planned.added == ("AAAAAAAAA1",)
    assert planned.drift == ("wrote the missing statement of AAAAAAAAA1 again",)
    assert not planned.activate  # already ACTIVE: no new message


def test_a_missing_statement_that_no_longer_fits_fails_loudly():
    grant = request("AAAAAAAAA1", State.ACTIVE, at(60))
    planned = plan(view(), [grant], NOW, len(minified(BASELINE)) + 10)
    [(failed, reason)] = planned.fail
    assert failed == grant and reason.startswith("its trust statement was missing and")
    assert session_limits.cuts_of(planned.limits) == {"alice": [NOW]}


def test_a_hand_edited_statement_is_put_back_in_its_canonical_form():
    grant = request("AAAAAAAAA1", State.ACTIVE, at(60))
    edited = with_grants(grant)
    edited["Statement"][1] = dict(edited["Statement"][1], Condition={})
    planned = plan(view(edited, limits_for({"alice": [at(60)]})), [grant], NOW, QUOTA)
    assert planned.trust == with_grants(grant)


def test_a_deleted_users_unique_id_is_dropped_and_the_grant_fails():
    grant = request("AAAAAAAAA1", State.ACTIVE, at(60))
    other = request("AAAAAAAAA2", State.ACTIVE, at(60), user="bob")
    trust = with_grants(grant, other)
    trust["Statement"][1] = dict(trust["Statement"][1], Principal={"AWS": "AIDAEXAMPLEUSERID0001"})
    current = view(trust, limits_for({"alice": [at(60)], "bob": [at(60)]}))
    planned = plan(current, [grant, other], NOW, QUOTA)
    assert planned.trust == with_grants(other)
    assert planned.fail == ((grant, USER_DELETED),)
    assert session_limits.cuts_of(planned.limits) == {"alice": [NOW], "bob": [at(60)]}
    assert planned.drift[0].startswith("dropped statements of deleted IAM users")


def test_other_roles_requests_are_ignored():
    elsewhere = request("AAAAAAAAA1", State.APPROVED, at(60), role_arn=ROLE_ARN + "X")
    assert not plan(view(), [elsewhere], NOW, QUOTA).changes_anything(view())


def test_a_deleted_role_fails_its_open_grants_and_expires_ended_ones():
    live = request("AAAAAAAAA1", State.ACTIVE, at(60))
    ended = request("AAAAAAAAA2", State.ACTIVE, at(-1))
    approved = request("AAAAAAAAA3", State.APPROVED, at(60))
    expire, fail = plan_role_missing(ROLE_ARN, [live, ended, approved], NOW)
    assert expire == (ended,)
    assert [r.id for r, _ in fail] == ["AAAAAAAAA1", "AAAAAAAAA3"]
    assert all("no longer exists" in reason for _, reason in fail)


def test_access_ended_at():
    assert access_ended_at(request("AAAAAAAAA1", State.EXPIRED, at(-5))) == at(-5)
    assert access_ended_at(request("AAAAAAAAA1", State.REVOKED, at(60))) == at(-1)
    assert access_ended_at(request("AAAAAAAAA1", State.ACTIVE, at(60))) is None


# -- properties --------------------------------------------------------------------------------
ids = [f"AAAAAAAAA{i}" for i in range(1, 9)]
states = st.sampled_from([State.APPROVED, State.ACTIVE, State.EXPIRED, State.REVOKED])
a_request = st.builds(
    request,
    st.sampled_from(ids),
    states,
    st.integers(-90, 240).map(at),
    st.sampled_from(["alice", "bob", "carol"]),
)
foreign = st.lists(
    st.sampled_from(
        [
            EC2,
            {"Effect": "Allow", "Principal": {"AWS": "AIDAFOREIGNUNIQUEID01"}, "Action": "sts:*"},
            {"Sid": "Ci", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"},
        ]
    ),
    min_size=0,
    max_size=3,
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(a_request, max_size=8, unique_by=lambda r: r.id),
    st.lists(a_request, max_size=4, unique_by=lambda r: r.id),
    foreign,
    st.integers(0, 120).map(at),
)
def test_planning_converges_in_one_step_and_leaves_foreign_statements_alone(
    store, in_iam, foreign_statements, now
):
    base = {"Version": "2012-10-17", "Statement": foreign_statements or [dict(PLACEHOLDER)]}
    trust = with_grants(*in_iam, base=base)
    current = view(trust, limits_for({r.session_name: [r.ends()] for r in in_iam}))
    planned = plan(current, store, now, 4096)
    assert [s for s in statements(planned.trust) if not is_managed(s)] == foreign_statements
    # after recording the state changes, asking again changes nothing
    changed = {r.id: r for r in store}
    for r in planned.activate:
        changed[r.id] = replace(r, state=State.ACTIVE)
    for r in planned.expire:
        changed[r.id] = replace(r, state=State.EXPIRED)
    for r, _ in planned.fail:
        changed[r.id] = replace(r, state=State.FAILED)
    again = plan(applied(current, planned), changed.values(), now, 4096)
    assert not again.changes_anything(applied(current, planned))
    # exactly the live grants are trusted, and every live holder has a cut at their end
    live = [r for r in changed.values() if r.state is State.ACTIVE and r.ends() > now]
    assert grant_ids(planned.trust) == {r.id for r in live}
    cuts = session_limits.cuts_of(planned.limits)
    for holder in live:
        assert max(cuts[holder.session_name]) >= holder.ends()
        assert (
            max(r.ends() for r in live if r.session_name == holder.session_name)
            in cuts[holder.session_name]
        )
