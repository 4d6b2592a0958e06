"""Grants to IAM Identity Center people (pure): what a step writes for them, read by the
independent evaluator in tests/iam_eval.py as callers that are role sessions — exactly the
granted person's Identity Center session may assume the role, until their end; their
sessions are cut at their end; IAM users on the same role are unaffected."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from chalicelib.core import identity, policy_docs, trust
from chalicelib.core.identity import SsoIdentity
from chalicelib.core.model import AccessRequest, State, iso, transition
from chalicelib.core.roleplan import RolePlan, RoleView, plan
from tests.support.iam_eval import can_assume, can_assume_from_role, session_may

NOW = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/AWSEC2FULLACCESS"
ROLE_ID = "AROAGRANTEDROLE00001"
TAG = trust.deployment_tag("switchback")
SECOND = timedelta(seconds=1)
BASELINE = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "EC2Service",
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
# The roles Identity Center made for two permission sets (suffixes as AWS shows them).
OPERATOR_ROLE = (
    f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/eu-west-1/"
    "AWSReservedSSO_Operator_1234567890abcdef"
)
OPERATOR_ROLE_ID = "AROAOPERATORSET00001"


def sso(user: str, permission_set: str = "Operator", account: str = ACCOUNT) -> str:
    return SsoIdentity(account, permission_set, user, "eu-west-1").principal


def iam_user(user: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{user}"


def approved(
    request_id: str, principal: str, approved_at: datetime, minutes: int, mfa: bool = False
) -> AccessRequest:
    made = AccessRequest(
        id=request_id,
        role="ec2-admin",
        role_arn=ROLE_ARN,
        requester=f"U0{request_id}",
        requester_name=principal.rsplit("/", 1)[1],
        principal_arn=principal,
        duration_seconds=minutes * 60,
        reason="INC-1",
        created_at=iso(approved_at),
        approval_deadline=iso(approved_at + timedelta(hours=1)),
        approvals_required=1,
        require_mfa=mfa,
        ends_at=iso(approved_at + timedelta(minutes=minutes)),
    )
    made = transition(made, State.PENDING, made.requester, "requested", approved_at)
    return transition(made, State.APPROVED, "U0BOB", "approved", approved_at)


class Role:
    """One role stepped through plans as the engine does, IAM's copy kept here."""

    def __init__(self, quota: int = 2048):
        self.view = RoleView(ROLE_ARN, ROLE_ID, BASELINE, None, timedelta(hours=1), {}, TAG)
        self.requests: dict[str, AccessRequest] = {}
        self.quota = quota
        self.just_ended: set[str] = set()

    def step(self, now: datetime) -> RolePlan:
        fed = [
            r
            for r in self.requests.values()
            if r.state in (State.APPROVED, State.ACTIVE) or r.id in self.just_ended
        ]
        self.just_ended = set()
        planned = plan(self.view, fed, now, self.quota)
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
        return planned

    def grant(self, request_id: str, principal: str, now: datetime, minutes: int, mfa=False):
        self.requests[request_id] = approved(request_id, principal, now, minutes, mfa)
        self.step(now)
        return self.requests[request_id]

    def revoke(self, request_id: str, now: datetime) -> RolePlan:
        current = self.requests[request_id]
        self.requests[request_id] = transition(current, State.REVOKED, "U0BOB", "revoked", now)
        self.just_ended = {request_id}
        return self.step(now)


def from_operator(role: Role, caller: str, asks: str, when: datetime, **kwargs) -> bool:
    """Whether the Identity Center session ``caller`` (of the Operator permission set) may
    assume the granted role as session ``asks``."""
    return can_assume_from_role(
        role.view.trust, OPERATOR_ROLE, OPERATOR_ROLE_ID, caller, asks, when, **kwargs
    )


def ours(policy: dict) -> list[dict]:
    return [s for s in policy_docs.statements(policy) if trust.is_ours(s, TAG)]


def test_the_granted_person_assumes_as_their_user_name_until_the_end():
    role = Role()
    grant = role.grant("R1", sso("alice@example.com"), NOW, 60)
    assert grant.state is State.ACTIVE
    assert grant.session_name == "alice@example.com"
    end = NOW + timedelta(minutes=60)
    assert from_operator(role, "alice@example.com", "alice@example.com", NOW)
    assert from_operator(role, "alice@example.com", "alice@example.com", end - SECOND)
    # After the end (DateLessThan aws:CurrentTime), even before any sweep ran:
    assert not from_operator(role, "alice@example.com", "alice@example.com", end)
    [statement] = ours(role.view.trust)
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert statement["Condition"]["ArnLike"] == {
        "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/"
        "eu-west-1/AWSReservedSSO_Operator_????????????????"
    }
    assert statement["Condition"]["StringLike"] == {"aws:userid": "*:${sts:RoleSessionName}"}
    assert statement["Sid"].startswith(f"Switchback{TAG}S")


