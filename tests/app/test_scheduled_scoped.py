"""Scoped grants and scheduled windows through the app (chalice.test.Client, local stage): the
slash command, the review page and its narrow button, the sweep at a moved clock; what IAM
holds read by the independent evaluator (tests/support/iam_eval.py)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from chalicelib import wiring
from chalicelib.core.model import State, iso
from testkit.slack_standin import SlackReceiver
from tests.app.test_review import EC2, Site, write_policies
from tests.conftest import ROOT, Clock, signed_command, trust_policy
from tests.support.iam_eval import can_assume, session_may
from tools import admin

SCOPED_EC2 = EC2 + (
    '\n[scopes.read-only]\nactions = ["ec2:Describe*", "ec2:Get*"]\n'
    'description = "look, do not touch"\n'
)
ALICE = "arn:aws:iam::123456789012:user/alice"


@pytest.fixture
def site(app_env, slack: SlackReceiver, tmp_path: Path, monkeypatch) -> Site:
    from chalice.test import Client

    import app
    from chalicelib.policies import load_catalog
    from tools.local_stack import ensure_aws_resources

    write_policies(tmp_path, ec2=SCOPED_EC2)
    monkeypatch.setenv("SWITCHBACK_POLICIES", str(tmp_path))
    ensure_aws_resources(load_catalog(tmp_path), "switchback")
    wiring.reset()
    clock = Clock()
    wiring.service().clock = clock
    with Client(app.app, stage_name="local", project_dir=str(ROOT)) as client:
        yield Site(client, clock, slack, tmp_path)


def slash(site: Site, user: str, text: str) -> str:
    body, headers = signed_command(user, text, f"{site.slack.url}/response/{user}")
    return site.client.http.post("/slack/commands", body=body, headers=headers).body.decode()


def ours(role: str = "AWSEC2FULLACCESS") -> list[dict]:
    return [s for s in trust_policy(role)["Statement"] if s.get("Sid", "").startswith("Switchback")]


def limits() -> tuple[dict, str]:
    import json

    import boto3

    iam = boto3.client("iam")
    name = wiring.service().writer.limits_policy
    document = iam.get_role_policy(RoleName="AWSEC2FULLACCESS", PolicyName=name)["PolicyDocument"]
    role_id = iam.get_role(RoleName="AWSEC2FULLACCESS")["Role"]["RoleId"]
    return (json.loads(document) if isinstance(document, str) else document), role_id


def test_a_scoped_window_two_minutes_ahead_is_granted_at_its_start_with_the_scope_deny(
    site: Site,
) -> None:
    start = (site.clock.now + timedelta(minutes=2)).replace(second=0)
    at = f"at {start:%Y-%m-%d %H:%M} UTC"  # the day too: a bare time may cross midnight
    answer = slash(site, "U0ALICE", f"request ec2-admin 30m scope=read-only {at} INC-7 review")
    rid = re.search(r"Request `([0-9A-Z]{10})`", answer).group(1)
    assert f"{start:%Y-%m-%d %H:%M} UTC" in answer and "ec2:Describe*" in answer
    page = site.page(rid, "U0BOB")
    assert "id=scope>read-only: ec2:Describe*, ec2:Get* (every other action denied)" in page
    assert "id=starts>starts" in page and "NotAction" in page

    assert site.post(rid, "U0BOB", "approve").status_code == 303
    assert site.stored(rid).state is State.SCHEDULED
    assert "Approved ahead" in site.page(rid, "U0BOB")
    site.sweep()  # more than a minute before the start: nothing
    assert site.stored(rid).state is State.SCHEDULED and ours() == []
    listed = slash(site, site.stored(rid).requester, "list")
    assert rid in listed and "starts in" in listed
    line = admin.describe(site.stored(rid))  # `python -m tools.admin list`
    assert line.startswith(rid) and "scheduled" in line and "read-only: ec2:Describe*" in line
    assert "SCHEDULED" in admin.LISTED_STATES

    site.clock.now = start - timedelta(seconds=30)
    site.sweep()
    granted = site.stored(rid)
    assert granted.state is State.ACTIVE and granted.ends_at == iso(start + timedelta(minutes=30))
    trust = ours()
    assert len(trust) == 1
    user = granted.principal_arn
    name = user.rsplit("/", 1)[1]
    assert not can_assume({"Statement": trust}, user, name, start - timedelta(seconds=1))
    assert can_assume({"Statement": trust}, user, name, start + timedelta(seconds=1))
    document, role_id = limits()
    issued = start + timedelta(seconds=5)
    assert session_may([document], role_id, name, issued, issued, "ec2:DescribeInstances")
    assert not session_may([document], role_id, name, issued, issued, "ec2:TerminateInstances")


def test_an_approver_narrows_a_whole_role_request_then_approves_it(site: Site) -> None:
    rid = site.request("U0ALICE", "request ec2-admin 30m INC-8 look at the ASG")
    assert "action='" + rid + "/narrow'" in site.page(rid, "U0BOB")
    assert "/narrow'" not in site.page(rid, "U0ALICE")
    assert site.post(rid, "U0ALICE", "narrow", scope="read-only").status_code == 409
    assert site.post(rid, "U0BOB", "narrow", scope="read-only").status_code == 303
    narrowed = site.stored(rid)
    assert narrowed.scope == "read-only" and narrowed.state is State.PENDING
    assert narrowed.audit[-1].action == "narrowed" and narrowed.audit[-1].actor == "U0BOB"
    assert any(":scissors:" in t for t in site.slack.texts("/response/U0ALICE"))
    assert "/narrow'" not in site.page(rid, "U0BOB")  # narrowed once

    assert site.post(rid, "U0BOB", "approve").status_code == 303
    document, role_id = limits()
    now = site.clock.now
    assert site.stored(rid).state is State.ACTIVE
    assert session_may([document], role_id, "alice", now, now, "ec2:DescribeInstances")
    assert not session_may([document], role_id, "alice", now, now, "ec2:RunInstances")


def test_the_start_is_read_in_the_slack_time_zone_and_echoed_in_both(
    site: Site, monkeypatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_API_URL", f"{site.slack.url}/api/")
    site.slack.time_zones = {"U0ALICE": "America/New_York"}
    site.reload_policies()
    answer = slash(site, "U0ALICE", "request ec2-admin 1h at tomorrow 09:00 INC-9 migration")
    assert "09:00 America/New_York (" in answer and "UTC" in answer
    assert site.slack.user_lookups == ["U0ALICE"]
    unknown = slash(site, "U0DAVE", "request ec2-admin 1h at tomorrow 09:00 INC-9 migration")
    assert "read as UTC" in unknown


def test_help_and_roles_mention_scopes_and_later_windows(site: Site) -> None:
    help_text = slash(site, "U0ALICE", "help")
    assert "scope=" in help_text and "at 22:00" in help_text
    roles = slash(site, "U0ALICE", "roles")
    assert "`read-only`" in roles and "`at <time>`" in roles


def test_a_scheduled_window_is_called_off_from_the_page_or_slack_before_its_start(
    site: Site,
) -> None:
    start = (site.clock.now + timedelta(hours=3)).replace(second=0)
    at = f"at {start:%Y-%m-%d %H:%M} UTC"
    first = site.request("U0ALICE", f"request ec2-admin 1h {at} INC-10 migration")
    second = site.request("U0DAVE", f"request ec2-admin 1h {at} INC-10 migration")
    for rid in (first, second):
        assert site.post(rid, "U0BOB", "approve").status_code == 303
        assert site.stored(rid).state is State.SCHEDULED
    assert "/revoke'" in site.page(first, "U0CAROL")  # an approver may call it off
    assert "/revoke'" not in site.page(first, "U0DAVE")
    assert site.post(first, "U0CAROL", "revoke").status_code == 303
    assert site.stored(first).state is State.CANCELLED
    assert "is cancelled" in slash(site, "U0DAVE", f"cancel {second}")
    assert site.stored(second).state is State.CANCELLED
    site.clock.now = start
    site.sweep()
    assert ours() == []
