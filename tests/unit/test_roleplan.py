"""Role plans (pure): what one step writes, read by the independent evaluator in
tests/support/iam_eval.py — sessions end at each person's own end, revokes beat propagation,
chaining is denied, 30 people fit, tampering is repaired and reported."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.core import policy_docs, session_limits, trust
from chalicelib.core.model import AccessRequest, State, iso, transition
from chalicelib.core.roleplan import RolePlan, RoleView, plan
from tests.support.iam_eval import can_assume, session_may
from tests.support.requests import approved

NOW = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)
ROLE_ARN = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"
ROLE_ID = "AROAEXAMPLEROLEID0001"
TAG = trust.deployment_tag("switchback")
QUOTA = 2048
SECOND = timedelta(seconds=1)
EC2 = {
    "Sid": "EC2Service",
    "Effect": "Allow",
    "Principal": {"Service": "ec2.amazonaws.com"},
    "Action": "sts:AssumeRole",
}
BASELINE = {"Version": "2012-10-17", "Statement": [EC2]}


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def arn(user: str) -> str:
    return f"arn:aws:iam::123456789012:user/{user}"


class Role:
    """One role, stepped through plans as the engine would, with IAM's copy kept here."""

    def __init__(self, quota: int = QUOTA, allow_chaining: bool = False):
        self.view = RoleView(ROLE_ARN, ROLE_ID, BASELINE, None, timedelta(hours=1), {}, TAG)
        self.requests: dict[str, AccessRequest] = {}
        self.quota = quota
        self.allow_chaining = allow_chaining
        self.last: RolePlan | None = None
        self.just_ended: set[str] = set()

    def step(self, now: datetime, **kwargs) -> RolePlan:
        # As the engine does: the open grants, and what a revoke just ended.
        fed = [
            r
            for r in self.requests.values()
            if r.state in (State.APPROVED, State.ACTIVE) or r.id in self.just_ended
        ]
        self.just_ended = set()
        planned = plan(
            self.view,
            fed,
            now,
            self.quota,
            allow_chaining=self.allow_chaining,
            **kwargs,
        )
        self.view = replace(
            self.view, trust=planned.trust, limits=planned.limits, ledger=planned.ledger
        )
        for request in planned.activate:
            self.requests[request.id] = transition(request, State.ACTIVE, "sb", "granted", now)
        for request in planned.expire:
            self.requests[request.id] = transition(request, State.EXPIRED, "sb", "expired", now)
        for request, reason in planned.fail:
            self.requests[request.id] = transition(
                request, State.FAILED, "sb", "failed", now, failure=reason
            )
        self.last = planned
        return planned

    def grant(self, request_id: str, user: str, now: datetime, minutes: int) -> AccessRequest:
        self.requests[request_id] = approved(request_id, user, now, minutes)
        self.step(now)
        return self.requests[request_id]

    def revoke(self, request_id: str, now: datetime) -> RolePlan:
        current = self.requests[request_id]
        self.requests[request_id] = transition(current, State.REVOKED, "U0BOB", "revoked", now)
        self.just_ended = {request_id}
        return self.step(now)

    # -- the independent reading of what IAM holds ------------------------------------------
    def can_assume(self, user: str, at_: datetime, session_name: str | None = None) -> bool:
        return can_assume(self.view.trust, arn(user), session_name or user, at_)

    def session_may(self, user: str, issued: datetime, at_: datetime, action: str = "ec2:Run"):
        return session_may([self.view.limits], ROLE_ID, user, issued, at_, action)


# -- exact ends --------------------------------------------------------------------------------
def test_a_grant_is_usable_in_its_window_and_every_session_dies_at_its_end():
    role = Role()
    grant = role.grant("AAAAAAAAA1", "alice", NOW, 60)
    assert grant.state is State.ACTIVE
    assert role.can_assume("alice", at(59)) and not role.can_assume("alice", at(60))
    assert role.session_may("alice", NOW, at(60) - SECOND)
    assert not role.session_may("alice", NOW, at(60))
    assert not role.can_assume("alice", at(1), session_name="bob")  # only her own name
    assert not role.can_assume("mallory", at(1))


def test_thirty_people_each_in_their_own_window_fit_both_quotas():
    """Point 10: 30 people, each ending at a different second, under the default 2,048-char
    trust quota and the 10,240-char inline limit; each may act only until their own end."""
    role = Role()
    people = [f"person{n:02d}" for n in range(30)]
    for n, user in enumerate(people):
        role.grant(f"P{n:09d}", user, NOW, 60 + 7 * n)
    assert all(r.state is State.ACTIVE for r in role.requests.values()), role.last.fail
    assert policy_docs.fits(role.view.trust, 2048)
    assert policy_docs.size(role.view.limits) <= session_limits.INLINE_POLICY_QUOTA
    for n, user in enumerate(people):
        end = at(60 + 7 * n)
        assert role.can_assume(user, at(59)) and role.session_may(user, NOW, end - SECOND)
        assert not role.session_may(user, NOW, end)  # to the second
        assert not role.session_may(user, end, end + SECOND)  # even a late-issued session
        assert not role.can_assume(user, at(5), session_name=people[(n + 1) % 30])
    assert not role.can_assume("mallory", at(1))


