"""Extend and break-glass end to end on the local stack: signed slash commands, the review
page's forms, IAM on moto, the Slack receiver answering the Web API."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import boto3
import pytest

from chalicelib import wiring
from chalicelib.core.model import State, iso
from testkit.slack_standin import SlackReceiver
from tests.conftest import people_toml, trust_policy
from tests.support.bot_site import Site, start_site
from tests.support.iam_eval import can_assume, session_may
from tests.support.trust_view import TABLE

PEOPLE = people_toml("alice", "bob", "carol", "dave")
EC2 = """
role_arn = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"
description = "Full EC2 access"
max_duration = "2h"
requesters = ["*"]
approvers = ["U0BOB", "S0ONCALL"]
break_glass = true
break_glass_max = "30m"
break_glass_requesters = ["U0ALICE", "U0DAVE"]
break_glass_webhook_url = "{webhook}"
break_glass_review_within = "8h"
"""


@pytest.fixture
def site(client, slack: SlackReceiver, tmp_path: Path, monkeypatch) -> Site:
    slack.groups = {"S0ONCALL": ["U0CAROL"]}
    roles = {"ec2-admin": EC2.format(webhook=f"{slack.url}/webhook/security")}
    return start_site(client, slack, tmp_path, monkeypatch, PEOPLE, roles)


def trusted_until(user: str = "alice") -> str | None:
    """When this deployment's trust of ``user`` ends, as IAM holds it (None: not trusted)."""
    from chalicelib.core.trust import deployment_tag, trusted

    found = {
        arn.rsplit("/", 1)[1]: until
        for arn, until in trusted(trust_policy(), deployment_tag(TABLE)).items()
    }
    return iso(found[user]) if user in found else None


def may_work(at, issued, user: str = "alice") -> tuple[bool, bool]:
    """(may assume the role at ``at``, may a session issued at ``issued`` act at ``at``), as an
    independent reading of the trust and session-limit policies says."""
    iam = boto3.client("iam")
    role = iam.get_role(RoleName="AWSEC2FULLACCESS")["Role"]
    try:
        limits = iam.get_role_policy(
            RoleName="AWSEC2FULLACCESS", PolicyName=wiring.service().writer.limits_policy
        )["PolicyDocument"]
    except iam.exceptions.NoSuchEntityException:
        limits = None
    limits = json.loads(limits) if isinstance(limits, str) else limits
    arn = f"arn:aws:iam::123456789012:user/{user}"
    return (
        can_assume(trust_policy(), arn, user, at),
        session_may([limits], role["RoleId"], user, issued, at),
    )


def granted(site: Site, duration: str = "30m") -> str:
    rid = site.request("U0ALICE", f"request ec2-admin {duration} INC-1 fix it")
    site.post(rid, "U0BOB", "approve")
    assert site.stored(rid).state is State.ACTIVE
    return rid


# -- extend --------------------------------------------------------------------------------------
def test_an_approved_extension_moves_the_end_later_in_trust_and_store(site: Site, logs) -> None:
    rid = granted(site)
    before = site.stored(rid)
    site.clock.advance(minutes=10)
    ext = site.request("U0ALICE", f"extend {rid} 1h still resizing")
    page = site.page(ext, "U0BOB")
    assert f"extend {rid} by 1h" in page and "/approve" in page
    assert site.stored(rid).ends_at == before.ends_at  # untouched while it waits
    site.post(ext, "U0CAROL", "approve")  # an approver through the on-call group
    after = site.stored(rid)
    assert site.stored(ext).state is State.EXTENDED
    assert after.ends_at == iso(before.ends() + timedelta(hours=1))
    assert after.ends() - after.duration == before.ends() - before.duration  # same start
    assert after.extensions == (ext,) and after.state is State.ACTIVE
    if any(getattr(r, "event", None) == "settle.delayed" for r in logs.records):
        # IAM could not be written within the click (a loaded machine, a lock still held):
        # the store holds the new end, and the sweep writes it once the lock's lease lapses
        # (aged here, as tests/usecases/test_nothing_lost.py does).
        table = boto3.resource("dynamodb").Table("switchback")
        for lock in [i for i in table.scan()["Items"] if i["pk"].startswith("LOCK#")]:
            table.update_item(
                Key={"pk": lock["pk"], "sk": lock["sk"]},
                UpdateExpression="SET expires = :gone",
                ExpressionAttributeValues={":gone": 0},
            )
        site.sweep()
    assert trusted_until() == after.ends_at  # trust and session cut moved in one step
    second = timedelta(seconds=1)
    issued = site.clock.now  # a session taken before the old end goes on past it
    assert may_work(before.ends() + second, issued) == (True, True)
    assert may_work(after.ends() - second, issued) == (True, True)
    assert may_work(after.ends(), issued) == (False, False)  # and ends with the new window
    texts = site.slack.texts()
    assert any("extended by <@U0CAROL>" in t for t in texts)


