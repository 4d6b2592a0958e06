"""The review link through the app (chalice.test.Client on the local stage): who sees what,
quorum, deny, revoke, lapse, and eligibility checked again when someone decides.

AWS is a real moto server over HTTP; Slack is a local receiver over HTTP.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from chalicelib import wiring
from chalicelib.core.model import State
from chalicelib.web import sessions
from testkit.slack_standin import SlackReceiver
from tests.conftest import (
    COOKIE_KEY,
    ROOT,
    Clock,
    people_toml,
    signed_command,
    trust_policy,
)
from tests.support.trust_view import OUR_SID

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PEOPLE = people_toml("alice", "bob", "carol", "dave", "erin")
EC2 = """
role_arn = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"
description = "Full EC2 access"
max_duration = "4h"
requesters = ["*"]
approvers = ["U0BOB", "U0CAROL"]
"""
DB = """
role_arn = "arn:aws:iam::123456789012:role/DBADMIN"
description = "Database admin <prod>"
max_duration = "2h"
requesters = ["U0ALICE", "U0DAVE"]
approvers = ["U0BOB", "U0CAROL", "U0ERIN"]
approvals_required = 2
approval_timeout = "10m"
require_mfa = true
"""


def write_policies(folder: Path, people: str = PEOPLE, ec2: str = EC2, db: str = DB) -> None:
    (folder / "roles").mkdir(parents=True, exist_ok=True)
    (folder / "people.toml").write_text(people)
    (folder / "roles" / "ec2-admin.toml").write_text(ec2)
    (folder / "roles" / "db-admin.toml").write_text(db)


class Site:
    """The app on the local stage with this module's policies and a movable clock."""

    def __init__(self, client, clock: Clock, slack: SlackReceiver, policies: Path):
        self.client, self.clock, self.slack, self.policies = client, clock, slack, policies
        self.csrf: dict[str, str] = {}

    def request(self, user: str, text: str) -> str:
        body, headers = signed_command(user, text, f"{self.slack.url}/response/{user}")
        answer = self.client.http.post("/slack/commands", body=body, headers=headers)
        return re.search(r"Request `([0-9A-Z]{10})`", answer.body.decode()).group(1)

    def cookie(self, user: str) -> dict:
        session = sessions.new_session(user, time.time())
        self.csrf[user] = session.csrf
        return {"Cookie": f"{sessions.COOKIE_NAME}={sessions.encode(session, COOKIE_KEY)}"}

    def page(self, request_id: str, user: str | None) -> str:
        headers = self.cookie(user) if user else {}
        response = self.client.http.get(f"/requests/{request_id}", headers=headers)
        assert response.status_code == 200
        return response.body.decode()

    def post(self, request_id: str, user: str, action: str, **form: str):
        headers = self.cookie(user)
        body = urlencode({"csrf": self.csrf[user], **form})
        return self.client.http.post(
            f"/requests/{request_id}/{action}", body=body, headers={**FORM, **headers}
        )

    def stored(self, request_id: str):
        return wiring.service().get(request_id)

    def sweep(self) -> None:
        event = self.client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        )
        self.client.lambda_.invoke("sweep", event)

    def reload_policies(self) -> None:
        """What a deploy of edited policies does: a new process reads them afresh."""
        wiring.reset()
        wiring.service().clock = self.clock


@pytest.fixture
def site(app_env, slack: SlackReceiver, tmp_path: Path, monkeypatch) -> Site:
    from chalice.test import Client

    import app
    from chalicelib.policies import load_catalog
    from tools.local_stack import ensure_aws_resources

    write_policies(tmp_path)
    monkeypatch.setenv("SWITCHBACK_POLICIES", str(tmp_path))
    ensure_aws_resources(load_catalog(tmp_path), "switchback")
    wiring.reset()
    clock = Clock()
    wiring.service().clock = clock  # built now, with these policies, before any request
    with Client(app.app, stage_name="local", project_dir=str(ROOT)) as client:
        yield Site(client, clock, slack, tmp_path)


def actions(html: str) -> list[str]:
    return re.findall(r"<form method=post action='[0-9A-Z]{10}/(\w+)'>", html)


def why_not(html: str) -> str:
    found = re.search(r"id=why-not>(.*?)</p>", html)
    return found.group(1) if found else ""


def sids(role: str = "DBADMIN") -> list[str]:
    return [s["Sid"] for s in trust_policy(role)["Statement"]]


