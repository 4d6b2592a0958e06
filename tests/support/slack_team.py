"""A small team for the Slack tests: three roles with different rules, five people, and a
helper that sends signed slash commands to the app through chalice.test.Client."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import boto3

from testkit.slack_standin import SlackReceiver
from tests.conftest import Clock, people_toml, signed_command

PEOPLE = people_toml("alice", "bob", "carol", "dave", "erin")

EC2_ADMIN = """
role_arn = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"
description = "Full EC2 access"
max_duration = "4h"
default_duration = "1h"
requesters = ["*"]
approvers = ["U0BOB", "U0CAROL"]
"""

DB_ADMIN = """
role_arn = "arn:aws:iam::123456789012:role/DBADMIN"
description = "Database admin"
max_duration = "2h"
default_duration = "30m"
requesters = ["U0ALICE", "U0DAVE"]
approvers = ["U0BOB", "U0CAROL"]
approvals_required = 2
reason_pattern = "INC-\\\\d+"
webhook_url = "{webhook}"
"""

BILLING = """
role_arn = "arn:aws:iam::123456789012:role/BILLING"
description = "Billing read-only"
max_duration = "1h"
requesters = ["U0CAROL"]
approvers = ["U0BOB"]
"""


def write_policies(folder: Path, db_webhook: str) -> Path:
    (folder / "roles").mkdir(parents=True)
    (folder / "people.toml").write_text(PEOPLE)
    (folder / "roles" / "ec2-admin.toml").write_text(EC2_ADMIN)
    (folder / "roles" / "db-admin.toml").write_text(DB_ADMIN.format(webhook=db_webhook))
    (folder / "roles" / "billing.toml").write_text(BILLING)
    return folder


@dataclass
class Team:
    client: object
    slack: SlackReceiver
    service: object
    clock: Clock

    def slash(self, user: str, text: str, response_url: str | None = None) -> dict:
        answer, _ = self.timed_slash(user, text, response_url)
        return answer

    def timed_slash(
        self, user: str, text: str, response_url: str | None = None
    ) -> tuple[dict, float]:
        url = f"{self.slack.url}/response/{user}" if response_url is None else response_url
        body, headers = signed_command(user, text, url)
        started = time.monotonic()
        response = self.client.http.post("/slack/commands", body=body, headers=headers)
        took = time.monotonic() - started
        assert response.status_code == 200, response.body
        answer = json.loads(response.body)
        assert answer["response_type"] == "ephemeral"
        return answer, took

    def request(self, user: str, text: str) -> str:
        answer = self.slash(user, f"request {text}")
        found = re.search(r"Request `([0-9A-Z]{10})`", answer["text"])
        assert found, answer["text"]
        return found.group(1)

    def stored(self, request_id: str):
        return self.service.store.get_request(request_id)

    def sweep(self):
        return self.service.sweep()

    def click(self, request_id: str, user: str, action: str):
        """A signed-in ``user``'s button on the review page (``approve``, ``deny``…), with
        the page's CSRF token."""
        from urllib.parse import urlencode

        from chalicelib.web import sessions
        from tests.conftest import COOKIE_KEY

        session = sessions.new_session(user, time.time())
        cookie = f"{sessions.COOKIE_NAME}={sessions.encode(session, COOKIE_KEY)}"
        return self.client.http.post(
            f"/requests/{request_id}/{action}",
            body=urlencode({"csrf": session.csrf}),
            headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
        )

    @property
    def notifier(self):
        """The Slack subscriber of the service's notification port."""
        from chalicelib.notify.slack import Notifier

        [slack] = [s for s in self.service.notify.subscribers if isinstance(s, Notifier)]
        return slack


def build_team(client, slack: SlackReceiver, policies_dir: Path, monkeypatch, **env: str) -> Team:
    """The service on the test team's policies (and any extra environment), clock in hand."""
    from chalicelib import wiring
    from chalicelib.policies import load_catalog
    from tools.local_stack import ensure_aws_resources

    policies = write_policies(policies_dir, f"{slack.url}/webhook/db")
    monkeypatch.setenv("SWITCHBACK_POLICIES", str(policies))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    ensure_aws_resources(load_catalog(policies), "switchback")
    wiring.reset()
    clock = Clock()
    service = wiring.service()
    service.clock = clock
    return Team(client=client, slack=slack, service=service, clock=clock)


def trust_sids(role_name: str = "AWSEC2FULLACCESS") -> list[str]:
    document = boto3.client("iam").get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    return [s.get("Sid") for s in document["Statement"]]


def outbox_messages() -> list[dict]:
    """Every stored outbox message, as plain dicts (a Scan: tests only)."""
    from boto3.dynamodb.types import TypeDeserializer

    plain = TypeDeserializer().deserialize
    items = boto3.client("dynamodb").scan(TableName="switchback")["Items"]
    found = [{k: plain(v) for k, v in item.items()} for item in items]
    return sorted((m for m in found if m["pk"].startswith("MSG#")), key=lambda m: m["created_at"])
