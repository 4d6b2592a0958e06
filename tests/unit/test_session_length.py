"""A managed role whose MaxSessionDuration is longer than its max_duration lets credentials
issued near a grant's end outlive it: the deploy check warns (and `/access roles` can, with
the same pure function)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import boto3

from chalicelib.core.catalog import RoleSpec
from chalicelib.core.session_length import max_session_warning
from chalicelib.policies import load_catalog
from tools.deploy import session_length_warnings

ACCOUNT = "123456789012"


def role(max_duration: timedelta, name: str = "ec2-admin") -> RoleSpec:
    return RoleSpec(
        name=name,
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/AWSEC2FULLACCESS",
        description="",
        max_duration=max_duration,
        default_duration=timedelta(hours=1),
        requesters=("*",),
        approvers=("U0BOB",),
    )


def test_no_warning_when_sessions_end_within_max_duration() -> None:
    assert max_session_warning(role(timedelta(hours=4)), timedelta(hours=1)) is None
    assert max_session_warning(role(timedelta(hours=4)), timedelta(hours=4)) is None
    # IAM allows no MaxSessionDuration under 1 hour: a 30-minute role is not nagged about it.
    assert max_session_warning(role(timedelta(minutes=30)), timedelta(hours=1)) is None


def test_a_longer_max_session_duration_is_warned_with_the_fix() -> None:
    warning = max_session_warning(role(timedelta(hours=4)), timedelta(hours=12))
    assert warning is not None
    assert "ec2-admin" in warning and "12h" in warning and "4h" in warning
    assert "1h recommended" in warning
    assert "--role-name AWSEC2FULLACCESS --max-session-duration 3600" in warning
    assert max_session_warning(role(timedelta(minutes=30)), timedelta(hours=2))


def test_the_deploy_check_reads_each_managed_role(aws, tmp_path: Path) -> None:
    iam = boto3.client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    iam.create_role(RoleName="LONG", AssumeRolePolicyDocument=trust, MaxSessionDuration=43200)
    iam.create_role(RoleName="SHORT", AssumeRolePolicyDocument=trust, MaxSessionDuration=3600)
    (tmp_path / "roles").mkdir()
    (tmp_path / "people.toml").write_text(
        f'[people.U0BOB]\nname = "bob"\naws = "arn:aws:iam::{ACCOUNT}:user/bob"\n'
    )
    for name, aws_name in {"long": "LONG", "short": "SHORT", "gone": "GONE"}.items():
        (tmp_path / "roles" / f"{name}.toml").write_text(
            f'role_arn = "arn:aws:iam::{ACCOUNT}:role/{aws_name}"\ndescription = "x"\n'
            'max_duration = "4h"\nrequesters = ["*"]\napprovers = ["U0BOB"]\n'
        )
    [warning] = session_length_warnings(load_catalog(tmp_path))
    assert warning.startswith("long: ") and "12h" in warning


def test_a_role_that_cannot_be_read_is_skipped() -> None:
    from chalicelib.core.catalog import Catalog

    catalog = Catalog(people={}, roles={"ec2-admin": role(timedelta(hours=1))})
    assert session_length_warnings(catalog, lambda _arn: None) == []
    assert len(session_length_warnings(catalog, lambda _arn: 7200)) == 1
