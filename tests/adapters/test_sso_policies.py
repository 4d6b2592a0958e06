"""people.toml: IAM Identity Center identities (`sso = {...}`), validated at load with every
problem naming the file and the field, the path trap included."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.core.identity import SsoIdentity
from chalicelib.policies import PolicyError, load_catalog

ROLE = """
role_arn = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"
max_duration = "4h"
requesters = ["*"]
approvers = ["U0BOB"]
"""
BOB = """
[people.U0BOB]
name = "bob"
aws = "arn:aws:iam::123456789012:user/bob"
"""
ALICE_SSO = (
    'sso = { account = "123456789012", permission_set = "Operator", '
    'user = "alice@example.com", region = "eu-west-1" }'
)


def load(tmp_path: Path, alice: str):
    (tmp_path / "people.toml").write_text(f"[people.U0ALICE]\nname = 'alice'\n{alice}\n{BOB}")
    (tmp_path / "roles").mkdir(exist_ok=True)
    (tmp_path / "roles" / "ec2-admin.toml").write_text(ROLE)
    return load_catalog(tmp_path)


def problems(tmp_path: Path, alice: str) -> list[str]:
    with pytest.raises(PolicyError) as raised:
        load(tmp_path, alice)
    return raised.value.problems


def test_a_person_with_an_identity_center_identity_only(tmp_path):
    alice = load(tmp_path, ALICE_SSO).person("U0ALICE")
    assert alice.sso == SsoIdentity("123456789012", "Operator", "alice@example.com", "eu-west-1")
    assert alice.is_sso and alice.aws == alice.sso.principal
    assert alice.session_name == "alice@example.com"
    assert alice.aws == (
        "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/eu-west-1/"
        "AWSReservedSSO_Operator_????????????????/alice@example.com"
    )


def test_both_identities_grant_the_iam_user_unless_principal_says_sso(tmp_path):
    user = 'aws = "arn:aws:iam::123456789012:user/alice"'
    alice = load(tmp_path, f"{user}\n{ALICE_SSO}").person("U0ALICE")
    assert not alice.is_sso and alice.aws.endswith(":user/alice") and alice.sso
    alice = load(tmp_path, f'{user}\n{ALICE_SSO}\nprincipal = "sso"').person("U0ALICE")
    assert alice.is_sso and alice.iam_user_arn.endswith(":user/alice")
    assert set(alice.identities) == {alice.aws, alice.iam_user_arn}


def test_the_table_form_and_no_region_in_the_path(tmp_path):
    alice = load(
        tmp_path,
        '[people.U0ALICE.sso]\naccount = "123456789012"\npermission_set = "Operator"\n'
        'user = "alice"\nregion = "us-east-1"\nregion_in_path = false',
    ).person("U0ALICE")
    assert "/sso.amazonaws.com/AWSReservedSSO_Operator_" in alice.aws


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("account", '"123"', "not a 12-digit AWS account ID"),
        ("account", "12345678901", "as text, in quotes"),
        ("permission_set", '"AWSReservedSSO_Operator_1234567890abcdef"', "the name of the role"),
        (
            "permission_set",
            '"aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Operator_1"',
            "is a path or an ARN",
        ),
        ("permission_set", '"Ops Team"', "not a permission set name"),
        ("permission_set", '"' + "x" * 33 + '"', "not a permission set name"),
        ("user", '"alice smith"', "not a user name Identity Center can name a session after"),
        ("user", '"' + "a" * 65 + '"', "not a user name"),
        ("region", '"aws-reserved/sso.amazonaws.com/eu-west-1/"', "is a path"),
        ("region", '"Ireland"', "not an AWS region name"),
        ("region_in_path", '"no"', "must be true or false"),
        ("partition", '"aws-eu"', "must be one of"),
        ("role_arn", '"x"', "unknown field"),
    ],
)
def test_each_mistake_names_the_file_and_field(tmp_path, field, value, words):
    fields = {
        "account": '"123456789012"',
        "permission_set": '"Operator"',
        "user": '"alice@example.com"',
        "region": '"eu-west-1"',
    }
    fields[field] = value
    text = ", ".join(f"{k} = {v}" for k, v in fields.items())
    found = problems(tmp_path, f"sso = {{ {text} }}")
    assert len(found) == 1, found
    [problem] = found
    assert str(tmp_path / "people.toml") in problem
    assert f"people.U0ALICE.sso.{field}:" in problem and words in problem


def test_missing_fields_and_wrong_shapes(tmp_path):
    found = problems(tmp_path, 'sso = { account = "123456789012" }')
    assert {p.split(": ")[1] for p in found} == {
        "people.U0ALICE.sso.permission_set",
        "people.U0ALICE.sso.user",
        "people.U0ALICE.sso.region",
    }
    [problem] = problems(tmp_path, 'sso = "alice@example.com"')
    assert "people.U0ALICE.sso: must be a table" in problem
    user = 'aws = "arn:aws:iam::123456789012:user/alice"'
    [problem] = problems(tmp_path, f'{user}\nprincipal = "sso"')
    assert "people.U0ALICE.principal: only for a person with both" in problem
    [problem] = problems(tmp_path, f'{ALICE_SSO}\nprincipal = "saml"')
    assert "people.U0ALICE.principal: must be" in problem
    [problem] = problems(tmp_path, f'{ALICE_SSO}\nprincipal = "iam"')
    assert "needs an IAM user" in problem


def test_session_names_are_one_persons_whatever_the_case(tmp_path):
    (tmp_path / "people.toml").write_text(
        "[people.U0ALICE]\nname = 'alice'\n" + ALICE_SSO + "\n"
        "[people.U0ALICE2]\nname = 'alice again'\n"
        'aws = "arn:aws:iam::210987654321:user/Alice@example.com"\n'
        "[people.U0BOB]\nname = 'bob'\n"
        + ALICE_SSO.replace("Operator", "ReadOnly")
        + "\n"  # the same person through another permission set, as a second entry
    )
    (tmp_path / "roles").mkdir()
    (tmp_path / "roles" / "ec2-admin.toml").write_text(ROLE)
    with pytest.raises(PolicyError) as raised:
        load_catalog(tmp_path)
    found = raised.value.problems
    assert len(found) == 2, found
    assert all("sessions named" in p and "people.U0ALICE" in p for p in found)