def test_another_user_of_the_same_permission_set_is_refused():
    role = Role()
    role.grant("R1", sso("alice@example.com"), NOW, 60)
    for asks in ("mallory@example.com", "alice@example.com"):
        assert not from_operator(role, "mallory@example.com", asks, NOW)


def test_a_caller_choosing_another_session_name_is_refused():
    role = Role()
    role.grant("R1", sso("alice@example.com"), NOW, 60)
    role.grant("R2", sso("bob@example.com"), NOW, 60)
    # Both are listed in one statement; the pin keeps each to their own name.
    assert len(ours(role.view.trust)) == 1
    assert from_operator(role, "bob@example.com", "bob@example.com", NOW)
    assert not from_operator(role, "alice@example.com", "bob@example.com", NOW)
    assert not from_operator(role, "alice@example.com", "carol@example.com", NOW)
    assert not from_operator(role, "alice@example.com", "Alice@example.com", NOW)


def test_the_same_user_name_through_another_role_is_refused():
    role = Role()
    role.grant("R1", sso("alice@example.com"), NOW, 60)
    others = [
        # another permission set, whose name merely begins with the granted one's
        f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/eu-west-1/"
        "AWSReservedSSO_Operator_ReadOnly_0123456789abcdef",
        # the granted permission set's role name, but outside the reserved path
        f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_Operator_1234567890abcdef",
        # the same permission set through another Identity Center region's path
        f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/us-east-2/"
        "AWSReservedSSO_Operator_1234567890abcdef",
        # any role of the account
        f"arn:aws:iam::{ACCOUNT}:role/ci-deployer",
    ]
    for other in others:
        assert not can_assume_from_role(
            role.view.trust, other, "AROAOTHERROLE000001", "alice@example.com",
            "alice@example.com", NOW,
        ), other  # fmt: skip
    # The IAM user of the same name is not let in by the Identity Center statement either.
    assert not can_assume(role.view.trust, iam_user("alice@example.com"), "alice@example.com", NOW)


def test_the_permission_set_role_made_again_still_works():
    """Identity Center gives the role a new suffix when it makes it again: still admitted."""
    role = Role()
    role.grant("R1", sso("alice@example.com"), NOW, 60)
    again = OPERATOR_ROLE.replace("1234567890abcdef", "abcdef0123456789")
    assert can_assume_from_role(
        role.view.trust, again, "AROANEWROLEID000001", "alice@example.com", "alice@example.com", NOW
    )


def test_another_account_is_refused():
    role = Role()
    role.grant("R1", sso("alice@example.com"), NOW, 60)
    elsewhere = OPERATOR_ROLE.replace(ACCOUNT, "210987654321")
    assert not can_assume_from_role(
        role.view.trust, elsewhere, "AROAELSEWHERE000001", "alice@example.com",
        "alice@example.com", NOW,
    )  # fmt: skip


def test_sessions_are_cut_at_the_end_as_for_iam_users():
    role = Role()
    role.grant("R1", sso("alice@example.com"), NOW, 60)
    end = NOW + timedelta(minutes=60)
    limits = [role.view.limits]
    # The granted role's sessions: aws:userid "<granted role id>:alice@example.com".
    assert session_may(limits, ROLE_ID, "alice@example.com", NOW, end - SECOND)
    assert not session_may(limits, ROLE_ID, "alice@example.com", NOW, end)
    # Chained sessions may not chain further (the chaining deny).
    assert not session_may(limits, ROLE_ID, "alice@example.com", NOW, NOW, "sts:AssumeRole")
    # A revoke cuts them at once; the trust is gone.
    role.revoke("R1", NOW + timedelta(minutes=10))
    limits = [role.view.limits]
    assert not session_may(limits, ROLE_ID, "alice@example.com", NOW, NOW + timedelta(minutes=10))
    assert not from_operator(role, "alice@example.com", "alice@example.com", NOW)
    assert ours(role.view.trust) == []


