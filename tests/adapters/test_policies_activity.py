"""Role fields for activity reports: activity_report (default true) and activity_regions,
checked at load with errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.core.activity_schedule import regions_for
from chalicelib.policies import PolicyError, load_catalog
from testkit.activity_samples import ROLE_TOML, policy_folder


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(PolicyError) as raised:
        load_catalog(directory)
    return raised.value.problems


def test_reports_are_on_by_default_and_read_the_default_regions(tmp_path: Path) -> None:
    spec = load_catalog(policy_folder(tmp_path)).role("ec2-admin")
    assert spec.activity_report is True and spec.activity_regions is None
    assert regions_for(spec, "eu-west-1") == ("eu-west-1", "us-east-1")
    assert regions_for(spec, "us-east-1") == ("us-east-1",)


def test_a_role_names_its_regions_or_opts_out(tmp_path: Path) -> None:
    roles = {
        "ec2-admin": ROLE_TOML + 'activity_regions = ["eu-west-1", "us-gov-west-1", "eu-west-1"]\n',
        "quiet": ROLE_TOML.replace("AWSEC2FULLACCESS", "Quiet") + "activity_report = false\n",
    }
    catalog = load_catalog(policy_folder(tmp_path, roles=roles))
    assert catalog.role("ec2-admin").activity_regions == ("eu-west-1", "us-gov-west-1")
    assert regions_for(catalog.role("ec2-admin"), "us-east-1") == ("eu-west-1", "us-gov-west-1")
    assert catalog.role("quiet").activity_report is False


@pytest.mark.parametrize(
    "lines, says",
    [
        ('activity_report = "yes"', "activity_report: must be true or false, not 'yes'"),
        ('activity_regions = "eu-west-1"', "activity_regions: must be a list of AWS region names"),
        ("activity_regions = []", "activity_regions: must be a list of AWS region names"),
        (
            'activity_regions = ["eu-west-1", "Europe", 3]',
            "activity_regions: 'Europe', 3: not an AWS region name (like eu-west-1)",
        ),
        (
            'activity_report = false\nactivity_regions = ["eu-west-1"]',
            "activity_regions: has no effect with activity_report = false",
        ),
    ],
)
def test_wrong_activity_fields_are_named(tmp_path: Path, lines: str, says: str) -> None:
    found = problems_of(policy_folder(tmp_path, lines + "\n"))
    assert any(f"ec2-admin.toml: {says}" in p for p in found), found