def test_thirty_people_regranted_within_12_hours_still_fit_the_inline_limit():
    """Points 4 + 10: each of 30 people holds a live grant and, from an earlier window, a
    closed cut that must outlive 12-hour sessions: the worst case for the inline policy."""
    role = Role()
    people = [f"person{n:02d}" for n in range(30)]
    for n, user in enumerate(people):
        role.grant(f"A{n:09d}", user, NOW, 30)
    later = at(31)
    role.step(later)  # all expire: closed cuts
    for n, user in enumerate(people):
        role.grant(f"B{n:09d}", user, later + timedelta(seconds=n), 60 + n)
    assert all(r.state is State.ACTIVE for r in role.requests.values() if r.id.startswith("B")), (
        role.last.fail
    )
    size = policy_docs.size(role.view.limits)
    assert size <= session_limits.INLINE_POLICY_QUOTA, size
    for user in people:
        assert not role.session_may(user, at(10), at(40))  # the old window stays dead
        assert role.session_may(user, at(32), at(60))  # the new one works


def test_overlapping_grants_never_cut_each_other_short():
    role = Role()
    role.grant("LONG000001", "alice", NOW, 120)
    role.grant("SHORT00001", "alice", at(1), 30)
    assert role.session_may("alice", NOW, at(120) - SECOND)
    role.step(at(31))
    assert role.requests["SHORT00001"].state is State.EXPIRED
    assert role.session_may("alice", at(2), at(119)) and role.can_assume("alice", at(100))


# -- revoke beats propagation ----------------------------------------------------------------------
def test_a_session_issued_60_seconds_after_a_revoke_is_denied():
    role = Role()
    role.grant("AAAAAAAAA1", "alice", NOW, 120)
    revoke_at = at(10)
    role.revoke("AAAAAAAAA1", revoke_at)
    assert not role.can_assume("alice", at(11))
    # IAM still propagating the trust change: STS issues a session at revoke + 60 s
    late = revoke_at + timedelta(seconds=60)
    assert not role.session_may("alice", late, late + SECOND)
    assert not role.session_may("alice", NOW, revoke_at)  # and every earlier one, from now on


def test_a_new_grant_after_a_revoke_works_and_the_revoked_sessions_never_come_back():
    role = Role()
    role.grant("AAAAAAAAA1", "alice", NOW, 120)
    role.revoke("AAAAAAAAA1", at(10))
    propagated = at(10) + timedelta(seconds=30)  # a session from the revoked window, late
    role.grant("BBBBBBBBB1", "alice", at(20), 60)
    assert role.can_assume("alice", at(21))
    assert role.session_may("alice", at(21), at(79))  # the new window's sessions work
    assert not role.session_may("alice", at(5), at(30))  # the revoked window's never
    assert not role.session_may("alice", propagated, at(30))
    assert not role.session_may("alice", at(21), at(80))  # and the new end holds


def test_revoking_one_of_two_overlapping_grants_keeps_the_other():
    role = Role()
    role.grant("LONG000001", "alice", NOW, 120)
    role.grant("EXTRA00001", "alice", at(5), 180)
    role.revoke("EXTRA00001", at(10))
    assert role.can_assume("alice", at(60))
    assert role.session_may("alice", at(11), at(120) - SECOND)
    assert not role.session_may("alice", at(11), at(120))


# -- chaining ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "action",
    [
        "sts:AssumeRole",
        "sts:AssumeRoleWithSAML",
        "sts:AssumeRoleWithWebIdentity",
        "sts:GetFederationToken",
    ],
)
def test_granted_sessions_may_not_chain_by_default(action):
    role = Role()
    role.grant("AAAAAAAAA1", "alice", NOW, 60)
    assert not role.session_may("alice", NOW, at(1), action)
    assert role.session_may("alice", NOW, at(1), "ec2:DescribeInstances")
    # the role's other users (a service's sessions) are not the grant's business
    assert role.session_may("i-0123456789abcdef0", NOW, at(1), action)


def test_a_role_may_allow_chaining():
    role = Role(allow_chaining=True)
    role.grant("AAAAAAAAA1", "alice", NOW, 60)
    assert role.session_may("alice", NOW, at(1), "sts:AssumeRole")
    assert not role.session_may("alice", NOW, at(60), "sts:AssumeRole")  # not past the end


# -- boundaries -----------------------------------------------------------------------------------
def test_a_grant_whose_end_equals_now_expires_in_that_step():
    role = Role()
    role.grant("AAAAAAAAA1", "alice", NOW, 30)
    planned = role.step(at(30))
    assert [r.id for r in planned.expire] == ["AAAAAAAAA1"]
    assert not role.can_assume("alice", at(30))


