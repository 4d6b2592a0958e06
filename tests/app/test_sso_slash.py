"""An IAM Identity Center person and a role that requires MFA, through the app
(chalice.test.Client, AWS on moto, Slack a local receiver): the request is refused with why and
what to do, an approval is refused too, and nothing is written to IAM. STS does not carry
Identity Center's sign-in MFA into a role switch, so such a grant could never be used."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib import wiring
from chalicelib.core.model import State, new_request_id
from tests.support.slack_team import Team, build_team, trust_sids

FRANK = "frank@example.com"
SSO_PERSON = (
    '\n[people.U0FRANK]\nname = "frank"\n'
    f'sso = {{ account = "123456789012", permission_set = "Operator", user = "{FRANK}", '
    'region = "eu-west-1" }\n'
)


@pytest.fixture
def team(app_env, slack, client, tmp_path, monkeypatch) -> Team:
    built = build_team(client, slack, tmp_path / "policies", monkeypatch)
    people = tmp_path / "policies" / "people.toml"
    people.write_text(people.read_text() + SSO_PERSON)
    wiring.reset()
    service = wiring.service()
    service.clock = built.clock
    return Team(client=client, slack=slack, service=service, clock=built.clock)


def require_mfa(team: Team, tmp_path) -> None:
    role = tmp_path / "policies" / "roles" / "ec2-admin.toml"
    role.write_text(role.read_text() + "require_mfa = true\n")
    wiring.reset()
    clock = team.clock
    team.service = wiring.service()
    team.service.clock = clock


def test_an_identity_center_person_is_refused_a_role_requiring_mfa(team: Team, tmp_path) -> None:
    require_mfa(team, tmp_path)
    answer = team.slash("U0FRANK", "request ec2-admin 30m INC-1 look at the ASG")
    text = answer["text"]
    assert "ec2-admin requires MFA" in text and "IAM Identity Center" in text
    assert "could never be used" in text and "Nothing was requested" in text
    assert "IAM user with MFA in policies/people.toml" in text
    assert team.service.store.requests_of("U0FRANK") == []
    assert team.slack.delivered("/webhook/approvers") == []
    # break-glass is no way around it: the role has none here, and the rule is the same
    # (tests/unit/test_sso_eligibility.py); an IAM user on the same role is unaffected.
    assert team.stored(team.request("U0ALICE", "ec2-admin 30m INC-1 x")).require_mfa


def test_the_same_person_is_granted_a_role_without_mfa(team: Team) -> None:
    request_id = team.request("U0FRANK", "ec2-admin 30m INC-1 look at the ASG")
    assert team.click(request_id, "U0BOB", "approve").status_code == 303
    assert team.stored(request_id).state is State.ACTIVE


def test_an_approval_is_refused_and_nothing_is_written(team: Team, tmp_path) -> None:
    # A request stored before this rule existed (the role already required MFA then).
    asked = team.stored(team.request("U0FRANK", "ec2-admin 30m INC-1 look at the ASG"))
    require_mfa(team, tmp_path)
    old = replace(asked, id=new_request_id(), require_mfa=True, version=0)
    team.service.store.create_request(old)
    before = trust_sids()

    answer = team.click(old.id, "U0BOB", "approve")
    body = answer.body.decode()
    assert answer.status_code == 409
    assert "ec2-admin requires MFA" in body and "Deny this request" in body
    assert team.stored(old.id).state is State.PENDING
    assert trust_sids() == before
    # It can still be turned down, not left to lapse.
    assert team.click(old.id, "U0BOB", "deny").status_code == 303
    assert team.stored(old.id).state is State.DENIED
