"""Slack messages: user text escaped, blocks within Slack's limits, links and commands right."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.core.catalog import RoleSpec
from chalicelib.core.model import AccessRequest, iso
from chalicelib.delivery.slack import Outcome, judge
from chalicelib.notify import messages
from tests.support.requests import a_request

NOW = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)
ROLE_ARN = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"
BASE = "https://switchback.example.com"
HOSTILE = ["<@U123>", "<!channel>", "<!here>", "<https://evil|click>", "<#C123>"]

ROLE = RoleSpec(
    name="ec2-admin",
    role_arn=ROLE_ARN,
    description="Full EC2 access",
    max_duration=timedelta(hours=4),
    default_duration=timedelta(hours=1),
    requesters=("*",),
    approvers=("U0BOB",),
)


def request(**changes) -> AccessRequest:
    return a_request(
        **{"duration_seconds": 5400, "ends_at": iso(NOW + timedelta(minutes=90)), **changes}
    )


def all_texts(payload: dict) -> list[str]:
    """Every text Slack renders in a payload, top-level and inside blocks."""
    found = [payload["text"]] if "text" in payload else []
    for block in payload.get("blocks", []):
        if "text" in block:
            found.append(block["text"]["text"])
        for element in block.get("elements", []):
            found.append(element["text"]["text"])
    return found


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("<@U123>", "&lt;@U123&gt;"),
        ("<!channel>", "&lt;!channel&gt;"),
        ("<https://evil|click>", "&lt;https://evil|click&gt;"),
        ("a & b", "a &amp; b"),
        ("&lt;", "&amp;lt;"),  # typed entities stay literal text
        ("plain *bold* `code`", "plain *bold* `code`"),
    ],
)
def test_escape(raw, escaped):
    assert messages.escape(raw) == escaped


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=50))
def test_escape_leaves_no_markup_characters(text):
    escaped = messages.escape(text)
    assert "<" not in escaped and ">" not in escaped
    unescaped = escaped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert unescaped == text


def test_user_text_cannot_ping_or_link_in_the_approvers_message():
    for hostile in HOSTILE:
        r = request(reason=f"{hostile} please", requester_name=f"al{hostile}ice")
        payload = messages.approvers_new_request(r, ROLE, BASE)
        for text in all_texts(payload):
            assert hostile not in text
        section = payload["blocks"][0]["text"]["text"]
        assert messages.escape(hostile) in section
        assert "<@U0ALICE>" in section  # our own mention of the requester stays a mention


def test_user_text_is_escaped_in_updates():
    for hostile in HOSTILE:
        r = request(requester_name=hostile, role="ec2-admin")
        update = messages.approvers_update(r, "denied", "U0BOB", detail=hostile)
        for text in all_texts(update):
            assert hostile not in text
        assert hostile not in messages.requester_update(r, "denied", "U0BOB", hostile)


def test_long_reason_is_clipped_to_slack_section_limit():
    r = request(reason="x" * 5000)
    payload = messages.approvers_new_request(r, ROLE, BASE)
    sections = [b for b in payload["blocks"] if b["type"] == "section"]
    assert sections
    for block in sections:
        assert len(block["text"]["text"]) <= 3000
    text = sections[0]["text"]["text"]
    # the reason is cut, not the facts after it: id and approvals stay readable
    assert "x" * 1999 + "…”\n*Request:* `7QK2M9TX4B` · approvals 0 of 1" in text
    assert "x" * 2001 not in text


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=4000), st.text(max_size=200))
def test_every_block_fits_whatever_the_text(reason, name):
    r = request(reason=reason, requester_name=name)
    payloads = [
        messages.approvers_new_request(r, ROLE, BASE),
        messages.approvers_update(r, "denied", "U0BOB", reason),
        messages.ephemeral(reason),
        messages.to_requester(reason),
    ]
    for payload in payloads:
        for block in payload["blocks"]:
            if block["type"] == "section":
                assert len(block["text"]["text"]) <= messages.SECTION_LIMIT
            for element in block.get("elements", []):
                assert len(element["text"]["text"]) <= messages.BUTTON_LIMIT


def test_clip():
    assert messages.clip("abc", 3) == "abc"
    assert messages.clip("abcd", 3) == "ab…"
    assert len(messages.clip("y" * 10_000, 3000)) == 3000


def test_new_request_has_a_review_button_to_the_page():
    payload = messages.approvers_new_request(request(), ROLE, BASE)
    buttons = [
        element
        for block in payload["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]
    assert len(buttons) == 1
    assert buttons[0]["type"] == "button"
    assert buttons[0]["text"]["text"] == "Review"
    assert buttons[0]["url"] == f"{BASE}/requests/7QK2M9TX4B"
    section = payload["blocks"][0]["text"]["text"]
    for fact in ("7QK2M9TX4B", "ec2-admin", "1h30m", "INC-42 resize the ASG", "Full EC2 access"):
        assert fact in section
    assert payload["text"] == "alice requests ec2-admin for 1h30m"


def test_review_url():
    assert messages.review_url(BASE, "7QK2M9TX4B") == f"{BASE}/requests/7QK2M9TX4B"


def test_switch_role_url():
    url = messages.switch_role_url(ROLE, request())
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "signin.aws.amazon.com",
        "/switchrole",
    )
    assert parse_qs(parts.query) == {
        "account": ["123456789012"],
        "roleName": ["AWSEC2FULLACCESS"],
        "displayName": ["ec2-admin"],
    }


@pytest.mark.parametrize(
    ("partition", "host"),
    [("aws-us-gov", "signin.amazonaws-us-gov.com"), ("aws-cn", "signin.amazonaws.cn")],
)
def test_switch_role_url_uses_the_partitions_sign_in_host(partition, host):
    arn = f"arn:{partition}:iam::123456789012:role/Ops"
    parts = urlsplit(messages.switch_role_url(None, request(role_arn=arn)))
    assert parts.netloc == host
    assert parse_qs(parts.query)["roleName"] == ["Ops"]


def test_switch_role_url_names_a_role_under_a_path_with_its_path():
    arn = "arn:aws:iam::123456789012:role/ops/oncall/Ec2Admin"
    parts = urlsplit(messages.switch_role_url(None, request(role_arn=arn)))
    assert parse_qs(parts.query)["roleName"] == ["ops/oncall/Ec2Admin"]


def test_switch_role_url_escapes_the_display_name():
    url = messages.switch_role_url(None, request(role="a&b=c d"))
    assert parse_qs(urlsplit(url).query)["displayName"] == ["a&b=c d"]


def test_cli_command_without_mfa():
    command = messages.cli_command(request())
    assert command == (f"aws sts assume-role --role-arn {ROLE_ARN} --role-session-name alice")
    assert "--serial-number" not in command


def test_cli_command_with_mfa():
    r = request(require_mfa=True)
    assert "--role-session-name alice" in messages.cli_command(r)
    assert "--serial-number <your MFA device ARN> --token-code <code>" in messages.cli_command(r)
    serial = "arn:aws:iam::123456789012:mfa/alice"
    assert f"--serial-number {serial}" in messages.cli_command(r, serial)


def test_aws_config_profile():
    profile = messages.aws_config_profile(request(principal_arn="arn:aws:iam::1:user/p/al.ice"))
    assert profile.splitlines() == [
        "[profile ec2-admin]",
        f"role_arn = {ROLE_ARN}",
        "source_profile = default",
        "role_session_name = al.ice",
    ]
    assert "mfa_serial" in messages.aws_config_profile(request(require_mfa=True))


def test_requester_granted_has_link_cli_profile_and_end():
    text = messages.requester_granted(request(), ROLE)
    assert messages.switch_role_url(ROLE, request()) in text
    assert messages.cli_command(request()) in text
    assert "[profile ec2-admin]" in text
    assert "2026-11-28T11:30:00Z" in text  # the fallback of Slack's date formatting
    assert "/access revoke 7QK2M9TX4B" in text


def test_when():
    assert messages.when(None) == "—"
    text = messages.when("2026-11-28T11:30:00Z")
    stamp = int(datetime(2026, 11, 28, 11, 30, tzinfo=UTC).timestamp())
    assert text.startswith(f"<!date^{stamp}^") and text.endswith("|2026-11-28T11:30:00Z>")


def test_updates_name_the_actor_except_the_broker():
    r = request()
    assert "<@U0BOB>" in messages.requester_update(r, "denied", "U0BOB")
    assert "<@" not in messages.requester_update(r, "expired", "switchback")
    assert "by" not in messages.approvers_update(r, "lapsed", None)["text"]
    assert messages.approvers_update(r, "granted", None, "until x")["text"] == (
        "Request `7QK2M9TX4B` (alice, `ec2-admin`) granted — until x."
    )


def test_ephemeral_and_to_requester_stay_private():
    assert messages.ephemeral("hi")["response_type"] == "ephemeral"
    later = messages.to_requester("hi")
    assert later["response_type"] == "ephemeral" and later["replace_original"] is False


# -- delivery.judge: what a Slack webhook's answer means ---------------------------------------


def test_judge_delivered():
    assert judge(200, "ok", {}) == Outcome(delivered=True)
    assert judge(204, "", {}).delivered


@pytest.mark.parametrize(
    "headers",
    [
        {"Retry-After": "30"},
        {"retry-after": "30"},
        {"RETRY-AFTER": ["30"]},
        {"Retry-After": ["30", "99"]},
        {"Retry-After": 30},
    ],
)
def test_judge_rate_limited_reads_retry_after(headers):
    outcome = judge(429, "rate_limited", headers)
    assert outcome == Outcome(
        delivered=False, permanent=False, retry_after=30.0, error="rate limited (rate_limited)"
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"},
        {"Retry-After": []},
        {"Retry-After": "nan"},
        {"Retry-After": "-5"},
        {"Retry-After": "inf"},
    ],
)
def test_judge_rate_limited_without_a_usable_retry_after(headers):
    outcome = judge(429, "", headers)
    assert not outcome.delivered and not outcome.permanent
    assert outcome.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_judge_retryable(status):
    outcome = judge(status, "upstream trouble", {})
    assert not outcome.delivered and not outcome.permanent and outcome.retry_after is None
    assert str(status) in outcome.error and "upstream trouble" in outcome.error


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, "channel_not_found"),
        (400, "invalid_payload"),
        (403, "action_prohibited"),
        (403, ""),
        (410, "channel_is_archived"),
        (404, "no_service"),
    ],
)
def test_judge_permanent(status, body):
    outcome = judge(status, body, {})
    assert not outcome.delivered and outcome.permanent
    assert str(status) in outcome.error
    assert (body or f"HTTP {status}") in outcome.error


def test_judge_caps_a_huge_retry_after():
    assert judge(429, "", {"Retry-After": "1e15"}).retry_after == 86400.0
    assert judge(429, "", {"Retry-After": "0"}).retry_after == 0.0


def test_judge_clips_long_bodies():
    assert len(judge(500, "x" * 10_000, {}).error) < 300


# -- clipping markup, packing sections, Slack's entities ---------------------------------------


def test_clip_never_leaves_half_an_entity_or_a_link():
    assert messages.clip("abc &amp; def", 7) == "abc …"
    assert messages.clip("see <https://x.example|link> now", 20) == "see …"
    assert messages.clip("a <@U0BOB> b", 12) == "a <@U0BOB> b"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.integers(min_value=2, max_value=200))
def test_clipped_escaped_text_is_a_prefix_of_the_original(text, limit):
    clipped = messages.clip(messages.escape(text), limit)
    assert len(clipped) <= limit
    if clipped.endswith("…") and clipped != messages.escape(text):
        shown = clipped[:-1]
        assert "<" not in shown and ">" not in shown
        assert text.startswith(messages.unescape(shown))


def test_unescape_undoes_slacks_escaping_only():
    assert messages.unescape("a &lt;b&gt; &amp;lt; &quot;") == "a <b> &lt; &quot;"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_unescape_inverts_escape(text):
    assert messages.unescape(messages.escape(text)) == text


def test_sections_pack_lines_within_limits():
    lines = [f"line {n} " + "x" * 500 for n in range(30)]
    blocks = messages.sections(lines)
    assert all(len(b["text"]["text"]) <= messages.SECTION_LIMIT for b in blocks)
    assert "\n".join(b["text"]["text"] for b in blocks) == "\n".join(lines)
    assert len(blocks) == 6  # five 507-character lines fit in 3,000 with their newlines
    assert all(b["text"]["verbatim"] is True for b in blocks)


def test_sections_stop_at_slacks_block_limit():
    blocks = messages.sections(["y" * 2999] * 80)
    assert len(blocks) == messages.BLOCKS_LIMIT
    assert blocks[-1]["text"]["text"] == "… and more; the rest is not shown."
    assert messages.sections([]) == [messages.section(" ")]


def test_left_text():
    assert messages.left_text(timedelta(minutes=29, seconds=59)) == "29m"
    assert messages.left_text(timedelta(seconds=90)) == "1m30s"
    assert messages.left_text(timedelta(seconds=-5)) == "0s"


def test_roles_answer_lists_terms_and_slots():
    lines = messages.roles_answer([ROLE], {"ec2-admin": 5})
    assert lines == [
        "*Roles you may request:*",
        "• `ec2-admin` — Full EC2 access · default 1h, at most 4h · 1 approval from "
        "<@U0BOB> · 5 grant slots left",
    ]
    mfa = replace(ROLE, require_mfa=True, reason_pattern="INC-<\\d+>")
    [_, line] = messages.roles_answer([mfa], {})
    assert line.endswith(
        "grant slots left: unknown right now · needs MFA · reason must match `INC-&lt;\\d+&gt;`"
    )
    assert messages.roles_answer([], {}) == ["There are no roles you may request."]


def test_list_answer():
    from chalicelib.core.model import State

    pending = request(state=State.PENDING, ends_at=None)
    active = request(id="8QK2M9TX4B", state=State.ACTIVE)  # same age: kept in given order
    lines = messages.list_answer([active, pending], [pending], NOW + timedelta(minutes=10))
    assert lines == [
        "*Your requests:*",
        "• `8QK2M9TX4B` `ec2-admin` active, 1h20m left (until 2026-11-28 11:30:00 UTC)",
        "• `7QK2M9TX4B` `ec2-admin` pending for 1h30m (0 of 1 approval; 1 more needed, "
        "lapses in 50m)",
        "*Waiting for your approval:*",
        "• `7QK2M9TX4B` alice → `ec2-admin` 1h30m (0 of 1 approval; 1 more needed, "
        "lapses in 50m): “INC-42 resize the ASG”",
    ]


def test_reminder_names_the_end():
    text = messages.requester_reminder(request(), NOW + timedelta(minutes=80))
    assert "ends in 10m" in text and "(2026-11-28 11:30:00 UTC)" in text
    assert "`/access request ec2-admin …`" in text


def test_direct_message_and_channel_note():
    dm = messages.direct_message("U0ALICE", "hi <there>")
    assert dm["channel"] == "U0ALICE" and dm["text"] == "hi <there>"
    note = messages.to_requester_in_channel("U0ALICE", "hi")
    assert note["text"] == "<@U0ALICE> hi" and note["blocks"][0]["text"]["verbatim"] is True