def test_a_grant_that_does_not_fit_fails_and_gets_no_session_cut():
    role = Role()
    role.grant("AAAAAAAAA1", "alice", NOW, 60)
    # the trust policy is now exactly at the quota: alice fits, bob does not
    role.quota = policy_docs.size(role.view.trust)
    limits_before = role.view.limits
    role.requests["BBBBBBBBB1"] = approved("BBBBBBBBB1", "bob", at(1), 60)
    planned = role.step(at(1))
    [(failed, reason)] = planned.fail
    assert failed.id == "BBBBBBBBB1" and "over the" in reason
    assert role.view.limits == limits_before
    assert "bob" not in role.view.ledger and not role.can_assume("bob", at(2))


def test_iam_rejecting_a_grant_fails_it_without_a_cut():
    role = Role()
    role.requests["AAAAAAAAA1"] = approved("AAAAAAAAA1", "alice", NOW, 60)
    planned = role.step(NOW, rejected={"AAAAAAAAA1": "IAM refused (LimitExceeded)"})
    assert planned.fail and role.view.limits is None


# -- policy changes in flight -----------------------------------------------------------------
def test_a_grant_whose_requester_is_no_longer_eligible_ends_with_the_reason():
    role = Role()
    role.grant("AAAAAAAAA1", "alice", NOW, 60)
    planned = role.step(at(5), ineligible={"AAAAAAAAA1": "alice was removed from people.toml"})
    [(ended, reason)] = planned.fail
    assert ended.id == "AAAAAAAAA1" and "removed" in reason
    assert not role.can_assume("alice", at(6)) and not role.session_may("alice", NOW, at(6))


# -- tampering ------------------------------------------------------------------------------------
def test_a_deleted_session_limit_policy_is_rebuilt_with_closed_cuts_and_reported():
    role = Role()
    role.grant("AAAAAAAAA1", "alice", NOW, 60)
    role.grant("BBBBBBBBB1", "bob", NOW, 120)
    role.revoke("AAAAAAAAA1", at(10))
    wanted = role.view.limits
    role.view = replace(role.view, limits=None)  # someone deletes the policy by hand
    assert role.session_may("alice", NOW, at(20))
    planned = role.step(at(20))
    assert role.view.limits == wanted
    assert not role.session_may("alice", NOW, at(20))
    assert any("alice" in d and "rebuilt" in d for d in planned.drift)
    assert any("bob" in d for d in planned.drift)


def test_an_edited_session_limit_is_rebuilt_and_reported():
    role = Role()
    role.grant("AAAAAAAAA1", "alice", NOW, 60)
    edited = dict(role.view.limits)
    edited["Statement"] = [
        dict(
            s,
            Condition={
                **s["Condition"],
                "DateGreaterThanEquals": {"aws:CurrentTime": iso(at(600))},
            },
        )
        if "DateGreaterThanEquals" in s["Condition"]
        else s
        for s in edited["Statement"]
    ]
    role.view = replace(role.view, limits=edited)
    planned = role.step(at(1))
    assert any("alice" in d and "live cut" in d for d in planned.drift)
    assert not role.session_may("alice", NOW, at(60))


def test_a_hand_widened_statement_is_repaired_and_reported():
    role = Role()
    role.grant("AAAAAAAAA1", "alice", NOW, 60)
    widened = []
    for statement in role.view.trust["Statement"]:
        if trust.is_ours(statement, TAG):
            statement = dict(
                statement,
                Principal={"AWS": [arn("alice"), arn("mallory")]},
                Condition={
                    **statement["Condition"],
                    "DateLessThan": {"aws:CurrentTime": iso(at(600))},
                },
            )
        widened.append(statement)
    role.view = replace(role.view, trust=dict(role.view.trust, Statement=widened))
    assert role.can_assume("mallory", at(1))
    planned = role.step(at(1))
    assert not role.can_assume("mallory", at(2)) and not role.can_assume("alice", at(60))
    assert role.can_assume("alice", at(59))
    drift = " | ".join(planned.drift)
    assert "mallory" in drift and "end was moved" in drift
    assert not role.session_may("mallory", at(1), at(2))  # whatever mallory took is cut


def test_foreign_and_other_deployments_statements_survive_every_step():
    other_tag = trust.deployment_tag("switchback-dev")
    theirs = trust.statement_for(trust.Grant("X", arn("zed"), "zed", at(300)), other_tag)
    break_glass = {
        "Sid": "SwitchbackBreakGlassAdmins",
        "Effect": "Allow",
        "Principal": {"AWS": arn("oncall")},
        "Action": "sts:AssumeRole",
    }
    role = Role()
    role.view = replace(role.view, trust=dict(BASELINE, Statement=[EC2, break_glass, theirs]))
    role.grant("AAAAAAAAA1", "alice", NOW, 60)
    role.revoke("AAAAAAAAA1", at(5))
    role.step(at(120))
    role.step(at(60 * 14))
    assert role.view.trust["Statement"] == [EC2, break_glass, theirs]
    assert role.last.drift == ()