# -- who sees what -----------------------------------------------------------------------------
def test_each_viewer_sees_what_they_may_do_and_why_not(site: Site) -> None:
    rid = site.request("U0ALICE", "request db-admin 30m INC-1 migrate")
    assert actions(site.page(rid, "U0BOB")) == ["approve", "deny"]
    assert actions(site.page(rid, "U0ERIN")) == ["approve", "deny"]
    for user, reason in [
        ("U0ALICE", "You cannot approve or deny your own request."),
        ("U0DAVE", "You are not an approver of db-admin."),
    ]:
        html = site.page(rid, user)
        assert actions(html) == [] and why_not(html) == reason, user
    # signed in (a Slack member), but not in people.toml: one clear page, no details
    outsider = site.client.http.get(f"/requests/{rid}", headers=site.cookie("U0MALLORY"))
    assert outsider.status_code == 403
    html = outsider.body.decode()
    assert "Not in Switchback&#x27;s directory" in html and "people.toml" in html
    assert "migrate" not in html and "alice" not in html and "arn:" not in html
    signed_out = site.page(rid, None)
    assert ">sign in</a>" in signed_out and "migrate" not in signed_out
    assert "/auth/dev?next=%2Frequests%2F" + rid in signed_out


def test_page_shows_the_request_and_the_mfa_statement(site: Site) -> None:
    rid = site.request("U0ALICE", "request db-admin 45m INC-2 <b>fix</b>")
    html = site.page(rid, "U0BOB")
    assert "INC-2 &lt;b&gt;fix&lt;/b&gt;" in html and "<b>fix" not in html
    assert "Database admin &lt;prod&gt;" in html and "45m" in html
    assert "0 of 2 (none yet)" in html
    assert "&quot;aws:MultiFactorAuthPresent&quot;: &quot;true&quot;" in html
    assert "&quot;Sid&quot;: &quot;Switchback" in html
    assert "Signed in as bob" in html


def test_get_changes_nothing_in_any_state(site: Site) -> None:
    rid = site.request("U0ALICE", "request ec2-admin 30m INC-3 x")
    for state_after in ("pending", "active", "revoked"):
        before = site.stored(rid)
        for user in ("U0BOB", "U0ALICE", "U0DAVE", None):
            site.page(rid, user)
        assert site.stored(rid) == before, state_after
        if state_after == "pending":
            assert site.post(rid, "U0BOB", "approve").status_code == 303
        elif state_after == "active":
            assert site.post(rid, "U0ALICE", "revoke").status_code == 303


# -- quorum and deny ---------------------------------------------------------------------------
def test_two_distinct_approvers_are_needed_and_the_requester_never_counts(site: Site) -> None:
    rid = site.request("U0ALICE", "request db-admin 30m INC-4 x")
    assert site.post(rid, "U0ALICE", "approve").status_code == 409
    assert site.post(rid, "U0BOB", "approve").status_code == 303
    after_one = site.stored(rid)
    assert after_one.state is State.PENDING and after_one.approvals == ("U0BOB",)
    assert sids() == ["EC2Service"]
    again = site.post(rid, "U0BOB", "approve")
    assert again.status_code == 409 and "already approved" in again.body.decode()
    html = site.page(rid, "U0BOB")
    assert actions(html) == [] and "already approved" in why_not(html)
    assert "1 of 2 (bob)" in site.page(rid, "U0ERIN")
    assert site.post(rid, "U0ERIN", "approve").status_code == 303
    done = site.stored(rid)
    assert done.state is State.ACTIVE and done.approvals == ("U0BOB", "U0ERIN")
    assert sids() == ["EC2Service", OUR_SID]
    assert site.post(rid, "U0CAROL", "approve").status_code == 409


def test_one_deny_ends_it_even_after_an_approval(site: Site) -> None:
    rid = site.request("U0ALICE", "request db-admin 30m INC-5 x")
    assert site.post(rid, "U0BOB", "approve").status_code == 303
    assert site.post(rid, "U0CAROL", "deny", reason="not in the freeze").status_code == 303
    denied = site.stored(rid)
    assert denied.state is State.DENIED
    assert site.post(rid, "U0ERIN", "approve").status_code == 409
    assert sids() == ["EC2Service"]
    html = site.page(rid, "U0ERIN")
    assert "Denied by carol" in html and "Reason: not in the freeze" in html
    assert actions(html) == []
    told = [t for t in site.slack.texts("/response/U0ALICE") if "denied" in t]
    assert told and "not in the freeze" in told[0]


def test_deny_without_a_reason(site: Site) -> None:
    rid = site.request("U0ALICE", "request ec2-admin 30m INC-6 x")
    assert site.post(rid, "U0BOB", "deny").status_code == 303
    assert site.stored(rid).state is State.DENIED


# -- eligibility again at decision time ---------------------------------------------------------
def test_an_approver_removed_from_the_policies_can_no_longer_decide(site: Site) -> None:
    rid = site.request("U0ALICE", "request db-admin 30m INC-7 x")
    write_policies(site.policies, db=DB.replace('"U0BOB", ', ""))
    site.reload_policies()
    html = site.page(rid, "U0BOB")
    assert actions(html) == [] and why_not(html) == "You are not an approver of db-admin."
    assert site.post(rid, "U0BOB", "approve").status_code == 409
    assert site.post(rid, "U0BOB", "deny").status_code == 409
    assert site.stored(rid).state is State.PENDING and site.stored(rid).approvals == ()


