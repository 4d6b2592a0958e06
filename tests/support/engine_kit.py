"""A Switchback service on a real moto server with a few roles, for the grant-engine tests.

Roles: ``ec2-admin`` (the example role), ``db-admin`` (requires MFA) and ``ops``; people alice,
bob, carol and dave; bob and carol approve. The service's clock is a test clock; AWS calls can
be counted (testkit/aws_calls.py) and faults injected (tests/support/faults.py) on its real clients.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest

from chalicelib.core.commands import RequestCommand
from chalicelib.core.durations import parse_duration
from chalicelib.core.model import AccessRequest
from chalicelib.service import Switchback
from testkit.aws_calls import CallCounter
from testkit.slack_standin import SlackReceiver
from tests.conftest import BASE_URL, COOKIE_KEY, SIGNING_SECRET, Clock
from tests.support.faults import Faults

ACCOUNT = "123456789012"
ROLES = {"ec2-admin": "AWSEC2FULLACCESS", "db-admin": "DBADMIN", "ops": "OPS"}
PEOPLE = {"U0ALICE": "alice", "U0BOB": "bob", "U0CAROL": "carol", "U0DAVE": "dave"}


def role_arn(role: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{ROLES[role]}"


def write_policies(folder: Path) -> Path:
    (folder / "roles").mkdir(parents=True)
    (folder / "people.toml").write_text(
        "".join(
            f'[people.{slack_id}]\nname = "{name}"\naws = "arn:aws:iam::{ACCOUNT}:user/{name}"\n\n'
            for slack_id, name in PEOPLE.items()
        )
    )
    for role, aws_name in ROLES.items():
        (folder / "roles" / f"{role}.toml").write_text(
            f'role_arn = "arn:aws:iam::{ACCOUNT}:role/{aws_name}"\n'
            f'description = "{role} for tests"\n'
            'max_duration = "4h"\n'
            'default_duration = "1h"\n'
            'requesters = ["*"]\n'
            'approvers = ["U0BOB", "U0CAROL"]\n'
            f"require_mfa = {'true' if role == 'db-admin' else 'false'}\n"
            'approval_timeout = "1h"\n'
            + (
                'break_glass = true\nbreak_glass_requesters = ["U0ALICE", "U0CAROL", "U0DAVE"]\n'
                if role == "ops"
                else ""
            )
        )
    return folder


@dataclass
class Engine:
    service: Switchback
    clock: Clock
    slack: SlackReceiver
    iam: object = field(default_factory=lambda: boto3.client("iam"))

    # -- driving it ------------------------------------------------------------------------------
    def request(self, user: str, role: str = "ec2-admin", duration: str = "30m") -> str:
        command = RequestCommand(role, parse_duration(duration), "INC-42 test")
        return self.service.submit(user, command, f"{self.slack.url}/response/{user}").id

    def grant(
        self, user: str, role: str = "ec2-admin", duration: str = "30m", approver: str = "U0BOB"
    ) -> AccessRequest:
        return self.service.approve(self.request(user, role, duration), approver)

    def stored(self, request_id: str) -> AccessRequest:
        return self.service.store.get_request(request_id)

    # -- looking at IAM directly -------------------------------------------------------------------
    def trust(self, role: str = "ec2-admin") -> dict:
        document = self.iam.get_role(RoleName=ROLES[role])["Role"]["AssumeRolePolicyDocument"]
        return json.loads(document) if isinstance(document, str) else document

    def trust_sids(self, role: str = "ec2-admin") -> list[str]:
        return [s.get("Sid") for s in self.trust(role)["Statement"]]

    def trusted_names(self, role: str = "ec2-admin") -> list[str]:
        """The IAM user names this deployment's statements trust, sorted."""
        from chalicelib.core.trust import trusted

        found = trusted(self.trust(role), self.service.writer.tag)
        return sorted(arn.rsplit("/", 1)[1] for arn in found if arn.startswith("arn:"))

    def role_id(self, role: str = "ec2-admin") -> str:
        return self.iam.get_role(RoleName=ROLES[role])["Role"]["RoleId"]

    def limits(self, role: str = "ec2-admin") -> dict | None:
        try:
            answer = self.iam.get_role_policy(
                RoleName=ROLES[role], PolicyName=self.service.writer.limits_policy
            )
        except self.iam.exceptions.NoSuchEntityException:
            return None
        document = answer["PolicyDocument"]
        return json.loads(document) if isinstance(document, str) else document

    def set_trust(self, policy: dict, role: str = "ec2-admin") -> None:
        """A hand edit of the role's trust policy, and its IAM change event."""
        self.iam.update_assume_role_policy(RoleName=ROLES[role], PolicyDocument=json.dumps(policy))
        self.iam_changed("UpdateAssumeRolePolicy", role)

    def iam_changed(self, call: str, role: str = "ec2-admin", **parameters: str) -> str | None:
        """What deploy/template.yaml's RoleChangeRule hands the sweep function when someone
        else makes ``call`` on the role (CloudTrail, through EventBridge): the role is marked
        for the next pass. Returns the role ARN marked, if any."""
        event = {
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.iam",
            "account": ACCOUNT,
            "detail": {
                "eventSource": "iam.amazonaws.com",
                "eventName": call,
                "recipientAccountId": ACCOUNT,
                "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/admin"},
                "requestParameters": {"roleName": ROLES[role], **parameters},
            },
        }
        return self.service.role_changed(event)

    # -- instruments -------------------------------------------------------------------------------
    def clients(self) -> list:
        iam = self.service.writer.iam
        return [self.service.store.client] + list(
            {id(c): c for c in (iam.client_for_role(role_arn(r)) for r in ROLES)}.values()
        )

    def counter(self) -> CallCounter:
        return CallCounter().attach(*self.clients())

    def faults(self) -> Faults:
        return Faults(*self.clients())

    def texts(self, path: str) -> list[str]:
        return self.slack.texts(path)


