"""Policies refused at load where a permissive default or a case slip would open a hole:
break-glass needs its own explicit requesters, and two people may not name IAM users that
differ only in case (IAM user names are case-insensitive, and sessions are cut by name)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from chalicelib.core.catalog import Catalog, Person, RoleSpec
from chalicelib.core.decisions import may_request
from chalicelib.policies import PolicyError, load_catalog

ROLE = """
role_arn = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"
description = "Full EC2 access"
max_duration = "4h"
requesters = ["*"]
approvers = ["U0BOB"]
"""


def people(**users: str) -> str:
    return "".join(
        f'[people.{slack_id}]\nname = "{slack_id.lower()}"\n'
        f'aws = "arn:aws:iam::123456789012:user/{user}"\n\n'
        for slack_id, user in users.items()
    )


def write(folder: Path, people_text: str, role_extra: str = "") -> Path:
    (folder / "roles").mkdir(exist_ok=True)
    (folder / "people.toml").write_text(people_text)
    (folder / "roles" / "ec2-admin.toml").write_text(ROLE + role_extra)
    return folder


TEAM = people(U0ALICE="alice", U0BOB="bob", U0CAROL="carol")


# -- break-glass is explicit ------------------------------------------------------------------
def test_break_glass_without_its_requesters_is_refused_naming_file_and_field(tmp_path) -> None:
    with pytest.raises(PolicyError) as refused:
        load_catalog(write(tmp_path, TEAM, "break_glass = true\n"))
    [problem] = refused.value.problems
    assert "ec2-admin.toml" in problem and "break_glass_requesters" in problem
    assert "required" in problem


def test_break_glass_requesters_may_not_be_everybody(tmp_path) -> None:
    extra = 'break_glass = true\nbreak_glass_requesters = ["*"]\n'
    with pytest.raises(PolicyError, match="break_glass_requesters"):
        load_catalog(write(tmp_path, TEAM, extra))


def test_break_glass_requesters_are_people_or_groups(tmp_path) -> None:
    extra = 'break_glass = true\nbreak_glass_requesters = ["U0CAROL", "S0ONCALL"]\n'
    role = load_catalog(write(tmp_path, TEAM, extra)).role("ec2-admin")
    assert role.breakglass_requesters == ("U0CAROL", "S0ONCALL")


def test_break_glass_never_falls_back_to_the_roles_requesters() -> None:
    """Even a role built without policies.py (requesters "*", no break-glass list) lets
    nobody break the glass."""
    role = RoleSpec(
        name="ec2-admin",
        role_arn="arn:aws:iam::123456789012:role/EC2",
        description="",
        max_duration=timedelta(hours=4),
        default_duration=timedelta(hours=1),
        requesters=("*",),
        approvers=("U0BOB",),
        break_glass=True,
    )
    alice = Person("U0ALICE", "alice", "arn:aws:iam::123456789012:user/alice")
    catalog = Catalog(people={"U0ALICE": alice}, roles={"ec2-admin": role})
    assert may_request(catalog, "U0ALICE", role)
    assert not may_request(catalog, "U0ALICE", role, break_glass=True)
    assert role.breakglass_requesters == ()


# -- IAM user names are case-insensitive ------------------------------------------------------
def test_two_people_whose_iam_users_differ_only_in_case_are_refused(tmp_path) -> None:
    text = people(U0ALICE="alice", U0BOB="bob", U0MALLORY="Alice")
    with pytest.raises(PolicyError) as refused:
        load_catalog(write(tmp_path, text))
    [problem] = refused.value.problems
    assert "people.toml" in problem
    assert "people.U0ALICE" in problem and "people.U0MALLORY" in problem
    assert "user/alice" in problem and "user/Alice" in problem
    assert "case" in problem


def test_case_folding_also_catches_other_accounts_and_paths(tmp_path) -> None:
    text = TEAM + (
        '[people.U0ALICE2]\nname = "alice2"\naws = "arn:aws:iam::210987654321:user/team/ALICE"\n'
    )
    with pytest.raises(PolicyError, match="people.U0ALICE2.aws"):
        load_catalog(write(tmp_path, text))


def test_distinct_names_still_load(tmp_path) -> None:
    text = people(U0ALICE="alice", U0BOB="bob", U0MALICE="malice")
    assert set(load_catalog(write(tmp_path, text)).people) == {"U0ALICE", "U0BOB", "U0MALICE"}
