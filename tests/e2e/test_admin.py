"""The operator CLI (`python -m tools.admin`) as an operator runs it: a separate process with
AWS credentials, against the table on a real moto server, or against the running local stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import boto3
import pytest

from chalicelib.core.commands import RequestCommand
from chalicelib.core.durations import parse_duration
from chalicelib.core.model import State
from testkit.slack_standin import SlackReceiver
from tests.conftest import ROOT, Clock, running_stack, trust_policy
from tests.support.trust_view import trusted_users
from tools.slash import send


def admin(aws: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SWITCHBACK_"))}
    clean.pop("SLACK_WEBHOOK_URL", None)
    clean.update(
        AWS_ENDPOINT_URL=aws,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        **env,
    )
    return subprocess.run(
        [sys.executable, "-m", "tools.admin", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def operator_arn() -> str:
    return boto3.client("sts").get_caller_identity()["Arn"]


def request(service, slack: SlackReceiver, user: str = "U0ALICE") -> str:
    command = RequestCommand("ec2-admin", parse_duration("30m"), "INC-42 resize")
    return service.submit(user, command, f"{slack.url}/response/{user}").id


@pytest.fixture
def deployment(app_env: dict, slack: SlackReceiver) -> list[str]:
    """The flags that name the deployment under test."""
    return [
        *("--table", app_env["SWITCHBACK_TABLE"], "--policies", app_env["SWITCHBACK_POLICIES"]),
        *("--webhook-url", app_env["SLACK_WEBHOOK_URL"]),
    ]


def test_revoke_ends_the_grant_as_the_operators_aws_identity(
    service, slack: SlackReceiver, aws: str, deployment: list[str]
) -> None:
    granted = service.approve(request(service, slack), "U0BOB")
    assert granted.state is State.ACTIVE
    assert "alice" in trusted_users(trust_policy())

    done = admin(aws, *deployment, "revoke", granted.id.lower())
    assert done.returncode == 0, done.stderr
    stored = service.store.get_request(granted.id)
    assert stored.state is State.REVOKED
    last = stored.audit[-1]
    assert (last.actor, last.action, last.state) == (f"aws:{operator_arn()}", "revoked", "REVOKED")
    assert "alice" not in trusted_users(trust_policy())
    told = slack.wait_for(lambda p: "revoked" in json.dumps(p) and "an operator" in json.dumps(p))
    assert operator_arn() in json.dumps(told[0])
    assert "<@aws:" not in json.dumps(slack.delivered())  # never a broken Slack mention


def test_show_prints_the_trail_and_records_who_looked(
    service, slack: SlackReceiver, aws: str, deployment: list[str]
) -> None:
    request_id = request(service, slack)
    done = admin(aws, *deployment, "show", request_id)
    assert done.returncode == 0, done.stderr
    assert request_id in done.stdout and "requested by U0ALICE" in done.stdout
    stored = service.store.get_request(request_id)
    assert stored.state is State.PENDING  # looking changes nothing but the trail
    assert (stored.audit[-1].actor, stored.audit[-1].action) == (
        f"aws:{operator_arn()}",
        "viewed",
    )


def test_list_shows_pending_and_active_requests(
    service, slack: SlackReceiver, aws: str, deployment: list[str]
) -> None:
    pending = request(service, slack, "U0CAROL")
    active = service.approve(request(service, slack, "U0ALICE"), "U0BOB").id
    done = admin(aws, *deployment, "list")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith(f"{pending}  PENDING") for line in lines), done.stdout
    assert any(line.startswith(f"{active}  ACTIVE") for line in lines), done.stdout
    assert f"2 open request(s) in switchback, as aws:{operator_arn()}" in done.stdout


def test_sweep_runs_one_pass_now(
    service, clock: Clock, slack: SlackReceiver, aws: str, deployment: list[str]
) -> None:
    clock.now -= timedelta(hours=2)  # asked two hours ago: past its one-hour approval timeout
    stale = request(service, slack)
    done = admin(aws, *deployment, "sweep")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.split("\none sweep pass")[0])["lapsed"] == 1
    stored = service.store.get_request(stale)
    assert stored.state is State.LAPSED
    assert stored.audit[-1].actor == f"aws:{operator_arn()}"  # who ran it, not "switchback"


@pytest.mark.parametrize(
    "args, says",
    [
        (["list"], "which table? give --table or SWITCHBACK_TABLE"),
        (["--table", "switchback", "revoke", "ABCDEFGHJK"], "give --webhook-url"),
        (["--table", "switchback", "show", "not-an-id"], "is not a request id"),
        (["--table", "switchback", "show", "ABCDEFGHJK"], "There is no request ABCDEFGHJK"),
    ],
)
def test_bad_input_is_explained_and_changes_nothing(
    app_env: dict, aws: str, args: list[str], says: str
) -> None:
    done = admin(aws, *args)
    assert done.returncode == 2 and says in done.stderr, done.stderr


def test_a_pending_request_is_not_revoked(
    service, slack: SlackReceiver, aws: str, deployment: list[str]
) -> None:
    pending = request(service, slack)
    done = admin(aws, *deployment, "revoke", pending)
    assert done.returncode == 2 and "pending, not active" in done.stderr
    assert service.store.get_request(pending).state is State.PENDING


def test_against_the_local_stack(tmp_path: Path) -> None:
    with running_stack(tmp_path, "admin-test-secret") as stack:
        status, _ = send(
            stack.api, "admin-test-secret", "U0ALICE", "request ec2-admin 30m INC-7 check", ""
        )
        assert status == 200
        state = {"SWITCHBACK_LOCAL_STATE": str(tmp_path / "stack.json")}
        done = admin(stack.aws_url(), "--local", "list", **state)
        assert done.returncode == 0, done.stderr
        [line] = [x for x in done.stdout.splitlines() if "PENDING" in x]
        assert "ec2-admin" in line and "alice (U0ALICE)" in line
        done = admin(stack.aws_url(), "--local", "sweep", **state)
        assert done.returncode == 0, done.stderr


def test_activity_prints_the_report_read_on_demand_then_the_kept_one(
    service, clock: Clock, slack: SlackReceiver, aws: str, deployment: list[str]
) -> None:
    from chalicelib.aws.cloudtrail import reader
    from testkit.cloudtrail_standin import CloudTrailStandIn, record, session_arn

    grant = service.approve(request(service, slack), "U0BOB")
    alice = session_arn(grant.role_arn, grant.session_name)
    with CloudTrailStandIn().start() as trail:
        trail.add(
            record(
                alice, "ec2", "RunInstances", clock.now + timedelta(minutes=1), resources=["i-0abc"]
            ),
            record(alice, "ec2", "DescribeInstances", clock.now + timedelta(minutes=2)),
        )
        cloudtrail = {"AWS_ENDPOINT_URL_CLOUDTRAIL": trail.url}
        done = admin(aws, *deployment, "activity", grant.id, **cloudtrail)
        assert done.returncode == 0, done.stderr
        assert "2 calls" in done.stdout and "ec2:RunInstances ×1" in done.stdout, done.stdout
        done = admin(aws, *deployment, "activity", grant.id, "--json", **cloudtrail)
        assert done.returncode == 0, done.stderr
        shown = json.loads(done.stdout)
        assert (shown["request_id"], shown["counts"]["writes"]) == (grant.id, 1)
        # Once the sweep has produced it, the kept report is what is shown (no CloudTrail).
        os.environ["AWS_ENDPOINT_URL_CLOUDTRAIL"] = trail.url
        try:
            service.context.cloudtrail = reader({})
            service.revoke(grant.id, "U0ALICE")
            clock.advance(minutes=16)
            assert service.sweep().activity_reports == 1
        finally:
            del os.environ["AWS_ENDPOINT_URL_CLOUDTRAIL"]
    done = admin(aws, *deployment, "activity", grant.id, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == service.activity_report(grant.id).to_dict()
    pending = request(service, slack, "U0CAROL")
    done = admin(aws, *deployment, "activity", pending)
    assert done.returncode == 2 and "was never active" in done.stderr


def test_show_names_an_identity_center_requester_in_words(
    service, slack: SlackReceiver, aws: str, deployment: list[str]
) -> None:
    from dataclasses import replace

    from chalicelib.core.identity import SsoIdentity
    from chalicelib.core.model import new_request_id

    erin = SsoIdentity("123456789012", "Operator", "erin@example.com", "eu-west-1")
    asked = service.store.get_request(request(service, slack))
    stored = replace(asked, id=new_request_id(), principal_arn=erin.principal, version=0)
    service.store.create_request(stored)
    done = admin(aws, *deployment, "show", stored.id)
    assert done.returncode == 0, done.stderr
    assert (
        "  who IAM Identity Center user erin@example.com, permission set Operator in account "
        "123456789012\n"
    ) in done.stdout
    assert f"  principal {erin.principal}\n" in done.stdout  # the exact pattern, for operators


def test_list_all_shows_past_requests_by_role_and_since_and_as_csv(
    service, slack: SlackReceiver, aws: str, deployment: list[str]
) -> None:
    old = service.approve(request(service, slack, "U0ALICE"), "U0BOB").id
    service.revoke(old, "U0ALICE")  # past: no longer open
    denied = request(service, slack, "U0CAROL")
    service.deny(denied, "U0BOB", "no")
    assert "0 open request(s)" in admin(aws, *deployment, "list").stdout
    done = admin(aws, *deployment, "list", "--all", "--role", "ec2-admin", "--since", "30d")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # oldest first; made within one second here, so by id
    assert sorted(lines[:2]) == lines[:2] and len(lines) == 3
    assert {line[:20] for line in lines[:2]} == {f"{old}  REVOKED ", f"{denied}  DENIED  "}
    assert "2 request(s) of ec2-admin since " in lines[2]
    assert "0 request(s)" in admin(aws, *deployment, "list", "--all", "--role", "db").stdout
    csv = admin(aws, *deployment, "list", "--all", "--csv").stdout.splitlines()
    assert csv[0].startswith("id,role,requester,") and len(csv) == 3
    [row] = [line for line in csv if line.startswith(f"{old},ec2-admin,U0ALICE,alice,")]
    assert ",REVOKED," in row
    wrong = admin(aws, *deployment, "list", "--all", "--since", "last quarter")
    assert wrong.returncode == 2 and "--since 'last quarter'" in wrong.stderr
    alone = admin(aws, *deployment, "list", "--csv")
    assert alone.returncode == 2 and "go with --all" in alone.stderr
