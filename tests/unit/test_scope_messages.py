"""What Slack, the review page and the operator CLI say about scoped grants and scheduled
windows: the scope and its actions, the start in local time and UTC, escaped like the rest."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from chalicelib.core.catalog import RoleSpec, Scope
from chalicelib.core.decisions import approve
from chalicelib.core.model import AccessRequest, State, iso, transition
from chalicelib.core.scopes import narrow, scoped
from chalicelib.notify import messages

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
ROLE_ARN = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"
READ_ONLY = Scope("read-only", ("ec2:Describe*", "ec2:Get*"))
ROLE = RoleSpec(
    name="ec2-admin",
    role_arn=ROLE_ARN,
    description="Full EC2",
    max_duration=timedelta(hours=4),
    default_duration=timedelta(hours=1),
    requesters=("*",),
    approvers=("U0BOB",),
    scopes=(READ_ONLY,),
)
START = datetime(2026, 11, 28, 21, 0, tzinfo=UTC)  # 22:00 in Berlin


def request(scope: Scope | None = READ_ONLY, starts: datetime | None = START) -> AccessRequest:
    made = AccessRequest(
        id="7QK2M9TX4B",
        role="ec2-admin",
        role_arn=ROLE_ARN,
        requester="U0ALICE",
        requester_name="alice",
        principal_arn="arn:aws:iam::123456789012:user/alice",
        duration_seconds=7200,
        reason="CHG-9 migration",
        created_at=iso(NOW),
        approval_deadline=iso(NOW + timedelta(hours=1)),
        approvals_required=1,
        starts_at=iso(starts) if starts else None,
    )
    return scoped(transition(made, State.PENDING, "U0ALICE", "requested", NOW), scope)


def text_of(payload: dict) -> str:
    return json.dumps(payload)


def test_the_approvers_message_shows_the_scope_its_actions_and_the_start():
    payload = messages.approvers_new_request(request(), ROLE, "https://access.example.com")
    body = payload["blocks"][0]["text"]["text"]
    assert "*Scope:* `read-only` only: `ec2:Describe*`, `ec2:Get*` — every other action" in body
    assert "*Starts:* <!date^1795899600^" in body and "(2026-11-28 21:00 UTC)" in body
    assert payload["text"] == (
        "alice requests ec2-admin for 2h (scope read-only only) from 2026-11-28 21:00:00 UTC"
    )


def test_the_whole_role_adds_nothing():
    payload = messages.approvers_new_request(request(None, None), ROLE, "https://x")
    body = payload["blocks"][0]["text"]["text"]
    assert "Scope" not in body and "Starts" not in body


def test_the_pending_answer_echoes_the_start_in_local_time_and_utc():
    answer = messages.request_pending(
        request(), ROLE, timedelta(hours=2), "U0ALICE", tz_name="Europe/Berlin"
    )
    assert "for 2h, starting 2026-11-28 22:00 Europe/Berlin (21:00 UTC) is pending." in answer
    assert "Scope: `read-only` only: `ec2:Describe*`, `ec2:Get*`" in answer
    unknown = messages.request_pending(request(), ROLE, timedelta(hours=2), "U0ALICE")
    assert "starting 2026-11-28 21:00 UTC is pending" in unknown


def test_the_granted_message_shows_the_scope_and_the_start():
    granted = replace(request(), state=State.ACTIVE, ends_at=iso(START + timedelta(hours=2)))
    text = messages.requester_granted(granted, ROLE)
    assert "is granted from <!date^1795899600^" in text
    assert "*Scope:* `read-only` only: `ec2:Describe*`, `ec2:Get*`" in text


def test_a_scope_and_actions_are_escaped_whatever_the_store_holds():
    hostile = replace(request(), scope="<!here>", scope_actions=("<@U0EVE>&",))
    for text in (
        messages.approvers_new_request(hostile, ROLE, "https://x")["blocks"][0]["text"]["text"],
        messages.request_pending(hostile, ROLE, None, "U0ALICE"),
        messages.requester_scheduled(hostile, "U0BOB"),
        messages.requester_narrowed(hostile, "U0BOB"),
    ):
        assert "<!here>" not in text and "<@U0EVE>" not in text
        assert "&lt;!here&gt;" in text and "&lt;@U0EVE&gt;&amp;" in text
    reminder = messages.start_reminder(hostile, NOW)  # names the scope, not its actions
    assert "<!here>" not in reminder and "&lt;!here&gt;" in reminder


def test_a_long_scope_is_listed_in_part_within_slacks_limits():
    many = Scope("wide", tuple(f"ec2:DescribeSomethingRatherLong{n:02d}*" for n in range(50)))
    payload = messages.approvers_new_request(request(many), ROLE, "https://x")
    body = payload["blocks"][0]["text"]["text"]
    assert "and 30 more" in body and len(body) <= messages.SECTION_LIMIT


def test_the_scheduled_message_and_the_reminder():
    approved = approve(request(), "U0BOB", NOW, ROLE)
    assert approved.state is State.SCHEDULED
    text = messages.requester_scheduled(approved, "U0BOB", "Europe/Berlin")
    assert "was approved by <@U0BOB>. It starts <!date^1795899600^" in text
    assert "(2026-11-28 22:00 Europe/Berlin (21:00 UTC)) and ends" in text
    assert "Nothing works before the start" in text and "`/access cancel 7QK2M9TX4B`" in text
    reminder = messages.start_reminder(approved, START - timedelta(minutes=15), "Europe/Berlin")
    assert "starts in 15m," in reminder and "for 2h, scope `read-only`" in reminder


def test_the_narrowed_message_to_the_requester():
    narrowed = narrow(request(None), "read-only", "U0BOB", NOW, ROLE)
    text = messages.requester_narrowed(narrowed, "U0BOB")
    assert text.startswith(":scissors: <@U0BOB> narrowed your request `7QK2M9TX4B`")
    assert "to `read-only` only: `ec2:Describe*`, `ec2:Get*`" in text


def test_list_shows_a_scheduled_window():
    approved = approve(request(), "U0BOB", NOW, ROLE)
    [_, line, *_] = messages.list_answer([approved], [], NOW)
    assert line == (
        "• `7QK2M9TX4B` `ec2-admin` scheduled, starts in 11h (2026-11-28 21:00:00 UTC) for 2h, "
        "scope `read-only`"
    )


def test_the_review_page_and_cli_pieces_are_plain_text():
    approved = approve(request(), "U0BOB", NOW, ROLE)
    assert messages.scheduled_summary(approved, NOW) == (
        "starts 2026-11-28 21:00:00 UTC (in 11h), ends 2026-11-28 23:00:00 UTC"
    )
    assert messages.scheduled_summary(approved, START).startswith("started 2026-11-28 21:00")
    assert messages.scheduled_summary(request(None, None), NOW) == ""
    assert messages.scope_summary(approved) == (
        "read-only: ec2:Describe*, ec2:Get* (every other action denied)"
    )
    assert messages.scope_summary(request(None)) == "the whole role"
    assert messages.scheduled_line(approved, NOW) == (
        "7QK2M9TX4B  alice -> ec2-admin  scheduled  2h, starts 2026-11-28 21:00:00 UTC (in 11h), "
        "ends 2026-11-28 23:00:00 UTC, read-only: ec2:Describe*, ec2:Get* (every other action "
        "denied)"
    )


def test_approvers_hear_the_scheduled_approval_in_words():
    approved = approve(request(), "U0BOB", NOW, ROLE)
    update = messages.approvers_update(approved, "scheduled", "U0BOB")
    assert "approved for its later start by <@U0BOB>" in update["text"]
