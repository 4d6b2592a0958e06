"""Approvers told directly: with a bot token, each approver of the role (its groups' members
included, the requester never) gets the request and its Review link by direct message through
the outbox; each of those gets a short follow-up when the request is decided; a role's
``remind_approvers_after`` reminds the channel once. Plus the role settings of these features."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from chalicelib.core.model import State
from chalicelib.delivery.slack import CHAT_POST_MESSAGE
from chalicelib.policies import PolicyError, load_catalog
from testkit.slack_standin import SlackReceiver
from tests.conftest import BASE_URL, people_toml
from tests.support.bot_site import Site, start_site
from tests.support.slack_team import outbox_messages

PEOPLE = people_toml("alice", "bob", "carol", "dave")
EC2 = """
role_arn = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"
description = "Full EC2 access"
max_duration = "4h"
requesters = ["*"]
approvers = ["S0ONCALL", "U0DAVE"]
remind_approvers_after = "15m"
"""


@pytest.fixture
def site(client, slack: SlackReceiver, tmp_path: Path, monkeypatch) -> Site:
    # alice is in the on-call group too: she never hears about her own request
    slack.groups = {"S0ONCALL": ["U0ALICE", "U0BOB", "U0CAROL", "U0STRANGER"]}
    return start_site(client, slack, tmp_path, monkeypatch, PEOPLE, {"ec2-admin": EC2})


def review_links(payload: dict) -> list[str]:
    return [
        element["url"]
        for block in payload.get("blocks", [])
        for element in block.get("elements", [])
        if "url" in element
    ]


def test_each_approver_gets_a_direct_message_and_a_follow_up_when_decided(site: Site) -> None:
    rid = site.request("U0ALICE", "request ec2-admin 30m INC-1 fix it")
    assert site.stored(rid).told == ("U0BOB", "U0CAROL", "U0DAVE")  # in people.toml, not alice
    for approver in ("U0BOB", "U0CAROL", "U0DAVE"):
        [dm] = site.dms(approver)
        assert review_links(dm) == [f"{BASE_URL}/requests/{rid}"]
        assert "alice requests ec2-admin for 30m" in dm["text"]
    assert site.dms("U0ALICE") == [] and site.dms("U0STRANGER") == []
    assert site.slack.texts("/webhook/approvers")  # the channel still hears
    site.post(rid, "U0CAROL", "approve")
    assert site.stored(rid).state is State.ACTIVE
    for approver in ("U0BOB", "U0CAROL", "U0DAVE"):
        [_, follow_up] = site.dms(approver)
        assert follow_up["text"] == (
            f"Request `{rid}` (alice, `ec2-admin`) approved by <@U0CAROL> — nothing to do."
        )


def test_a_denied_or_cancelled_request_is_followed_up_too(site: Site) -> None:
    denied = site.request("U0ALICE", "request ec2-admin 30m INC-1 fix it")
    site.post(denied, "U0DAVE", "deny")
    assert site.dms("U0BOB")[-1]["text"].endswith("denied by <@U0DAVE> — nothing to do.")
    cancelled = site.request("U0ALICE", "request ec2-admin 30m INC-2 fix it")
    site.slash("U0ALICE", f"cancel {cancelled}")
    assert site.dms("U0BOB")[-1]["text"].endswith("cancelled by <@U0ALICE> — nothing to do.")


def test_direct_messages_go_through_the_outbox_and_survive_slack_failing(
    site: Site, slack: SlackReceiver
) -> None:
    # The channel hears of it; every direct message fails (they are sent side by side).
    slack.answer_for = lambda path, _: (503, "busy", {}) if "chat.postMessage" in path else None
    rid = site.request("U0ALICE", "request ec2-admin 30m INC-1 fix it")
    slack.answer_for = None
    direct = [m for m in outbox_messages() if m["kind"] == "approver.direct"]
    assert {m["url"] for m in direct} == {CHAT_POST_MESSAGE} and len(direct) == 3
    assert site.dms() == []
    site.clock.advance(minutes=2)
    site.sweep()
    assert sorted(dm["channel"] for dm in site.dms()) == ["U0BOB", "U0CAROL", "U0DAVE"]
    assert all(review_links(dm) == [f"{BASE_URL}/requests/{rid}"] for dm in site.dms())


def test_a_still_pending_request_is_reminded_once_in_the_channel(site: Site) -> None:
    rid = site.request("U0ALICE", "request ec2-admin 30m INC-1 fix it")
    site.clock.advance(minutes=14)
    assert site.sweep().approvers_reminded == 0
    site.clock.advance(minutes=1)
    assert site.sweep().approvers_reminded == 1
    site.clock.advance(minutes=1)
    assert site.sweep().approvers_reminded == 0  # once
    reminders = [t for t in site.slack.texts("/webhook/approvers") if "Still waiting" in t]
    assert len(reminders) == 1 and rid in reminders[0] and "after 15m" in reminders[0]


def test_without_a_bot_token_nobody_is_messaged_directly(
    client, slack: SlackReceiver, tmp_path: Path, monkeypatch
) -> None:
    site = start_site(client, slack, tmp_path, monkeypatch, PEOPLE, {"ec2-admin": EC2})
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    from chalicelib import wiring

    wiring.reset()
    wiring.service().clock = site.clock
    rid = site.request("U0ALICE", "request ec2-admin 30m INC-1 fix it")
    assert site.stored(rid).told == () and site.dms() == []


# -- the role settings -----------------------------------------------------------------------
def load(tmp_path: Path, extra: str):
    (tmp_path / "roles").mkdir(exist_ok=True)
    (tmp_path / "people.toml").write_text(PEOPLE)
    (tmp_path / "roles" / "ec2-admin.toml").write_text(EC2 + extra)
    return load_catalog(tmp_path).role("ec2-admin")


def test_break_glass_settings_and_their_defaults(tmp_path: Path) -> None:
    role = load(tmp_path, "")
    assert not role.break_glass and role.remind_approvers_after == timedelta(minutes=15)
    role = load(tmp_path, 'break_glass = true\nbreak_glass_requesters = ["U0DAVE"]\n')
    assert role.break_glass_max == timedelta(hours=1)
    assert role.break_glass_review_within == timedelta(hours=24)
    assert role.break_glass_webhook_url is None
    role = load(
        tmp_path,
        'break_glass = true\nbreak_glass_max = "30m"\nbreak_glass_requesters = ["U0DAVE"]\n'
        'break_glass_webhook_url = "https://hooks.example/x"\nbreak_glass_review_within = "8h"\n',
    )
    assert role.break_glass_max == timedelta(minutes=30)
    assert role.breakglass_requesters == ("U0DAVE",)
    assert role.break_glass_review_within == timedelta(hours=8)


@pytest.mark.parametrize(
    "extra, problem",
    [
        (
            'break_glass = true\nbreak_glass_max = "5h"\n',
            "break_glass_max: 5h is over max_duration",
        ),
        ('break_glass_max = "30m"\n', "break_glass_max: has no effect without break_glass"),
        ("break_glass = 1\n", "break_glass: must be true or false"),
        ('break_glass = true\nbreak_glass_requesters = ["U0X"]\n', "U0X not in people.toml"),
        ('break_glass = true\nbreak_glass_webhook_url = "ftp://x"\n', "must be an http(s) URL"),
    ],
)
def test_bad_break_glass_settings_name_the_field(tmp_path: Path, extra: str, problem: str) -> None:
    with pytest.raises(PolicyError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        load(tmp_path, extra)


def test_a_bad_remind_approvers_after_names_the_field(tmp_path: Path) -> None:
    (tmp_path / "roles").mkdir()
    (tmp_path / "people.toml").write_text(PEOPLE)
    (tmp_path / "roles" / "ec2-admin.toml").write_text(EC2.replace('"15m"', '"soon"'))
    with pytest.raises(PolicyError, match="remind_approvers_after:"):
        load_catalog(tmp_path)
