"""The activity report (core/activity.py): built from CloudTrail's records, only the granted
role's sessions counted; when it is due and what it covers; shown to people and as JSON."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from chalicelib.core import activity
from chalicelib.core.activity import build_report, produce_report
from chalicelib.core.activity_model import ActivityReport
from chalicelib.core.activity_schedule import (
    DEFAULT_DELAY,
    WINDOW_SLACK,
    ActivityError,
    next_report,
    parse_delay,
    report_due,
)
from chalicelib.core.activity_text import render_text, summary_line
from chalicelib.core.model import AuditEntry, State, iso
from chalicelib.notify.messages import activity_report as slack_report
from testkit.activity_samples import END, ROLE_ARN, START, sample_grant, sample_role
from testkit.cloudtrail_standin import _lookup_event, record, session_arn

OTHER_ROLE = "arn:aws:iam::123456789012:role/ReadOnly"
ALICE = session_arn(ROLE_ARN, "alice")
grant, role = sample_grant, sample_role


def event(minute: int, name: str, source: str = "ec2", identity: str = ALICE, **fields) -> dict:
    """A LookupEvents event, as CloudTrail (and the stand-in) return them."""
    return _lookup_event(
        record(identity, source, name, START + timedelta(minutes=minute), **fields)
    )


def report_of(events: list[dict], truncated: bool = False, request=None) -> ActivityReport:
    request = request or grant()
    window = next_report(request)
    return build_report(events, request, window, ("us-east-1",), END, truncated=truncated)


# -- the report -----------------------------------------------------------------------------------
def test_writes_are_grouped_by_action_with_counts_and_the_first_resources() -> None:
    events = [
        event(2, "RunInstances", resources=["i-0abc1"]),
        event(3, "RunInstances", resources=["i-0abc2"]),
        event(4, "RunInstances", resources=["i-0abc2", "i-0abc3", "i-0abc4"]),
        event(5, "UpdateAutoScalingGroup", "autoscaling", resources=["web-asg"]),
        event(6, "DescribeInstances"),
        event(7, "DescribeInstances"),
    ]
    report = report_of(events)
    assert report.total == 6 and report.read_only == 2 and report.write_count == 4
    run, update = report.writes
    assert (run.action, run.count, run.resources) == (
        "ec2:RunInstances",
        3,
        ("i-0abc1", "i-0abc2", "i-0abc3"),  # the first three distinct names
    )
    assert (update.action, update.count, update.resources) == (
        "autoscaling:UpdateAutoScalingGroup",
        1,
        ("web-asg",),
    )
    assert (
        report.first_call == "2026-11-28T10:02:00Z" and report.last_call == "2026-11-28T10:07:00Z"
    )


def test_only_the_granted_roles_sessions_count() -> None:
    other_role = session_arn(OTHER_ROLE, "alice")
    other_account = session_arn("arn:aws:iam::210987654321:role/AWSEC2FULLACCESS", "alice")
    namesake_user = "arn:aws:iam::123456789012:user/alice"
    other_person = session_arn(ROLE_ARN, "bob")
    shouting = "arn:aws:sts::123456789012:assumed-role/awsec2fullaccess/ALICE"  # IAM ignores case
    events = [
        event(1, "TerminateInstances", identity=other_role),
        event(2, "TerminateInstances", identity=other_account),
        event(3, "CreateAccessKey", "iam", identity=namesake_user),
        event(4, "TerminateInstances", identity=other_person),
        event(5, "StopInstances", identity=shouting),
        event(6, "RunInstances"),
    ]
    report = report_of(events)
    assert [w.action for w in report.writes] == ["ec2:RunInstances", "ec2:StopInstances"]
    assert report.total == 2 and report.not_counted == 4


def test_calls_outside_the_window_and_its_slack_are_not_counted() -> None:
    events = [event(-6, "RunInstances"), event(-4, "StopInstances"), event(64, "StartInstances")]
    events.append(event(66, "RebootInstances"))
    report = report_of(events)
    assert [w.action for w in report.writes] == ["ec2:StartInstances", "ec2:StopInstances"]
    assert report.not_counted == 2


def test_every_denied_call_and_error_is_listed_and_not_a_write() -> None:
    events = [
        event(2, "CreateUser", "iam", error_code="AccessDenied"),
        event(3, "RunInstances", error_code="Client.UnauthorizedOperation"),
        event(4, "DescribeVolumes", error_code="AccessDeniedException"),
        event(5, "RunInstances", error_code="InsufficientInstanceCapacity"),
    ]
    report = report_of(events)
    assert report.writes == () and report.read_only == 0 and report.total == 4
    assert {(d.action, d.errors) for d in report.denied} == {
        ("iam:CreateUser", ("AccessDenied",)),
        ("ec2:RunInstances", ("Client.UnauthorizedOperation",)),
        ("ec2:DescribeVolumes", ("AccessDeniedException",)),
    }
    assert [(e.action, e.errors) for e in report.errors] == [
        ("ec2:RunInstances", ("InsufficientInstanceCapacity",))
    ]


def test_sign_ins_are_the_assume_role_into_it_and_console_sign_ins() -> None:
    user = "arn:aws:iam::123456789012:user/alice"

    def taking(role_arn: str, session: str) -> dict:
        return event(
            1,
            "AssumeRole",
            "sts",
            identity=user,
            request_parameters={"roleArn": role_arn, "roleSessionName": session},
        )

    events = [
        taking("arn:aws:iam::123456789012:role/ops/AWSEC2FULLACCESS", "alice"),
        # Another role, or this role under another session name: not this grant.
        taking(OTHER_ROLE, "alice"),
        taking(ROLE_ARN, "x"),
        event(2, "GetSigninToken", "signin"),
        event(2, "ConsoleLogin", "signin", error_code="Failed authentication"),
    ]
    report = report_of(events)
    assert [(s.kind, s.error) for s in report.sign_ins] == [
        ("AssumeRole", ""),
        ("GetSigninToken", ""),
        ("ConsoleLogin", "Failed authentication"),
    ]
    assert report.writes == () and report.not_counted == 2 and report.total == 3


def test_role_chaining_attempts_by_the_session_are_listed() -> None:
    asking = {"roleArn": OTHER_ROLE}
    events = [
        event(3, "AssumeRole", "sts", request_parameters=asking),
        event(4, "AssumeRole", "sts", request_parameters=asking, error_code="AccessDenied"),
    ]
    report = report_of(events)
    assert [(c.action, c.target, c.error) for c in report.chaining] == [
        ("sts:AssumeRole", OTHER_ROLE, ""),
        ("sts:AssumeRole", OTHER_ROLE, "AccessDenied"),
    ]
    assert [d.action for d in report.denied] == ["sts:AssumeRole"]
    assert report.writes == ()


def test_regions_seen_busiest_first_and_one_event_read_twice_counts_once() -> None:
    same = event(9, "CreateBucket", "s3", region="eu-west-1")
    events = [
        event(2, "RunInstances", region="eu-west-1"),
        same,
        same,
        event(3, "ListBuckets", "s3"),
    ]
    report = report_of(events)
    assert report.regions == (("eu-west-1", 2), ("us-east-1", 1))
    assert report.total == 3


def test_a_record_that_cannot_be_read_is_not_counted_and_breaks_nothing() -> None:
    broken = {"EventId": "x", "CloudTrailEvent": "{not json"}
    report = report_of([broken, {"EventId": "y"}, event(2, "RunInstances")])
    assert report.total == 1 and report.not_counted == 2


def test_truncated_is_carried_and_said() -> None:
    report = report_of([event(2, "RunInstances")], truncated=True)
    assert report.truncated and report.to_dict()["truncated"] is True
    assert "truncated" in summary_line(report)
    assert "TRUNCATED" in render_text(report)


def test_the_summary_reads_as_the_issue_says() -> None:
    events = [
        event(2, "RunInstances", resources=["i-0abcdef0123456789abcdef"]),
        event(9, "RunInstances"),
        event(20, "UpdateAutoScalingGroup", "autoscaling"),
        event(47, "CreateUser", "iam", error_code="AccessDenied"),
        *[event(30, "DescribeInstances") for _ in range(3)],
    ]
    line = summary_line(report_of(events))
    assert line == (
        "alice used ec2-admin 10:02–10:47 UTC — 7 calls, 3 writes: "
        "ec2:RunInstances ×2 (i-0abcdef0123456789abcd…), autoscaling:UpdateAutoScalingGroup ×1; "
        "1 denied: iam:CreateUser ×1"
    )
    assert "made no calls with ec2-admin between 09:55 and 11:05" in summary_line(report_of([]))


def test_json_round_trips_and_the_event_detail_holds_what_the_issue_asks() -> None:
    events = [
        event(2, "RunInstances", resources=["i-1"]),
        event(3, "CreateUser", "iam", error_code="AccessDenied"),
    ]
    report = report_of(events)
    data = json.loads(json.dumps(report.to_dict()))
    assert ActivityReport.from_dict(data) == report
    detail = report.detail()
    assert detail["counts"]["calls"] == 2 and detail["counts"]["writes"] == 1
    assert detail["write_actions"] == [
        {"action": "ec2:RunInstances", "count": 1, "resources": ["i-1"]}
    ]
    assert detail["denied_actions"] == [
        {"action": "iam:CreateUser", "count": 1, "errors": ["AccessDenied"]}
    ]
    assert detail["truncated"] is False and detail["window"]["start"] == "2026-11-28T09:55:00Z"


def test_slack_payload_escapes_what_came_from_cloudtrail() -> None:
    hostile = "<!channel> & <https://evil.example|click>"
    events = [
        event(2, "RunInstances", resources=[hostile]),
        event(3, "Create<b>", "iam", error_code="AccessDenied<@U0X>"),
    ]
    payload = slack_report(
        report_of(events, request=grant(requester_name="al<ice>")), "https://sb.test"
    )
    text = json.dumps(payload)
    assert "<!channel>" not in text and "<https://evil" not in text and "<@U0X>" not in text
    assert "&lt;!channel&gt; &amp;" in text and "al&lt;ice&gt;" in text
    assert "https://sb.test/requests/7K2M9QX4TD" in text
    for block in payload["blocks"]:
        if block["type"] == "section":
            assert block["text"]["verbatim"] is True and len(block["text"]["text"]) <= 3000


# -- the schedule ---------------------------------------------------------------------------------
def test_a_report_is_due_the_delay_after_the_grant_ends_covering_it_with_slack() -> None:
    delay = timedelta(seconds=900)
    assert report_due(grant(), END + delay - timedelta(seconds=1), delay) is None
    window = report_due(grant(), END + delay, delay)
    assert window is not None and window.final
    assert window.start == START - WINDOW_SLACK and window.end == END + WINDOW_SLACK


def test_a_revoked_grant_is_reported_from_its_revoke_not_its_planned_end() -> None:
    revoked_at = START + timedelta(minutes=20)
    audit = grant().audit[:3] + (AuditEntry(iso(revoked_at), "U0BOB", "revoked", State.REVOKED),)
    window = next_report(grant(state=State.REVOKED, audit=audit))
    assert window.end == revoked_at + WINDOW_SLACK
    assert window.due_at == revoked_at + DEFAULT_DELAY


def test_no_report_for_a_grant_never_active_or_a_role_that_opted_out() -> None:
    never = grant(state=State.DENIED, audit=grant().audit[:1], ends_at=None)
    assert next_report(never) is None
    assert next_report(grant(), role=role(activity_report=False)) is None
    assert next_report(grant(), role=role()) is not None


def test_an_active_grant_waits_for_its_end_even_when_extended() -> None:
    active = grant(state=State.ACTIVE, audit=grant().audit[:3])
    assert report_due(active, END + timedelta(minutes=14)) is None
    assert report_due(active, END + timedelta(minutes=15)).final
    extended = replace(active, ends_at=iso(END + timedelta(hours=1)))
    assert report_due(extended, END + timedelta(minutes=15)) is None


def test_break_glass_is_reported_every_hour_while_active_then_whole() -> None:
    ends = START + timedelta(hours=3)
    active = grant(state=State.ACTIVE, audit=grant().audit[:3], ends_at=iso(ends), break_glass=True)
    first = next_report(active)
    assert not first.final and first.sequence == 0
    assert first.start == START - WINDOW_SLACK
    assert first.end == START + timedelta(hours=1) + WINDOW_SLACK
    assert first.due_at == START + timedelta(hours=1, minutes=15)
    second = next_report(active, reported=1)
    assert second.start == START + timedelta(hours=1) - WINDOW_SLACK
    assert second.due_at == START + timedelta(hours=2, minutes=15)
    third = next_report(active, reported=2)  # the last hour ends with the grant: the whole one
    assert third.final and third.start == START - WINDOW_SLACK
    assert third.due_at == ends + DEFAULT_DELAY
    ended = replace(active, state=State.EXPIRED)
    assert next_report(ended, reported=1).final


@pytest.mark.parametrize("text, seconds", [(None, 900), ("", 900), ("0", 0), (" 60 ", 60)])
def test_the_delay_setting(text: str | None, seconds: int) -> None:
    assert parse_delay(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["-1", "15m", "1.5"])
def test_a_wrong_delay_setting_names_the_variable(text: str) -> None:
    with pytest.raises(ActivityError, match="SWITCHBACK_ACTIVITY_DELAY"):
        parse_delay(text)


# -- producing one through the port ---------------------------------------------------------------
class FakeCloudTrail:
    home_region = "eu-west-1"

    def __init__(self, events: list[dict]):
        self.events = events
        self.asked: list[tuple] = []

    def lookup(self, role_arn, session_name, start, end, regions):
        self.asked.append((role_arn, session_name, start, end, regions))
        return activity.Lookup(events=tuple(self.events), regions=regions, truncated=False)


def test_produce_report_reads_the_roles_regions_for_the_window() -> None:
    port = FakeCloudTrail([event(2, "RunInstances")])
    report = produce_report(grant(), role(), port, END + timedelta(hours=1))
    assert port.asked == [
        (
            ROLE_ARN,
            "alice",
            START - WINDOW_SLACK,
            END + WINDOW_SLACK,
            ("eu-west-1", "us-east-1"),
        )
    ]
    assert report.regions_read == ("eu-west-1", "us-east-1") and report.write_count == 1
    produce_report(grant(), role(activity_regions=("ap-south-1",)), port, END)
    assert port.asked[-1][-1] == ("ap-south-1",)
    with pytest.raises(ActivityError):
        produce_report(grant(state=State.DENIED, audit=(), ends_at=None), role(), port, END)