def test_the_new_end_is_at_most_max_duration_from_now(site: Site) -> None:
    rid = granted(site, "1h30m")
    ext = site.request("U0ALICE", f"extend {rid} 2h")
    site.post(ext, "U0BOB", "approve")
    assert site.stored(rid).ends_at == iso(site.clock.now + timedelta(hours=2))


def test_an_extension_that_adds_nothing_fails_and_the_grant_is_untouched(site: Site) -> None:
    rid = granted(site, "2h")
    before = site.stored(rid)
    ext = site.request("U0ALICE", f"extend {rid} 1h")
    site.post(ext, "U0BOB", "approve")
    assert site.stored(ext).state is State.FAILED
    assert "already ends as late as" in site.stored(ext).failure
    assert site.stored(rid).ends_at == before.ends_at


def test_denied_or_lapsed_extensions_leave_the_grant_untouched(site: Site) -> None:
    rid = granted(site)
    before = site.stored(rid)
    denied = site.request("U0ALICE", f"extend {rid} 1h")
    site.post(denied, "U0BOB", "deny")
    assert site.stored(denied).state is State.DENIED
    waiting = site.request("U0ALICE", f"extend {rid} 1h")
    assert site.stored(waiting).approval_deadline == before.ends_at  # decided before the end
    site.clock.advance(minutes=31)
    site.sweep()
    assert site.stored(waiting).state is State.LAPSED
    assert site.stored(rid).state is State.EXPIRED and site.stored(rid).ends_at == before.ends_at


def test_only_the_requester_extends_an_active_grant(site: Site) -> None:
    rid = granted(site)
    assert "Only the requester" in site.slash("U0DAVE", f"extend {rid} 1h")
    assert "longer than" in site.slash("U0ALICE", f"extend {rid} 3h")
    site.slash("U0ALICE", f"revoke {rid}")
    assert "not active" in site.slash("U0ALICE", f"extend {rid} 1h")


def test_an_extension_approved_after_its_grant_was_revoked_fails(site: Site) -> None:
    rid = granted(site)
    ext = site.request("U0ALICE", f"extend {rid} 1h")
    site.slash("U0ALICE", f"revoke {rid}")
    site.post(ext, "U0BOB", "approve")
    assert site.stored(ext).state is State.FAILED
    assert site.stored(rid).state is State.REVOKED


def test_access_extended_event(site: Site, logs) -> None:
    rid = granted(site)
    ext = site.request("U0ALICE", f"extend {rid} 1h")
    site.post(ext, "U0BOB", "approve")
    [event] = [r for r in logs.records if getattr(r, "event", None) == "access.extended"]
    assert event.request_id == rid and event.extension == ext


# -- break-glass -------------------------------------------------------------------------------
def test_break_glass_grants_at_once_loudly_within_its_max(site: Site, logs, capsys) -> None:
    answer = site.slash("U0ALICE", "breakglass ec2-admin INC-9 prod is down")
    assert "is granted now" in answer
    rid = answer.split("`")[1]
    request = site.stored(rid)
    assert request.state is State.ACTIVE and request.break_glass and request.approvals == ()
    assert request.duration == timedelta(minutes=30)  # break_glass_max by default
    assert trusted_until() == request.ends_at
    assert may_work(site.clock.now, site.clock.now) == (True, True)
    assert may_work(request.ends(), site.clock.now) == (False, False)
    loud = site.slack.delivered("/webhook/approvers")[0]
    assert loud["blocks"][0]["type"] == "header" and "BREAK-GLASS" in loud["text"]
    assert site.slack.delivered("/webhook/security")[0]["text"] == loud["text"]
    [granted_event] = [r for r in logs.records if getattr(r, "event", None) == "access.granted"]
    assert granted_event.break_glass is True
    assert '{"Name":"breakglass","Unit":"Count"}' in capsys.readouterr().out


