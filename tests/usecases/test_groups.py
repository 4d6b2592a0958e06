"""Approvers and requesters named by Slack user group: resolved with usergroups.users.list
(the local Slack receiver answers it), cached at most five minutes, checked again at each
decision, refused with a clear message when Slack cannot say (fail closed), and never enough
without an entry in people.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib import wiring
from chalicelib.core.decisions import Refusal, Refused, check_request, may_request
from chalicelib.core.groups import GroupsUnavailable, expand, listed, no_groups
from chalicelib.core.model import State
from chalicelib.delivery.slack_groups import CACHE_SECONDS, SlackGroups
from chalicelib.policies import PolicyError, load_catalog
from testkit.slack_standin import SlackReceiver
from tests.conftest import people_toml
from tests.support.bot_site import BOT_TOKEN, Site, start_site

PEOPLE = people_toml("alice", "bob", "carol", "dave")
ONCALL = """
role_arn = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"
description = "Full EC2 access"
max_duration = "4h"
requesters = ["S0DEVS", "U0DAVE"]
approvers = ["S0ONCALL"]
"""


def down(group: str) -> frozenset[str]:
    raise GroupsUnavailable(f"Slack could not be asked who is in the user group {group}")


# -- pure rules --------------------------------------------------------------------------------
def test_listed_people_need_no_lookup_and_groups_fail_closed() -> None:
    members = {"S0ONCALL": frozenset({"U0BOB"})}.__getitem__
    assert listed(["S0ONCALL"], "U0BOB", members)
    assert not listed(["S0ONCALL"], "U0CAROL", members)
    assert listed(["U0CAROL", "S0ONCALL"], "U0CAROL", down)  # named: Slack is not asked
    assert listed(["*"], "U0CAROL", down)
    with pytest.raises(GroupsUnavailable):
        listed(["U0CAROL", "S0ONCALL"], "U0BOB", down)  # depends on the group: refused
    with pytest.raises(GroupsUnavailable):
        listed(["S0ONCALL"], "U0BOB", no_groups)  # no bot token: never let in
    assert expand(
        ["U0CAROL", "S0ONCALL", "S0GONE"], lambda g: members(g) if g != "S0GONE" else down(g)
    ) == (("U0CAROL", "U0BOB"), ["S0GONE"])


def test_policies_accept_group_ids_and_still_refuse_unknown_people(tmp_path: Path) -> None:
    (tmp_path / "roles").mkdir()
    (tmp_path / "people.toml").write_text(PEOPLE)
    (tmp_path / "roles" / "ec2-admin.toml").write_text(
        ONCALL.replace(
            'approvers = ["S0ONCALL"]', 'approvers = ["S0ONCALL"]\napprovals_required = 3'
        )
    )
    role = load_catalog(tmp_path).role("ec2-admin")
    assert role.approvers == ("S0ONCALL",) and role.requesters == ("S0DEVS", "U0DAVE")
    (tmp_path / "roles" / "ec2-admin.toml").write_text(ONCALL.replace("U0DAVE", "U0NOBODY"))
    with pytest.raises(PolicyError, match="requesters: U0NOBODY not in people.toml"):
        load_catalog(tmp_path)


def test_a_group_member_without_a_people_entry_gets_nothing(tmp_path: Path) -> None:
    (tmp_path / "roles").mkdir()
    (tmp_path / "people.toml").write_text(PEOPLE)
    (tmp_path / "roles" / "ec2-admin.toml").write_text(ONCALL)
    catalog = load_catalog(tmp_path)
    members = {"S0DEVS": frozenset({"U0ALICE", "U0STRANGER"})}.__getitem__
    assert may_request(catalog, "U0ALICE", catalog.role("ec2-admin"), members)
    assert not may_request(catalog, "U0STRANGER", catalog.role("ec2-admin"), members)
    with pytest.raises(Refused) as refused:
        check_request(catalog, "U0ALICE", "ec2-admin", None, "INC-1", down)
    assert refused.value.reason is Refusal.GROUPS_UNAVAILABLE
    assert "Nothing was changed" in refused.value.message


# -- the Slack adapter ---------------------------------------------------------------------------
def test_slack_groups_are_cached_at_most_five_minutes(slack: SlackReceiver) -> None:
    now = [1000.0]
    groups = SlackGroups(BOT_TOKEN, f"{slack.url}/api/", clock=lambda: now[0])
    slack.groups = {"S0ONCALL": ["U0BOB"]}
    assert groups("S0ONCALL") == {"U0BOB"}
    slack.groups = {"S0ONCALL": ["U0CAROL"]}
    now[0] += CACHE_SECONDS - 1
    assert groups("S0ONCALL") == {"U0BOB"}  # cached
    assert slack.group_lookups == ["S0ONCALL"]
    now[0] += 1
    assert groups("S0ONCALL") == {"U0CAROL"}  # five minutes: asked again
    assert len(slack.group_lookups) == 2


def test_slack_groups_fail_closed_with_the_reason(slack: SlackReceiver) -> None:
    groups = SlackGroups(BOT_TOKEN, f"{slack.url}/api/", max_age=0)
    with pytest.raises(GroupsUnavailable, match="no_such_subteam"):
        groups("S0NOPE")
    slack.groups_down = True
    with pytest.raises(GroupsUnavailable, match="S0ONCALL"):
        groups("S0ONCALL")
    dead = SlackGroups(BOT_TOKEN, "http://127.0.0.1:9/api/", timeout=0.5)
    with pytest.raises(GroupsUnavailable, match="could not be asked"):
        dead("S0ONCALL")


# -- end to end on the local stack ---------------------------------------------------------------
@pytest.fixture
def site(client, slack: SlackReceiver, tmp_path: Path, monkeypatch) -> Site:
    slack.groups = {"S0ONCALL": ["U0BOB", "U0CAROL"], "S0DEVS": ["U0ALICE"]}
    return start_site(client, slack, tmp_path, monkeypatch, PEOPLE, {"ec2-admin": ONCALL})


def test_group_members_request_and_approve_and_leaving_the_group_ends_their_say(
    site: Site, slack: SlackReceiver
) -> None:
    rid = site.request("U0ALICE", "request ec2-admin 30m INC-1 fix it")
    assert site.stored(rid).state is State.PENDING
    assert "You may not request" in site.slash("U0CAROL", "request ec2-admin 30m INC-2 x")
    # bob leaves the on-call group; once the cached answer is older than five minutes, his
    # approval is refused at the moment he decides
    slack.groups["S0ONCALL"] = ["U0CAROL"]
    wiring.service().groups._clock = lambda: 10**9  # the cached answer is stale now
    response = site.post(rid, "U0BOB", "approve")
    assert "not an approver" in response.body.decode()
    assert site.stored(rid).state is State.PENDING
    site.post(rid, "U0CAROL", "approve")
    assert site.stored(rid).state is State.ACTIVE


def test_when_slack_cannot_say_decisions_on_groups_are_refused_and_nothing_changes(
    site: Site, slack: SlackReceiver
) -> None:
    rid = site.request("U0ALICE", "request ec2-admin 30m INC-1 fix it")
    slack.groups_down = True
    wiring.service().groups._max_age = 0  # nothing cached: Slack is asked
    response = site.post(rid, "U0BOB", "approve")
    assert "cannot tell right now" in response.body.decode()
    assert site.stored(rid).state is State.PENDING
    site.slash("U0ALICE", f"cancel {rid}")
    answer = site.slash("U0ALICE", "request ec2-admin 30m INC-2 again")
    assert "cannot tell right now" in answer and "Nothing was changed" in answer
    # dave is named directly: Slack need not be asked
    assert "pending" in site.slash("U0DAVE", "request ec2-admin 30m INC-3 named")


def test_a_lookup_never_outlasts_the_callers_budget(slack: SlackReceiver) -> None:
    from chalicelib.core import deadline

    groups = SlackGroups(BOT_TOKEN, f"{slack.url}/api/")
    slack.groups = {"S0ONCALL": ["U0BOB"]}
    with deadline.within(0.3), pytest.raises(GroupsUnavailable, match="no time left"):
        groups("S0ONCALL")  # a slash command with 0.3 s left answers, refusing
    assert slack.group_lookups == []
    with deadline.within(2.5):
        assert groups("S0ONCALL") == {"U0BOB"}


def test_the_sweep_ends_no_grant_because_slack_cannot_say(site: Site, slack: SlackReceiver) -> None:
    rid = site.request("U0ALICE", "request ec2-admin 30m INC-1 fix it")
    site.post(rid, "U0CAROL", "approve")
    assert site.stored(rid).state is State.ACTIVE
    slack.groups_down = True
    wiring.service().groups._max_age = 0
    site.sweep()
    assert site.stored(rid).state is State.ACTIVE  # Slack down is no reason to cut access
    slack.groups_down = False
    slack.groups["S0DEVS"] = []  # alice left the group that lets her request the role
    site.sweep()
    assert site.stored(rid).state is State.FAILED
    assert "may no longer request" in site.stored(rid).failure