def role_lock_key(role: str = "ec2-admin") -> dict:
    """The DynamoDB key of a role's lock, as the store writes it."""
    return {"pk": {"S": f"LOCK#role:{role_arn(role)}"}, "sk": {"S": "LOCK"}}


def hold_role_lock(owner: str, role: str = "ec2-admin") -> None:
    """Another process holds the role's lock, with ten minutes of lease left."""
    boto3.client("dynamodb").put_item(
        TableName="switchback",
        Item={
            **role_lock_key(role),
            "owner": {"S": owner},
            "expires": {"N": str(int(time.time()) + 600)},
        },
    )


def lapse_role_lock(role: str = "ec2-admin") -> None:
    """The process holding the role's lock died: its lease is over."""
    boto3.client("dynamodb").update_item(
        TableName="switchback",
        Key=role_lock_key(role),
        UpdateExpression="SET expires = :gone",
        ExpressionAttributeValues={":gone": {"N": "0"}},
    )


@contextmanager
def built_engine(
    slack: SlackReceiver, monkeypatch: pytest.MonkeyPatch, folder: Path
) -> Iterator[Engine]:
    """Needs the ``aws`` fixture (a clean moto account) to be active."""
    from chalicelib import wiring
    from chalicelib.policies import load_catalog
    from tools.local_stack import ensure_aws_resources

    policies = write_policies(folder / "policies")
    for name, value in {
        "SWITCHBACK_STAGE": "local",
        "SWITCHBACK_TABLE": "switchback",
        "SWITCHBACK_POLICIES": str(policies),
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SWITCHBACK_COOKIE_KEY": COOKIE_KEY,
        "SWITCHBACK_BASE_URL": BASE_URL,
        "SLACK_WEBHOOK_URL": f"{slack.url}/webhook/approvers",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SWITCHBACK_TRUST_QUOTA", raising=False)
    ensure_aws_resources(load_catalog(policies), "switchback")
    wiring.reset()
    service = wiring.service()
    clock = Clock()
    service.clock = clock
    try:
        yield Engine(service, clock, slack)
    finally:
        wiring.reset()