def test_break_glass_limits(site: Site) -> None:
    assert "30m at most" in site.slash("U0ALICE", "breakglass ec2-admin 31m INC-9 x")
    assert "may not use break-glass" in site.slash("U0CAROL", "breakglass ec2-admin INC-9 x")
    assert "Say why" in site.slash("U0ALICE", "breakglass ec2-admin 10m")


def test_an_approver_acknowledges_a_break_glass_grant(site: Site) -> None:
    rid = site.slash("U0ALICE", "breakglass ec2-admin 10m INC-9 down").split("`")[1]
    page = site.page(rid, "U0CAROL")
    assert "/acknowledge" in page and "/flag" in page and "BREAK-GLASS" in page
    assert "/acknowledge" not in site.page(rid, "U0ALICE")  # never one's own
    assert "/acknowledge" not in site.page(rid, "U0DAVE")  # not an approver
    assert site.post(rid, "U0DAVE", "acknowledge").status_code == 409
    assert site.post(rid, "U0CAROL", "acknowledge", csrf="forged").status_code == 403
    site.post(rid, "U0CAROL", "acknowledge")
    done = site.stored(rid)
    assert done.review == "acknowledged" and done.state is State.ACTIVE
    assert site.post(rid, "U0BOB", "flag").status_code == 409  # reviewed once
    site.clock.advance(hours=9)
    assert site.sweep().unreviewed == 0


def test_a_flag_revokes_and_tells_everyone(site: Site) -> None:
    rid = site.slash("U0ALICE", "breakglass ec2-admin 10m INC-9 down").split("`")[1]
    assert site.post(rid, "U0ALICE", "flag").status_code == 409  # not one's own
    site.post(rid, "U0BOB", "flag", reason="no incident")
    done = site.stored(rid)
    assert done.state is State.REVOKED and done.review == "flagged"
    taken = site.clock.now - timedelta(seconds=1)
    assert may_work(site.clock.now, taken) == (False, False)  # trust gone, session cut
    for path in ("/webhook/approvers", "/webhook/security", "/response/U0ALICE"):
        assert any("FLAGGED" in t or "flagged" in t for t in site.slack.texts(path)), path


def test_unreviewed_break_glass_is_reminded_once_and_counted(site: Site) -> None:
    rid = site.slash("U0ALICE", "breakglass ec2-admin 10m INC-9 down").split("`")[1]
    site.clock.advance(hours=7, minutes=59)
    assert site.sweep().unreviewed == 0
    site.clock.advance(minutes=1)
    assert site.sweep().unreviewed == 1
    assert site.sweep().unreviewed == 1  # still counted for the alarm
    reminders = [t for t in site.slack.texts("/webhook/approvers") if "still unreviewed" in t]
    assert len(reminders) == 1 and rid in reminders[0]
    site.post(rid, "U0BOB", "flag")  # expired already: flagged, nothing to revoke
    assert site.stored(rid).state is State.EXPIRED and site.stored(rid).review == "flagged"
    assert site.sweep().unreviewed == 0


# -- what a new user tripped over (issue 25) ---------------------------------------------------
def test_extend_names_its_approvers_and_the_end_if_approved_now(site: Site) -> None:
    rid = granted(site)
    answer = site.slash("U0ALICE", f"extend {rid} 1h still resizing")
    assert "1 approval needed from: <@U0BOB>, <!subteam^S0ONCALL>." in answer
    assert "Approved now, it ends at" in answer and "1h later" in answer


def test_one_pending_extension_per_grant(site: Site) -> None:
    rid = granted(site)
    first = site.request("U0ALICE", f"extend {rid} 1h")
    second = site.slash("U0ALICE", f"extend {rid} 30m")
    assert f"Extension {first} of {rid}" in second and "already waiting" in second
    pending = [r for r in wiring.service().store.requests_of("U0ALICE") if r.extends == rid]
    assert [r.id for r in pending] == [first]


