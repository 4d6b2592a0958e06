"""Policy files: loaded whole at start, every problem naming its file and field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from chalicelib.policies import PolicyError, load_catalog
from tests.conftest import people_toml

REPO_POLICIES = Path(__file__).resolve().parents[2] / "policies"

PEOPLE = people_toml("alice", "bob", "carol")

ROLE = """
role_arn = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"
description = "Full EC2 access"
max_duration = "4h"
default_duration = "1h"
requesters = ["*"]
approvers = ["U0BOB", "U0CAROL"]
approvals_required = 1
require_mfa = false
"""


def tree(tmp_path: Path, people: str | None = PEOPLE, roles: dict[str, str] | None = None) -> Path:
    if people is not None:
        (tmp_path / "people.toml").write_text(people)
    if roles is not None:
        (tmp_path / "roles").mkdir()
        for name, text in roles.items():
            (tmp_path / "roles" / f"{name}.toml").write_text(text)
    return tmp_path


def role_with(**fields: str) -> str:
    """ROLE with some lines replaced (value given as TOML) or removed (value None)."""
    lines = []
    for line in ROLE.strip().splitlines():
        key = line.split("=", 1)[0].strip()
        if key in fields:
            if fields[key] is not None:
                lines.append(f"{key} = {fields.pop(key)}")
            else:
                fields.pop(key)
        else:
            lines.append(line)
    lines += [f"{k} = {v}" for k, v in fields.items() if v is not None]
    return "\n".join(lines) + "\n"


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(PolicyError) as raised:
        load_catalog(directory)
    error = raised.value
    for problem in error.problems:
        assert problem in str(error)
    return error.problems


def only_problem(directory: Path) -> str:
    problems = problems_of(directory)
    assert len(problems) == 1, problems
    return problems[0]


def test_the_repos_policies_load():
    catalog = load_catalog(REPO_POLICIES)
    assert set(catalog.people) == {"U0ALICE", "U0BOB", "U0CAROL"}
    assert catalog.person("U0ALICE").aws == "arn:aws:iam::123456789012:user/alice"
    assert catalog.person("U0ALICE").iam_user_name == "alice"
    role = catalog.role("ec2-admin")
    assert role.approvers == ("U0BOB", "U0CAROL")
    assert role.requesters == ("*",)
    assert role.approvals_required == 1
    assert role.max_duration == timedelta(hours=4)
    assert role.default_duration == timedelta(hours=1)
    assert role.role_arn == "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"
    assert role.account_id == "123456789012"
    assert role.aws_role_name == "AWSEC2FULLACCESS"
    assert catalog.role_by_arn(role.role_arn) is role
    assert catalog.role_files["ec2-admin"].endswith("ec2-admin.toml")


def test_a_good_tree_loads_with_defaults(tmp_path):
    minimal = """
