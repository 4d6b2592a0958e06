"""Activity reports in the deploy: the broker may call cloudtrail:LookupEvents (on "*", the
only resource it takes) when a role of its own account is reported on, and each other
account's manager role may too; nothing more is granted for it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from chalicelib.aws.cloudtrail import LOOKUP_ACTIONS
from chalicelib.policies import load_catalog
from tests.conftest import ROOT
from tools.broker_policy import SAMPLE, UNSCOPED_ACTIONS, allows, broker_policy, resolve

LOOKUP = "cloudtrail:LookupEvents"
SPOKE = ROOT / "deploy" / "spoke-role.yaml"


def parliament_findings(document: dict) -> list[str]:
    from parliament import analyze_policy_string

    analysed = analyze_policy_string(json.dumps(document))
    return [f"{f.issue}: {f.detail}" for f in analysed.findings]


def spoke_policy(managed_role_arns: list[str]) -> dict:
    """The manager role's policy document, its ManagedRoleArns filled in, lists throughout."""
    template = yaml.safe_load(SPOKE.read_text())
    [policy] = template["Resources"]["ManagerRole"]["Properties"]["Policies"]
    text = json.dumps(policy["PolicyDocument"])
    document = json.loads(text.replace('{"Ref": "ManagedRoleArns"}', json.dumps(managed_role_arns)))
    for statement in document["Statement"]:
        for key in ("Action", "Resource"):
            if isinstance(statement[key], str):
                statement[key] = [statement[key]]
    return document


def statements_with(document: dict, action: str) -> list[dict]:
    return [s for s in document["Statement"] if action in s["Action"]]


def test_the_broker_may_look_up_events_on_star_and_nothing_more_for_it() -> None:
    document = resolve(broker_policy(load_catalog(ROOT / "policies")), SAMPLE)
    assert statements_with(document, LOOKUP) == [
        {"Sid": "ActivityReports", "Effect": "Allow", "Action": [LOOKUP], "Resource": ["*"]}
    ]
    assert LOOKUP_ACTIONS == (LOOKUP,) and LOOKUP in UNSCOPED_ACTIONS
    assert allows(document, LOOKUP, "*")
    assert not any(a.startswith("cloudtrail:") and a != LOOKUP for s in document["Statement"]
                   for a in s["Action"])  # fmt: skip
    assert parliament_findings(document) == []


def test_no_lookup_permission_when_no_role_of_this_account_is_reported(tmp_path: Path) -> None:
    (tmp_path / "roles").mkdir()
    (tmp_path / "people.toml").write_text((ROOT / "policies" / "people.toml").read_text())
    role = (ROOT / "policies" / "roles" / "ec2-admin.toml").read_text()
    (tmp_path / "roles" / "ec2-admin.toml").write_text(role + "\nactivity_report = false\n")
    (tmp_path / "roles" / "billing.toml").write_text(
        'role_arn = "arn:aws:iam::210987654321:role/Billing"\nmax_duration = "1h"\n'
        'requesters = ["*"]\napprovers = ["U0BOB"]\n'
        'manager_role_arn = "arn:aws:iam::210987654321:role/switchback-manager"\n'
    )
    document = resolve(broker_policy(load_catalog(tmp_path)), SAMPLE)
    # The other account's role is read through its manager role, not the broker's own.
    assert statements_with(document, LOOKUP) == []


def test_other_accounts_manager_role_may_look_up_events_there() -> None:
    spoke = yaml.safe_load(SPOKE.read_text())
    [policy] = spoke["Resources"]["ManagerRole"]["Properties"]["Policies"]
    by_sid = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert by_sid["ActivityReports"] == {
        "Sid": "ActivityReports",
        "Effect": "Allow",
        "Action": LOOKUP,
        "Resource": "*",
    }
    document = spoke_policy(["arn:aws:iam::210987654321:role/Billing"])
    assert allows(document, LOOKUP, "*")
    assert parliament_findings(document) == []
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(cfn_lint), str(SPOKE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
