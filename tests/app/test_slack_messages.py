"""Every message Switchback sends in Slack, as received by a local Slack over HTTP: the
approvers' request and each follow-up (who did it), and the requester's path from pending to
granted, reminded and ended."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from chalicelib.core.model import State
from tests.support.slack_team import Team, build_team


@pytest.fixture
def team(app_env, slack, client, tmp_path, monkeypatch) -> Team:
    return build_team(client, slack, tmp_path / "policies", monkeypatch)


def test_the_approvers_request_message(team: Team) -> None:
    request_id = team.request("U0ALICE", "ec2-admin 90m INC-42 resize the ASG")
    [message] = team.slack.delivered("/webhook/approvers")
    assert message["text"] == "alice requests ec2-admin for 1h30m"
    section, actions = message["blocks"]
    assert section["text"]["text"] == (
        f":key: *Access request* `{request_id}`\n"
        "*Requester:* <@U0ALICE> (alice)\n"
        "*Role:* `ec2-admin` — Full EC2 access\n"
        "*Duration:* 1h30m\n"
        "*Reason:* “INC-42 resize the ASG”\n"
        f"*Request:* `{request_id}` · approvals 0 of 1"
    )
    [button] = actions["elements"]
    assert button["url"].endswith(f"/requests/{request_id}") and button["text"]["text"] == "Review"


def test_two_approvals_then_granted_everyone_hears_who_and_how_far(team: Team) -> None:
    request_id = team.request("U0ALICE", "db-admin 45m INC-7 reindex")
    team.service.approve(request_id, "U0BOB")
    team.service.flush(5.0)
    channel = team.slack.texts("/webhook/db")
    assert channel[-1] == (
        f"Request `{request_id}` (alice, `db-admin`) approved by <@U0BOB> — "
        "1 of 2 approvals; 1 more needed."
    )
    assert team.slack.texts("/response/U0ALICE") == [
        f"Your request `{request_id}` for `db-admin` was approved by <@U0BOB>: "
        "1 of 2 approvals; 1 more needed."
    ]
    team.service.approve(request_id, "U0CAROL")
    team.service.flush(5.0)
    request = team.stored(request_id)
    assert request.state is State.ACTIVE
    assert team.slack.texts("/webhook/db")[-2:] == [
        f"Request `{request_id}` (alice, `db-admin`) approved by <@U0CAROL>.",
        f"Request `{request_id}` (alice, `db-admin`) granted — until {request.ends_at}.",
    ]
    granted = team.slack.texts("/response/U0ALICE")[-1]
    end = request.ends_at.replace("T", " ").replace("Z", " UTC")
    assert "is granted until <!date^" in granted and f"({end}), request `{request_id}`" in granted
    assert "Approved by <@U0BOB>, <@U0CAROL>." in granted
    link = granted.split("*Console:* <", 1)[1].split("|", 1)[0]
    assert parse_qs(urlsplit(link).query) == {
        "account": ["123456789012"],
        "roleName": ["DBADMIN"],
        "displayName": ["db-admin"],
    }
    assert (
        "aws sts assume-role --role-arn arn:aws:iam::123456789012:role/DBADMIN "
        "--role-session-name alice"
    ) in granted
    assert "[profile db-admin]" in granted and "role_session_name = alice" in granted


def test_denied_with_the_reason_given(team: Team) -> None:
    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 x")
    team.service.deny(request_id, "U0CAROL", "use the <runbook> & ask later")
    team.service.flush(5.0)
    assert team.slack.texts("/response/U0ALICE") == [
        f"Your request `{request_id}` for `ec2-admin` was denied by <@U0CAROL>: "
        "use the &lt;runbook&gt; &amp; ask later."
    ]
    assert team.slack.texts("/webhook/approvers")[-1] == (
        f"Request `{request_id}` (alice, `ec2-admin`) denied by <@U0CAROL> — "
        "use the &lt;runbook&gt; &amp; ask later."
    )


def test_lapsed_when_nobody_decides(team: Team) -> None:
    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 x")
    team.clock.advance(minutes=61)  # the role's approval_timeout is 1h
    assert team.sweep().lapsed == 1
    assert team.slack.texts("/webhook/approvers")[-2:] == [
        f"<@U0ALICE> Your request `{request_id}` for `ec2-admin` has lapsed: "
        "nobody decided in time.",
        f"Request `{request_id}` (alice, `ec2-admin`) lapsed.",
    ]


def test_failed_grant_is_explained_to_both_sides(team: Team) -> None:
    request_id = team.request("U0CAROL", "billing 30m audit")
    boto3.client("iam").delete_role(RoleName="BILLING")
    team.service.approve(request_id, "U0BOB")
    team.service.flush(5.0)
    assert team.stored(request_id).state is State.FAILED
    why = "the IAM role arn:aws:iam::123456789012:role/BILLING no longer exists"
    assert team.slack.texts("/response/U0CAROL") == [
        f"Your request `{request_id}` for `billing` could not be granted: {why}."
    ]
    assert team.slack.texts("/webhook/approvers")[-1] == (
        f"Request `{request_id}` (carol, `billing`) failed — {why}."
    )


def test_reminder_shortly_before_the_end_then_expired(team: Team) -> None:
    request_id = team.request("U0ALICE", "ec2-admin 1h INC-1 x")
    team.service.approve(request_id, "U0BOB")
    team.clock.advance(minutes=49)
    assert team.sweep().reminded == 0  # 11 minutes left: not yet
    team.clock.advance(minutes=2)
    assert team.sweep().reminded == 1
    team.clock.advance(minutes=1)
    assert team.sweep().reminded == 0  # once only
    reminders = [t for t in team.slack.texts() if ":hourglass:" in t]
    assert len(reminders) == 1
    # more than 29 minutes after the command: in the approvers' channel, mentioning alice
    assert reminders[0].startswith(
        f"<@U0ALICE> :hourglass: Your access to `ec2-admin` (request `{request_id}`) ends in 9m"
    )
    team.clock.advance(minutes=9)
    assert team.sweep().expired == 1
    assert team.slack.texts("/webhook/approvers")[-2:] == [
        f"<@U0ALICE> Your request `{request_id}` for `ec2-admin` has expired.",
        f"Request `{request_id}` (alice, `ec2-admin`) expired.",
    ]


def test_a_short_grant_is_reminded_in_its_last_quarter_through_response_url(team: Team) -> None:
    request_id = team.request("U0ALICE", "ec2-admin 8m INC-1 x")
    team.service.approve(request_id, "U0BOB")
    team.clock.advance(minutes=5)
    assert team.sweep().reminded == 0  # 3 of 8 minutes left: more than a quarter
    team.clock.advance(seconds=90)
    assert team.sweep().reminded == 1
    reminder = team.slack.texts("/response/U0ALICE")[-1]
    assert reminder.startswith(":hourglass: Your access to `ec2-admin`")
    assert "ends in 1m30s" in reminder


def test_revoked_by_an_approver_and_cancelled_by_the_requester(team: Team) -> None:
    granted = team.request("U0ALICE", "ec2-admin 30m INC-1 x")
    team.service.approve(granted, "U0BOB")
    team.slash("U0BOB", f"revoke {granted}")
    assert team.slack.texts("/response/U0ALICE")[-1] == (
        f"Your request `{granted}` for `ec2-admin` was revoked by <@U0BOB>."
    )
    assert team.slack.texts("/webhook/approvers")[-1] == (
        f"Request `{granted}` (alice, `ec2-admin`) revoked by <@U0BOB>."
    )
    pending = team.request("U0ALICE", "ec2-admin 30m INC-2 y")
    team.slash("U0ALICE", f"cancel {pending}")
    assert team.slack.texts("/webhook/approvers")[-1] == (
        f"Request `{pending}` (alice, `ec2-admin`) cancelled by <@U0ALICE>."
    )