role_arn = "arn:aws:iam::123456789012:role/ops/ReadOnly"
max_duration = "2h"
requesters = ["U0ALICE"]
approvers = ["U0BOB"]
"""
    catalog = load_catalog(tree(tmp_path, roles={"read-only": minimal}))
    role = catalog.role("read-only")
    assert role.default_duration == timedelta(hours=2)  # defaults to max_duration
    assert role.approval_timeout == timedelta(hours=1)
    assert role.approvals_required == 1
    assert role.require_mfa is False
    assert role.webhook_url is None
    assert role.aws_role_name == "ReadOnly"
    assert catalog.role("nope") is None and catalog.person("U0NOBODY") is None


def test_unknown_approver_id(tmp_path):
    path = tree(tmp_path, roles={"ec2-admin": role_with(approvers='["U0BOB", "U0MALLORY"]')})
    problem = only_problem(path)
    assert str(path / "roles" / "ec2-admin.toml") in problem
    assert "approvers" in problem and "U0MALLORY" in problem and "people.toml" in problem


def test_unknown_requester_id(tmp_path):
    path = tree(tmp_path, roles={"ec2-admin": role_with(requesters='["U0EVE"]')})
    problem = only_problem(path)
    assert "ec2-admin.toml" in problem and "requesters" in problem and "U0EVE" in problem


@pytest.mark.parametrize(
    "arn",
    [
        '"arn:aws:iam::123456789012:user/alice"',
        '"arn:aws:iam::12345:role/short-account"',
        '"AWSEC2FULLACCESS"',
        '"arn:aws:iam::123456789012:role/has space"',
        '"arn:aws:iam::123456789012:role/r\\u00f4le"',  # IAM names are ASCII
        '"arn:aws:iam::123456789012:role/x\\n"',  # a trailing newline
        "42",
    ],
)
def test_bad_role_arn(tmp_path, arn):
    path = tree(tmp_path, roles={"ec2-admin": role_with(role_arn=arn)})
    problem = only_problem(path)
    assert str(path / "roles" / "ec2-admin.toml") in problem
    assert "role_arn" in problem and "not an IAM role ARN" in problem


def test_missing_role_arn(tmp_path):
    problem = only_problem(tree(tmp_path, roles={"ec2-admin": role_with(role_arn=None)}))
    assert "ec2-admin.toml" in problem and "role_arn" in problem


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::123456789012:role/alice",
        "arn:aws:iam::123456789012:user/",
        "arn:aws:iam::123456789012:user/\\u00e9lodie",
        "arn:aws:iam::123456789012:user/alice\\n",
    ],
)
def test_bad_user_arn(tmp_path, arn):
    people = PEOPLE.replace("arn:aws:iam::123456789012:user/carol", arn)
    path = tree(tmp_path, people=people, roles={"ec2-admin": ROLE})
    problems = problems_of(path)
    first = problems[0]
    assert str(path / "people.toml") in first
    assert "people.U0CAROL.aws" in first and "not an IAM user ARN" in first
    # carol is then unknown to the role that lists her: reported too, in the role's file
    assert any("ec2-admin.toml" in p and "approvers" in p and "U0CAROL" in p for p in problems)


def test_default_over_max(tmp_path):
    path = tree(tmp_path, roles={"ec2-admin": role_with(default_duration='"5h"')})
    problem = only_problem(path)
    assert "ec2-admin.toml" in problem and "default_duration" in problem
    assert "5h" in problem and "4h" in problem


def test_max_over_12h(tmp_path):
    path = tree(
        tmp_path, roles={"ec2-admin": role_with(max_duration='"13h"', default_duration='"1h"')}
    )
    problem = only_problem(path)
    assert "ec2-admin.toml" in problem and "max_duration" in problem and "12h" in problem


def test_max_of_exactly_12h_is_fine(tmp_path):
    catalog = load_catalog(tree(tmp_path, roles={"ec2-admin": role_with(max_duration='"12h"')}))
    assert catalog.role("ec2-admin").max_duration == timedelta(hours=12)


@pytest.mark.parametrize("value", ['"forever"', '"0m"', "4", '"1m1h"'])
def test_unreadable_max_duration(tmp_path, value):
    path = tree(tmp_path, roles={"ec2-admin": role_with(max_duration=value)})
    problem = only_problem(path)
    assert "ec2-admin.toml" in problem and "max_duration" in problem


def test_unreadable_max_without_default_is_one_problem(tmp_path):
    # default_duration is optional: its absence is no second problem
    role = role_with(max_duration='"forever"', default_duration=None)
    problem = only_problem(tree(tmp_path, roles={"ec2-admin": role}))
    assert "max_duration" in problem


def test_unparseable_toml(tmp_path):
    path = tree(tmp_path, roles={"ec2-admin": ROLE + "\napprovers = [\n"})
    problem = only_problem(path)
    assert str(path / "roles" / "ec2-admin.toml") in problem and "not valid TOML" in problem


def test_unparseable_people(tmp_path):
    path = tree(tmp_path, people="[people.U0ALICE\n", roles={})
    problem = only_problem(path)
    assert str(path / "people.toml") in problem and "not valid TOML" in problem


@pytest.mark.parametrize("typo", ["approver", "max_durations", "requireMfa"])
def test_unknown_role_field(tmp_path, typo):
    path = tree(tmp_path, roles={"ec2-admin": ROLE + f'{typo} = "x"\n'})
    problem = only_problem(path)
    assert "ec2-admin.toml" in problem and typo in problem and "unknown field" in problem


def test_unknown_person_field(tmp_path):
    people = PEOPLE.replace('name = "bob"', 'name = "bob"\nemail = "bob@example.com"')
    problem = only_problem(tree(tmp_path, people=people, roles={"ec2-admin": ROLE}))
    assert "people.toml" in problem and "people.U0BOB.email" in problem
    assert "unknown field" in problem


def test_person_without_name(tmp_path):
    people = PEOPLE.replace('name = "alice"\n', "")
    problem = only_problem(tree(tmp_path, people=people, roles={}))
    assert "people.toml" in problem and "people.U0ALICE.name" in problem


def test_person_key_must_be_a_slack_id(tmp_path):
    people = PEOPLE + '\n[people.alice]\nname = "a"\naws = "arn:aws:iam::123456789012:user/a"\n'
    problem = only_problem(tree(tmp_path, people=people, roles={}))
    assert "people.toml" in problem and "people.alice" in problem and "Slack user ID" in problem


@pytest.mark.parametrize(("value", "shown"), [("0", "0"), ("-1", "-1"), ("true", "True")])
def test_approvals_required_below_one(tmp_path, value, shown):
    path = tree(tmp_path, roles={"ec2-admin": role_with(approvals_required=value)})
    problem = only_problem(path)
    assert "ec2-admin.toml" in problem and "approvals_required" in problem and shown in problem


def test_approvals_required_more_than_approvers(tmp_path):
    path = tree(tmp_path, roles={"ec2-admin": role_with(approvals_required="3")})
    problem = only_problem(path)
    assert "ec2-admin.toml" in problem and "approvals_required" in problem
    assert "3" in problem and "2 approvers" in problem


def test_approvals_required_equal_to_approvers_is_fine_when_approvers_cannot_request(tmp_path):
    text = role_with(approvals_required="2", requesters='["U0ALICE"]')
    catalog = load_catalog(tree(tmp_path, roles={"ec2-admin": text}))
    assert catalog.role("ec2-admin").approvals_required == 2


def test_a_quorum_an_approvers_own_request_could_never_reach_is_refused(tmp_path):
    text = role_with(approvals_required="2", requesters='["U0ALICE", "U0BOB"]')
    problem = only_problem(tree(tmp_path, roles={"ec2-admin": text}))
    assert "ec2-admin.toml: approvals_required: 2 can never be reached" in problem
    assert "U0BOB, an approver, requests it" in problem


def test_duplicate_role_arn_across_two_files(tmp_path):
    path = tree(tmp_path, roles={"ec2-admin": ROLE, "ec2-again": ROLE})
    problem = only_problem(path)
    assert "role_arn" in problem
    assert str(path / "roles" / "ec2-again.toml") in problem
    assert str(path / "roles" / "ec2-admin.toml") in problem


def test_same_role_name_in_other_case_or_path_is_a_duplicate(tmp_path):
    # IAM role names are unique per account, whatever their case or path.
    other = role_with(role_arn='"arn:aws:iam::123456789012:role/team/awsec2fullaccess"')
    problem = only_problem(tree(tmp_path, roles={"ec2-admin": ROLE, "ec2-lower": other}))
    assert "ec2-lower.toml" in problem and "role_arn" in problem and "ec2-admin.toml" in problem


def test_same_role_name_in_another_account_is_fine(tmp_path):
    other = role_with(role_arn='"arn:aws:iam::210987654321:role/AWSEC2FULLACCESS"')
    catalog = load_catalog(tree(tmp_path, roles={"ec2-admin": ROLE, "ec2-other": other}))
    assert set(catalog.roles) == {"ec2-admin", "ec2-other"}


def test_missing_people_file(tmp_path):
    path = tree(tmp_path, people=None, roles={"ec2-admin": ROLE})
    problems = problems_of(path)
    assert any(str(path / "people.toml") in p and "file missing" in p for p in problems)


def test_missing_roles_folder(tmp_path):
    path = tree(tmp_path, roles=None)
    problem = only_problem(path)
    assert str(path / "roles") in problem and "folder missing" in problem


def test_bad_role_file_name(tmp_path):
    problem = only_problem(tree(tmp_path, roles={"EC2_Admin": ROLE}))
    assert "EC2_Admin.toml" in problem and "(file name)" in problem


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("require_mfa", '"yes"'),
        ("webhook_url", '"ftp://example.com"'),
        ("reason_pattern", '"(unclosed"'),
        ("description", "42"),
        ("requesters", "[]"),
        ("approvers", '"U0BOB"'),
        ("approval_timeout", '"soon"'),
    ],
)
def test_other_bad_fields_name_their_field(tmp_path, field, value):
    path = tree(tmp_path, roles={"ec2-admin": role_with(**{field: value})})
    problem = only_problem(path)
    assert str(path / "roles" / "ec2-admin.toml") in problem and f": {field}:" in problem


def test_several_problems_are_reported_at_once(tmp_path):
    bad_one = role_with(approvers='["U0MALLORY"]', max_duration='"13h"', colour='"red"')
    bad_two = role_with(role_arn='"nope"', approvals_required="0")
    people = PEOPLE.replace("arn:aws:iam::123456789012:user/bob", "bob")
    path = tree(tmp_path, people=people, roles={"one": bad_one, "two": bad_two, "fine": ROLE})
    problems = problems_of(path)
    expected = [
        ("people.toml", "people.U0BOB.aws"),
        ("one.toml", "colour"),
        ("one.toml", "max_duration"),
        ("one.toml", "approvers"),
        ("two.toml", "role_arn"),
        ("two.toml", "approvals_required"),
        ("two.toml", "approvers"),  # U0BOB is not a valid person any more
        ("fine.toml", "approvers"),  # U0BOB is not a valid person any more
    ]
    for file_name, field in expected:
        assert any(file_name in p and field in p for p in problems), (file_name, field, problems)
    assert len(problems) == len(expected), problems


# -- one identity per person ---------------------------------------------------------------------
def test_two_people_naming_one_iam_user_are_refused_naming_both(tmp_path):
    people = PEOPLE + (
        '[people.U0MALLORY]\nname = "mallory"\naws = "arn:aws:iam::123456789012:user/alice"\n'
    )
    problem = only_problem(tree(tmp_path, people, {"ec2-admin": ROLE}))
    assert "people.U0MALLORY.aws" in problem and "people.U0ALICE.aws" in problem
    assert "the same IAM user" in problem


def test_same_user_name_in_two_accounts_is_refused_naming_both(tmp_path):
    people = PEOPLE + (
        '[people.U0ALICE2]\nname = "alice2"\naws = "arn:aws:iam::210987654321:user/alice"\n'
    )
    problem = only_problem(tree(tmp_path, people, {"ec2-admin": ROLE}))
    assert "people.U0ALICE2.aws" in problem and "people.U0ALICE.aws" in problem
    assert "arn:aws:iam::210987654321:user/alice" in problem and "sessions are named" in problem


# -- role chaining --------------------------------------------------------------------------------
def test_role_chaining_is_denied_unless_the_role_allows_it(tmp_path):
    ops = role_with(allow_role_chaining="true", role_arn='"arn:aws:iam::123456789012:role/OPS"')
    roles = {"ec2-admin": ROLE, "ops": ops}
    catalog = load_catalog(tree(tmp_path, roles=roles))
    assert catalog.role("ec2-admin").allow_role_chaining is False
    assert catalog.role("ops").allow_role_chaining is True


def test_allow_role_chaining_must_be_a_boolean(tmp_path):
    problem = only_problem(tree(tmp_path, roles={"ops": role_with(allow_role_chaining='"yes"')}))
    assert "ops.toml: allow_role_chaining: must be true or false" in problem
