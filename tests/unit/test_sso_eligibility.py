"""An IAM Identity Center person may not ask for, nor be approved on, a role that requires MFA:
STS does not carry Identity Center's sign-in MFA into the switch, so the trust statement's MFA
condition would refuse every switch and the grant could never be used (docs/grants.md)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from chalicelib.core.catalog import Person
from chalicelib.core.decisions import (
    Refusal,
    check_decider,
    check_request,
    deny,
    mfa_not_carried,
)
from chalicelib.core.identity import SsoIdentity
from tests.unit.test_decisions import NOW, PEOPLE, catalog, refusal, request, role

ERIN = SsoIdentity("123456789012", "Operator", "erin@example.com", "eu-west-1")
SSO_PEOPLE = dict(PEOPLE, U0ERIN=Person("U0ERIN", "erin", ERIN.principal, sso=ERIN))
# Has an IAM user too, but is granted through Identity Center (principal = "sso").
SSO_WITH_USER = dict(
    PEOPLE,
    U0ERIN=Person(
        "U0ERIN",
        "erin",
        ERIN.principal,
        sso=ERIN,
        iam_user_arn="arn:aws:iam::123456789012:user/erin",
    ),
)
ERINS = dict(requester="U0ERIN", requester_name="erin", principal_arn=ERIN.principal)


def test_an_identity_center_person_cannot_request_a_role_requiring_mfa():
    for people in (SSO_PEOPLE, SSO_WITH_USER):
        for break_glass in (False, True):
            mfa = role(require_mfa=True, break_glass=True, break_glass_requesters=("*",))
            c = catalog(mfa, people=people)

            def ask(c=c, break_glass=break_glass):
                thirty = timedelta(minutes=30)
                return check_request(
                    c,
                    "U0ERIN",
                    "ec2-admin",
                    thirty,
                    "INC-1",
                    **({"break_glass": True} if break_glass else {}),
                )

            refused = refusal(ask)
            assert refused.reason is Refusal.MFA_NOT_CARRIED
            text = refused.message
            assert "ec2-admin requires MFA" in text and "IAM Identity Center" in text
            assert "could never be used" in text and "Nothing was requested" in text
            assert "IAM user with MFA in policies/people.toml" in text


def test_the_same_person_may_request_a_role_without_mfa_and_iam_users_are_unaffected():
    c = catalog(role(require_mfa=False), people=SSO_PEOPLE)
    assert check_request(c, "U0ERIN", "ec2-admin", None, "INC-1")[0].name == "ec2-admin"
    c = catalog(role(require_mfa=True), people=SSO_PEOPLE)
    assert check_request(c, "U0ALICE", "ec2-admin", None, "INC-1")[0].require_mfa


def test_approval_is_refused_when_the_requester_comes_through_identity_center():
    c = catalog(role(require_mfa=True), people=SSO_PEOPLE)
    pending = request(require_mfa=True, **ERINS)
    refused = refusal(check_decider, c, pending, "U0BOB", NOW)
    assert refused.reason is Refusal.MFA_NOT_CARRIED
    assert "the requester would be granted through IAM Identity Center" in refused.message
    assert "Deny this request" in refused.message
    # ... and it can still be turned down, so it need not wait to lapse.
    assert check_decider(c, pending, "U0BOB", NOW, approving=False).name == "ec2-admin"
    assert deny(pending, "U0BOB", NOW).state.value == "DENIED"


def test_approval_goes_by_the_principal_the_request_would_grant():
    # Without MFA the same request is approved; an IAM user on an MFA role is too.
    c = catalog(role(require_mfa=False), people=SSO_PEOPLE)
    assert check_decider(c, request(**ERINS), "U0BOB", NOW).name == "ec2-admin"
    c = catalog(role(require_mfa=True), people=SSO_PEOPLE)
    assert check_decider(c, request(require_mfa=True), "U0BOB", NOW).require_mfa


def test_the_rule_alone():
    mfa = role(require_mfa=True)
    assert mfa_not_carried(mfa, ERIN.principal) is not None
    assert mfa_not_carried(mfa, "arn:aws:iam::123456789012:user/erin") is None
    assert mfa_not_carried(replace(mfa, require_mfa=False), ERIN.principal) is None
