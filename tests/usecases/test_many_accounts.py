"""A role in another account, reached through the manager role there (deploy/spoke-role.yaml),
on two moto accounts over HTTP: the spoke stack is created by moto's CloudFormation."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from chalicelib import wiring
from chalicelib.aws import clients as aws
from chalicelib.aws.accounts import AccountClients
from chalicelib.core.commands import RequestCommand
from chalicelib.core.errors import AwsUnavailable
from chalicelib.core.model import State
from chalicelib.policies import load_catalog
from tests.conftest import ROOT, Clock
from tests.support.least_privilege import compare
from tests.support.trust_view import OUR_SID

HUB = "123456789012"
SPOKE = "210987654321"
BROKER_ROLE = f"arn:aws:iam::{HUB}:role/switchback-broker"
BILLING = f"arn:aws:iam::{SPOKE}:role/Billing"
MANAGER = f"arn:aws:iam::{SPOKE}:role/switchback-manager"
BASELINE = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Ec2",
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def spoke_iam():
    """IAM in the spoke account, as its administrator (moto maps assumed keys to accounts)."""
    credentials = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{SPOKE}:role/OrganizationAccountAccessRole", RoleSessionName="admin"
    )["Credentials"]
    keys = {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }
    return boto3.client("iam", **keys), boto3.client("cloudformation", **keys)


@pytest.fixture
def two_accounts(app_env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    iam, cloudformation = spoke_iam()
    iam.create_role(RoleName="Billing", AssumeRolePolicyDocument=json.dumps(BASELINE))
    cloudformation.create_stack(
        StackName="switchback-manager",
        TemplateBody=(ROOT / "deploy" / "spoke-role.yaml").read_text(),
        Parameters=[
            {"ParameterKey": "BrokerRoleArn", "ParameterValue": BROKER_ROLE},
            {"ParameterKey": "ManagedRoleArns", "ParameterValue": BILLING},
        ],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    [stack] = cloudformation.describe_stacks(StackName="switchback-manager")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert stack["Outputs"][0]["OutputValue"] == MANAGER

    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    (policies / "accounts.toml").write_text(
        f'[accounts."{SPOKE}"]\nmanager_role_arn = "{MANAGER}"\n'
    )
    (policies / "roles" / "billing.toml").write_text(
        f'role_arn = "{BILLING}"\ndescription = "Billing"\nmax_duration = "2h"\n'
        'requesters = ["*"]\napprovers = ["U0BOB"]\n'
    )
    monkeypatch.setenv("SWITCHBACK_POLICIES", str(policies))
    wiring.reset()
    calls: list[dict] = []
    aws.observe(
        lambda action, params, assumed_role: calls.append(
            {"action": action, "assumed_role": assumed_role, **params}
        )
    )
    service = wiring.service()
    service.clock = Clock()
    return service, iam, calls, policies


def sids(iam, role_name: str) -> list[str]:
    document = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    return [s["Sid"] for s in document["Statement"]]


def test_a_role_in_another_account_is_granted_and_expired_through_its_manager(
    two_accounts,
) -> None:
    service, spoke, calls, policies = two_accounts
    command = RequestCommand("billing", timedelta(hours=1), "INC-7")
    request = service.submit("U0ALICE", command, None)
    granted = service.approve(request.id, "U0BOB")
    assert granted.state is State.ACTIVE
    assert sids(spoke, "Billing") == ["Ec2", OUR_SID]
    hub = boto3.client("iam")
    assert "Billing" not in [r["RoleName"] for r in hub.list_roles()["Roles"]]

    service.clock.advance(hours=2)
    assert service.sweep().expired == 1
    assert sids(spoke, "Billing") == ["Ec2"]
    assert service.get(request.id).state is State.EXPIRED
    service.clock.advance(hours=12)  # no session from the window can live any more
    assert service.sweep().errors == []

    assumed = [c for c in calls if c["action"] == "sts:AssumeRole"]
    assert [c["RoleArn"] for c in assumed] == [MANAGER]  # once; its credentials are reused
    assert assumed[0]["RoleSessionName"] == "switchback-broker"
    iam_calls = [c for c in calls if c["action"].startswith("iam:")]
    # The sweep also looks at the home account's role, with the broker's own keys; every call
    # about the other account's role goes with the manager's.
    spoke_calls = [c for c in iam_calls if c.get("RoleName") == "Billing"]
    home_calls = [c for c in iam_calls if c.get("RoleName") not in (None, "Billing")]
    assert {c["assumed_role"] for c in spoke_calls} == {MANAGER}
    assert {c["assumed_role"] for c in home_calls} == {None}
    quota_reads = [c["assumed_role"] for c in iam_calls if "RoleName" not in c]
    assert MANAGER in quota_reads and set(quota_reads) <= {MANAGER, None}  # one per account
    assert {c["action"] for c in spoke_calls} == {
        "iam:GetRole",
        "iam:GetRolePolicy",
        "iam:ListRolePolicies",  # under the lock: the other inline policies' share of the quota
        "iam:PutRolePolicy",
        "iam:UpdateAssumeRolePolicy",
        "iam:DeleteRolePolicy",  # the session limits, aged out 12 hours past the end
    }
    # Every call is allowed: the broker's own by the policy generated for these policies
    # (sts:AssumeRole on the manager only), the manager's by the spoke template's policy.
    found = compare(calls, load_catalog(policies), "switchback")
    assert found["called but not allowed"] == []
    assert "sts:AssumeRole" not in found["granted but unused"]


def test_the_home_account_role_still_uses_the_brokers_own_credentials(two_accounts) -> None:
    service, _, calls, _ = two_accounts
    request = service.submit("U0ALICE", RequestCommand("ec2-admin", None, "INC-8"), None)
    assert service.approve(request.id, "U0BOB").state is State.ACTIVE
    assert not [c for c in calls if c["action"] == "sts:AssumeRole"]


class FakeSts:
    def __init__(self, fail: Exception | None = None) -> None:
        self.assumed: list[str] = []
        self.fail = fail

    def assume_role(self, RoleArn: str, **_) -> dict:  # noqa: N803 (boto3's spelling)
        if self.fail:
            raise self.fail
        self.assumed.append(RoleArn)
        return {
            "Credentials": {
                "AccessKeyId": f"key{len(self.assumed)}",
                "SecretAccessKey": "s",
                "SessionToken": "t",
                "Expiration": datetime(2026, 1, 1, 1, tzinfo=UTC),
            }
        }


def test_manager_credentials_are_assumed_again_before_they_expire() -> None:
    sts = FakeSts()
    now = [datetime(2026, 1, 1, tzinfo=UTC).timestamp()]

    def make_client(service: str, **credentials: str):
        return sts if service == "sts" else ("iam", credentials.get("aws_access_key_id"))

    clients = AccountClients("home", {BILLING: MANAGER}, make_client, clock=lambda: now[0])
    assert clients(f"arn:aws:iam::{HUB}:role/Other") == "home"
    assert clients(BILLING) == ("iam", "key1")
    now[0] += 3000  # 10 minutes before the 1-hour credentials end: still good
    assert clients(BILLING) == ("iam", "key1")
    now[0] += 360  # within 5 minutes of the end: assumed again
    assert clients(BILLING) == ("iam", "key2")
    assert sts.assumed == [MANAGER, MANAGER]


def test_a_manager_that_cannot_be_assumed_is_reported_and_retried_later() -> None:
    from botocore.exceptions import ClientError

    error = {"Error": {"Code": "AccessDenied", "Message": "not trusted"}}
    denied = ClientError(error, "AssumeRole")
    clients = AccountClients("home", {BILLING: MANAGER}, lambda service, **_: FakeSts(fail=denied))
    with pytest.raises(AwsUnavailable, match=f"cannot assume the manager role {MANAGER}"):
        clients(BILLING)