def test_iam_users_and_identity_center_people_share_a_role():
    role = Role()
    role.grant("R1", iam_user("carol"), NOW, 30)
    role.grant("R2", sso("alice@example.com"), NOW, 60)
    role.grant("R3", sso("dave@example.com", "DatabaseAdmin"), NOW, 60)
    assert {r.state for r in role.requests.values()} == {State.ACTIVE}
    trusted = role.view.trust
    # One statement for the IAM user, one per permission set; Sids distinct.
    sids = [s["Sid"] for s in ours(trusted)]
    assert len(sids) == 3 and len(set(sids)) == 3
    assert can_assume(trusted, iam_user("carol"), "carol", NOW)
    assert not can_assume(trusted, iam_user("carol"), "alice@example.com", NOW)
    assert from_operator(role, "alice@example.com", "alice@example.com", NOW)
    # dave is granted through DatabaseAdmin, not through Operator.
    assert not from_operator(role, "dave@example.com", "dave@example.com", NOW)
    database_admin = OPERATOR_ROLE.replace("Operator", "DatabaseAdmin")
    assert can_assume_from_role(
        trusted, database_admin, "AROADBADMIN00000001", "dave@example.com", "dave@example.com", NOW
    )
    # carol's window ends first; the others go on.
    role.step(NOW + timedelta(minutes=30))
    assert role.requests["R1"].state is State.EXPIRED
    later = NOW + timedelta(minutes=31)
    assert from_operator(role, "alice@example.com", "alice@example.com", later)
    assert not can_assume(role.view.trust, iam_user("carol"), "carol", later)
    role.step(NOW + timedelta(minutes=60))
    assert role.view.trust == BASELINE or ours(role.view.trust) == []


def test_a_role_requiring_mfa_refuses_sessions_without_the_mfa_key():
    """STS does not carry Identity Center's sign-in MFA into the session as
    aws:MultiFactorAuthPresent, so a require_mfa role fails closed for Identity Center
    people (docs/grants.md)."""
    role = Role()
    role.grant("R1", sso("alice@example.com"), NOW, 60, mfa=True)
    [statement] = ours(role.view.trust)
    assert statement["Sid"].startswith(f"Switchback{TAG}T")
    assert statement["Condition"]["Bool"] == {"aws:MultiFactorAuthPresent": "true"}
    assert not from_operator(role, "alice@example.com", "alice@example.com", NOW)
    assert from_operator(role, "alice@example.com", "alice@example.com", NOW, mfa=True)


def test_a_name_added_by_hand_is_removed_and_cut():
    role = Role()
    role.grant("R1", sso("alice@example.com"), NOW, 60)
    policy = role.view.trust
    [statement] = ours(policy)
    edited = dict(statement, Condition=dict(statement["Condition"]))
    edited["Condition"]["StringEquals"] = {
        "sts:RoleSessionName": ["alice@example.com", "mallory@example.com"]
    }
    others = [s for s in policy_docs.statements(policy) if s is not statement]
    role.view = replace(role.view, trust={**policy, "Statement": others + [edited]})
    planned = role.step(NOW + timedelta(minutes=1))
    assert any("mallory@example.com" in d and "by hand" in d for d in planned.drift)
    assert not from_operator(role, "mallory@example.com", "mallory@example.com", NOW)
    assert not session_may([role.view.limits], ROLE_ID, "mallory@example.com", NOW, NOW)
    assert from_operator(role, "alice@example.com", "alice@example.com", NOW)


def test_a_widened_statement_is_reported_and_rewritten():
    role = Role()
    role.grant("R1", sso("alice@example.com"), NOW, 60)
    policy = role.view.trust
    [statement] = ours(policy)
    widened = dict(statement, Condition=dict(statement["Condition"]))
    widened["Condition"].pop("StringLike")  # the pin removed
    others = [s for s in policy_docs.statements(policy) if s is not statement]
    role.view = replace(role.view, trust={**policy, "Statement": others + [widened]})
    planned = role.step(NOW + timedelta(minutes=1))
    assert any("conditions or action were changed" in d for d in planned.drift)
    assert [statement] == ours(role.view.trust)


def test_the_principal_string_round_trips():
    person = SsoIdentity(ACCOUNT, "Operator", "alice@example.com", "eu-west-1")
    assert identity.is_sso(person.principal)
    assert identity.parse(person.principal) == person
    assert not identity.is_sso(iam_user("alice"))
    old_style = SsoIdentity(ACCOUNT, "Operator", "alice", None)  # no region in the path
    assert "sso.amazonaws.com/AWSReservedSSO_Operator_" in old_style.principal
    assert identity.parse(old_style.principal) == old_style


def test_free_slots_counts_identity_center_people():
    role = Role()
    ends = NOW + timedelta(hours=1)
    empty = trust.free_slots(role.view.trust, sso("alice@example.com"), ends, 2048, TAG)
    for n in range(5):
        role.grant(f"R{n}", sso(f"user{n:02d}@example.com"), NOW, 60 + n)
    left = trust.free_slots(role.view.trust, sso("alice@example.com"), ends, 2048, TAG)
    assert 0 < left <= empty - 5
    # What it promises fits: that many more people of the same kind are granted.
    for n in range(left):
        role.grant(f"S{n}", sso(f"more{n:02d}@example.com"), NOW, 60)
        assert role.requests[f"S{n}"].state is State.ACTIVE, n
    # IAM users are counted on the same quota; short names do not trip the count.
    assert trust.free_slots(role.view.trust, iam_user("bob"), ends, 2048, TAG) >= 0
    assert trust.free_slots(BASELINE, sso("bo"), ends, 2048, TAG) > 0
