"""Webhook URLs are capabilities: the outbox stores where a message goes by name, deployed the
approvers' URL comes from Secrets Manager, and a role's webhook may be a secret ARN, read
when a message is sent. Messages stored with a URL before names existed still go out."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
import yaml

from chalicelib.core.catalog import Catalog, RoleSpec
from chalicelib.core.commands import RequestCommand
from chalicelib.core.durations import parse_duration
from chalicelib.delivery.destinations import (
    APPROVERS,
    NamedWebhooks,
    WebhookNames,
    break_glass_channel,
    role_channel,
)
from chalicelib.delivery.slack import Outcome
from chalicelib.policies import PolicyError, load_catalog
from tests.conftest import BASE_URL, COOKIE_KEY, SIGNING_SECRET
from tests.support.slack_team import outbox_messages
from tools.broker_policy import SAMPLE, allows, broker_policy, resolve
from tools.package import TEMPLATE

ACCOUNT = "123456789012"
PEOPLE = "".join(
    f'[people.{slack_id}]\nname = "{name}"\naws = "arn:aws:iam::{ACCOUNT}:user/{name}"\n\n'
    for slack_id, name in {"U0ALICE": "alice", "U0BOB": "bob", "U0CAROL": "carol"}.items()
)


def role_file(extra: str = "") -> str:
    return (
        f'role_arn = "arn:aws:iam::{ACCOUNT}:role/AWSEC2FULLACCESS"\n'
        'description = "x"\nmax_duration = "4h"\nrequesters = ["*"]\n'
        'approvers = ["U0BOB", "U0CAROL"]\n' + extra
    )


def write_policies(folder: Path, extra: str = "") -> Path:
    (folder / "roles").mkdir(parents=True)
    (folder / "people.toml").write_text(PEOPLE)
    (folder / "roles" / "ec2-admin.toml").write_text(role_file(extra))
    return folder


@pytest.fixture
def stack(aws, slack, monkeypatch, tmp_path):
    """The service on a role whose own webhook is a Secrets Manager secret."""
    from chalicelib import wiring
    from tools.local_stack import ensure_aws_resources

    arn = boto3.client("secretsmanager").create_secret(
        Name="switchback/ec2-admin-webhook", SecretString=f"{slack.url}/webhook/ec2\n"
    )["ARN"]
    policies = write_policies(
        tmp_path / "policies",
        f'webhook_url = "{arn}"\nbreak_glass = true\nbreak_glass_requesters = ["U0ALICE"]\n'
        f'break_glass_webhook_url = "{arn}"\n',
    )
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
    ensure_aws_resources(load_catalog(policies), "switchback")
    wiring.reset()
    try:
        yield wiring.service(), slack, arn
    finally:
        wiring.reset()


def test_the_outbox_stores_names_and_a_secret_webhook_is_read_at_send(stack) -> None:
    service, slack, _ = stack
    request = service.submit("U0ALICE", RequestCommand("ec2-admin", None, "INC-1 x"), None)
    service.flush(5)
    stored = outbox_messages()
    assert stored and {m["url"] for m in stored} == {role_channel("ec2-admin")}
    assert not any("/webhook/" in str(m) for m in stored)  # no URL anywhere in the table
    # Delivered to the URL the secret holds.
    assert slack.texts("/webhook/ec2") == [
        f"alice requests ec2-admin for {request.duration_seconds // 3600}h"
    ]


def test_break_glass_announcements_go_by_name_too(stack) -> None:
    service, slack, _ = stack
    command = RequestCommand("ec2-admin", parse_duration("30m"), "INC-2 down", break_glass=True)
    service.submit("U0ALICE", command, None)
    service.flush(5)
    urls = {m["url"] for m in outbox_messages()}
    assert break_glass_channel("ec2-admin") in urls
    assert not any(u.startswith("http") for u in urls)


def test_a_message_stored_with_a_url_before_names_still_goes_out(stack) -> None:
    service, slack, _ = stack
    outbox = service.notify.outbox
    now = service.clock()
    old = outbox.enqueue(
        f"{slack.url}/webhook/approvers", {"text": "old"}, "test.note", "0000000001", now
    )
    outbox.send_now([old], now, time.monotonic() + 5)
    assert "old" in slack.texts("/webhook/approvers")


# -- names resolved at send time ---------------------------------------------------------------
ROLE = RoleSpec(
    name="ec2-admin",
    role_arn=f"arn:aws:iam::{ACCOUNT}:role/EC2",
    description="",
    max_duration=timedelta(hours=1),
    default_duration=timedelta(hours=1),
    requesters=("*",),
    approvers=("U0BOB",),
    webhook_url="arn:aws:secretsmanager:us-east-1:123456789012:secret:role-AbCdEf",
)


def test_names_resolve_at_send_and_unknown_ones_give_up() -> None:
    sent: list[str] = []
    read: list[str] = []

    def send(url, payload_json, timeout, patient=False):
        sent.append(url)
        return Outcome(delivered=True)

    def read_secret(arn: str) -> str:
        read.append(arn)
        return "https://hooks.slack.com/services/T/B/ROLE"

    names = WebhookNames(
        Catalog(people={}, roles={"ec2-admin": ROLE}),
        lambda: "https://hooks.slack.com/services/T/B/APPROVERS",
        read_secret,
    )
    webhooks = NamedWebhooks(send, names)
    assert webhooks(APPROVERS, "{}", 1.0).delivered
    assert webhooks(role_channel("ec2-admin"), "{}", 1.0).delivered
    assert webhooks("https://hooks.slack.com/commands/1/2/3", "{}", 1.0).delivered
    assert sent == [
        "https://hooks.slack.com/services/T/B/APPROVERS",
        "https://hooks.slack.com/services/T/B/ROLE",
        "https://hooks.slack.com/commands/1/2/3",
    ]
    assert read == [ROLE.webhook_url]
    gone = webhooks(role_channel("deleted-role"), "{}", 1.0)
    assert not gone.delivered and gone.permanent and "deleted-role" in gone.error

    def unreachable(arn: str) -> str:
        raise RuntimeError("Secrets Manager is slow")

    later = NamedWebhooks(send, WebhookNames(names._catalog, lambda: None, unreachable))
    waiting = later(role_channel("ec2-admin"), "{}", 1.0)
    assert not waiting.delivered and not waiting.permanent  # tried again later


# -- deployed: the approvers' webhook is a secret ----------------------------------------------
def test_deployed_the_approvers_webhook_comes_from_secrets_manager(aws, monkeypatch) -> None:
    from chalicelib import wiring
    from chalicelib.config import settings

    arn = boto3.client("secretsmanager").create_secret(
        Name="switchback/webhook", SecretString="https://hooks.slack.com/services/T/B/SECRET"
    )["ARN"]
    monkeypatch.setenv("SWITCHBACK_STAGE", "prod")
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    monkeypatch.setenv("SLACK_WEBHOOK_URL_ARN", arn)
    wiring.reset()
    try:
        assert settings().has_approvers_webhook
        assert settings().approvers_webhook() == "https://hooks.slack.com/services/T/B/SECRET"
        assert settings().webhook_url is None
    finally:
        wiring.reset()


def test_the_template_passes_the_webhooks_secret_arn_not_its_url() -> None:
    template = yaml.safe_load(TEMPLATE.read_text())
    assert "SlackWebhookUrl" not in template["Parameters"]
    assert "secretsmanager" in template["Parameters"]["SlackWebhookSecretArn"]["AllowedPattern"]
    variables = template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert variables["SLACK_WEBHOOK_URL_ARN"] == {"Ref": "SlackWebhookSecretArn"}
    assert "SLACK_WEBHOOK_URL" not in variables


def test_the_broker_may_read_the_webhook_secrets_and_no_others(tmp_path: Path) -> None:
    arn = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:ec2-webhook-AbCdEf"
    catalog = load_catalog(write_policies(tmp_path / "p", f'webhook_url = "{arn}"\n'))
    policy = resolve(broker_policy(catalog), SAMPLE)
    assert allows(policy, "secretsmanager:GetSecretValue", SAMPLE["SlackWebhookSecretArn"])
    assert allows(policy, "secretsmanager:GetSecretValue", arn)
    other = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:someone-else-AbCdEf"
    assert not allows(policy, "secretsmanager:GetSecretValue", other)


def test_a_role_webhook_must_be_a_url_or_a_secret_arn(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="secret"):
        load_catalog(write_policies(tmp_path / "p", 'webhook_url = "arn:aws:s3:::bucket"\n'))