def test_a_capped_extension_tells_the_requester_how_much_was_added(site: Site) -> None:
    rid = granted(site, "1h30m")
    site.clock.advance(minutes=2)
    ext = site.request("U0ALICE", f"extend {rid} 1h")  # ends 32m after now + 1h: cut to 2h
    site.post(ext, "U0BOB", "approve")
    told = [t for t in site.slack.texts("/response/U0ALICE") if "was extended" in t]
    assert told and "by 32m (1h asked; `ec2-admin` allows 2h at most" in told[-1]


def test_a_flagged_break_glass_grant_tells_the_requester_it_is_revoked(site: Site) -> None:
    rid = site.slash("U0ALICE", "breakglass ec2-admin 10m INC-9 down").split("`")[1]
    site.post(rid, "U0BOB", "flag", reason="no incident")
    [told] = [t for t in site.slack.texts("/response/U0ALICE") if "flagged" in t]
    assert "Your access is revoked" in told and "no incident" in told


def test_the_extension_page_predicts_the_moved_end_and_says_when_it_is_capped(
    site: Site,
) -> None:
    rid = granted(site, "1h30m")
    site.clock.advance(minutes=2)
    ends = site.stored(rid).ends()
    ext = site.request("U0ALICE", f"extend {rid} 1h")
    page = site.page(ext, "U0BOB")
    capped_end = (site.clock.now + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert f"{capped_end} if approved now (the grant&#x27;s end, " in page
    assert f"{ends.strftime('%Y-%m-%d %H:%M:%S UTC')}, moved 32 minutes later" in page
    assert "1 hour asked, cut to 32 minutes by the role&#x27;s maximum of 2 hours" in page
    assert "after the approval)" not in page
    site.post(ext, "U0BOB", "approve")
    done = site.page(ext, "U0BOB")
    assert "never granted" not in done and "(never written)" not in done
    assert f"now ends {capped_end}" in done and "(the grant&#x27;s new end)" in done
    assert "Z UTC" not in done and "Z</td>" not in done  # one time format: "… UTC"


def test_an_uncapped_extension_page_moves_the_grants_end(site: Site) -> None:
    rid = granted(site)
    site.clock.advance(minutes=10)
    moved = (site.stored(rid).ends() + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S UTC")
    ext = site.request("U0ALICE", f"extend {rid} 1h")
    page = site.page(ext, "U0BOB")
    assert f"{moved} if approved now" in page and "cut to" not in page


def test_a_flagged_break_glass_page_shows_when_it_ended_and_no_approval_count(
    site: Site,
) -> None:
    rid = site.slash("U0ALICE", "breakglass ec2-admin 30m INC-9 down").split("`")[1]
    assert "0 of 1" not in site.page(rid, "U0BOB")
    site.clock.advance(minutes=5)
    site.post(rid, "U0BOB", "flag", reason="no incident")
    page = site.page(rid, "U0BOB")
    assert "(in 25 min)" not in page and "(revoked; it was to end" in page
    assert "Approvals</dt><dd id=approvals>none: taken without approval" in page
    assert "0 of 1" not in page


def test_an_approvers_list_shows_break_glass_grants_waiting_for_their_review(
    site: Site,
) -> None:
    rid = site.slash("U0ALICE", "breakglass ec2-admin 10m INC-9 down").split("`")[1]
    for approver in ("U0BOB", "U0CAROL"):  # named, and through the on-call group
        listed = site.slash(approver, "list")
        assert "Break-glass grants waiting for your review" in listed
        assert f"`{rid}` alice → `ec2-admin` 10m, active" in listed
        assert f"/requests/{rid}|acknowledge or flag>" in listed
    assert "waiting for your review" not in site.slash("U0DAVE", "list")  # not an approver
    assert "waiting for your review" not in site.slash("U0ALICE", "list")  # never one's own
    site.post(rid, "U0BOB", "acknowledge")
    assert "waiting for your review" not in site.slash("U0CAROL", "list")