def test_a_requester_removed_from_the_policies_cannot_be_granted(site: Site) -> None:
    rid = site.request("U0DAVE", "request db-admin 30m INC-8 x")
    assert site.post(rid, "U0BOB", "approve").status_code == 303
    write_policies(site.policies, db=DB.replace(', "U0DAVE"', ""))
    site.reload_policies()
    refused = site.post(rid, "U0CAROL", "approve")
    assert refused.status_code == 409 and "may no longer request" in refused.body.decode()
    assert site.stored(rid).state is State.PENDING
    assert sids() == ["EC2Service"]


# -- lapse -------------------------------------------------------------------------------------
def test_an_undecided_request_lapses_after_the_roles_timeout(site: Site) -> None:
    rid = site.request("U0ALICE", "request db-admin 30m INC-9 x")
    site.clock.advance(minutes=9, seconds=59)
    assert actions(site.page(rid, "U0BOB")) == ["approve", "deny"]
    site.clock.advance(seconds=1)
    # before the sweep has run, the link already says so and refuses decisions
    html = site.page(rid, "U0BOB")
    assert "Lapsed: nobody decided in time" in html and actions(html) == []
    refused = site.post(rid, "U0BOB", "approve")
    assert refused.status_code == 409 and "lapsed" in refused.body.decode()
    site.sweep()
    assert site.stored(rid).state is State.LAPSED
    assert "Lapsed" in site.page(rid, None)
    assert "nobody decided by" in site.page(rid, "U0ALICE")
    assert any("lapsed" in t for t in site.slack.texts("/response/U0ALICE"))
    assert any("lapsed" in t.lower() for t in site.slack.texts("/webhook/approvers"))
    assert sids() == ["EC2Service"]


def test_the_default_timeout_is_one_hour(site: Site) -> None:
    rid = site.request("U0ALICE", "request ec2-admin 30m INC-10 x")
    site.clock.advance(minutes=59)
    site.sweep()
    assert site.stored(rid).state is State.PENDING
    site.clock.advance(minutes=1)
    site.sweep()
    assert site.stored(rid).state is State.LAPSED


# -- revoke ------------------------------------------------------------------------------------
def test_requester_and_approvers_may_revoke_an_active_grant(site: Site) -> None:
    rid = site.request("U0DAVE", "request ec2-admin 30m INC-11 x")
    assert site.post(rid, "U0CAROL", "approve").status_code == 303
    assert sids("AWSEC2FULLACCESS") == ["EC2Service", OUR_SID]
    assert actions(site.page(rid, "U0DAVE")) == ["revoke"]
    assert actions(site.page(rid, "U0BOB")) == ["revoke"]
    assert actions(site.page(rid, "U0ALICE")) == []
    assert site.post(rid, "U0ALICE", "revoke").status_code == 409
    forged = site.client.http.post(
        f"/requests/{rid}/revoke", body="csrf=guess", headers={**FORM, **site.cookie("U0BOB")}
    )
    assert forged.status_code == 403
    assert site.stored(rid).state is State.ACTIVE
    assert site.post(rid, "U0DAVE", "revoke").status_code == 303
    assert site.stored(rid).state is State.REVOKED
    assert sids("AWSEC2FULLACCESS") == ["EC2Service"]
    html = site.page(rid, "U0BOB")
    assert "Revoked by dave" in html and actions(html) == []
    assert site.post(rid, "U0BOB", "revoke").status_code == 409


def test_expired_and_cancelled_pages_say_so(site: Site) -> None:
    expiring = site.request("U0ALICE", "request ec2-admin 5m INC-12 x")
    cancelled = site.request("U0ALICE", "request db-admin 5m INC-13 y")
    assert site.post(expiring, "U0BOB", "approve").status_code == 303
    body, headers = signed_command("U0ALICE", f"cancel {cancelled}")
    site.client.http.post("/slack/commands", body=body, headers=headers)
    site.clock.advance(minutes=6)
    site.sweep()
    html = site.page(expiring, "U0BOB")
    assert "Expired: the access window ended" in html and actions(html) == []
    assert "removed when it expired" in html
    html = site.page(cancelled, "U0BOB")
    assert "Cancelled by the requester" in html and actions(html) == []
    assert "never written" in html


def test_unknown_ids_get_a_clear_404(site: Site) -> None:
    answers = [
        site.client.http.get("/requests/0000000000"),
        site.client.http.get("/requests/not-an-id"),
        site.post("0000000000", "U0BOB", "approve"),
    ]
    for response in answers:
        assert response.status_code == 404 and "no such request" in response.body.decode()
