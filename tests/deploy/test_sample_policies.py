"""Packaging or deploying the repository's sample policies (account 123456789012) warns."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from chalicelib.policies import load_catalog
from tools import package

ROOT = Path(__file__).resolve().parents[2]


def test_the_sample_policies_are_recognised() -> None:
    [warning] = package.sample_policy_warnings(load_catalog(ROOT / "policies"))
    assert warning.startswith("warning: the policies name AWS's example account 123456789012")
    assert "person alice" in warning and "role ec2-admin" in warning
    assert "POLICIES=<your folder>" in warning


def test_policies_of_another_account_give_no_warning() -> None:
    sample = load_catalog(ROOT / "policies")
    mine = replace(
        sample,
        people={
            k: replace(p, aws=p.aws.replace("123456789012", "210987654321"))
            for k, p in sample.people.items()
        },
        roles={
            k: replace(r, role_arn=r.role_arn.replace("123456789012", "210987654321"))
            for k, r in sample.roles.items()
        },
    )
    assert package.sample_policy_warnings(mine) == []


class Stop(Exception):
    pass


def test_package_and_so_deploy_print_the_warning_before_building(
    monkeypatch, capsys, tmp_path: Path
) -> None:
    def stop(_source):
        raise Stop

    monkeypatch.setattr(package, "bundle_policies", stop)  # build nothing
    with pytest.raises(Stop):
        package.package("prod", ROOT / "policies", tmp_path)  # deploy calls this first
    assert "warning: the policies name AWS's example account" in capsys.readouterr().err
