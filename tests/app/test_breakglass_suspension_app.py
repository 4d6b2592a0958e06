"""A flagged break-glass through the app: the next break-glass by that person on that role
is refused in Slack, naming who can lift it; `/access unsuspend` and the flagged request's
review page (POST + CSRF) lift it, for the role's approvers only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib import wiring
from tests.app.test_review import EC2, FORM, ROOT, Clock, Site, actions, write_policies
from tests.conftest import signed_command

BREAK_GLASS = EC2 + 'break_glass = true\nbreak_glass_requesters = ["U0ALICE", "U0DAVE"]\n'


@pytest.fixture
def glass(app_env, slack, tmp_path: Path, monkeypatch) -> Site:
    from chalice.test import Client

    import app
    from chalicelib.policies import load_catalog
    from tools.local_stack import ensure_aws_resources

    write_policies(tmp_path, ec2=BREAK_GLASS)
    monkeypatch.setenv("SWITCHBACK_POLICIES", str(tmp_path))
    ensure_aws_resources(load_catalog(tmp_path), "switchback")
    wiring.reset()
    clock = Clock()
    wiring.service().clock = clock
    with Client(app.app, stage_name="local", project_dir=str(ROOT)) as client:
        yield Site(client, clock, slack, tmp_path)


def slash(site: Site, user: str, text: str) -> str:
    body, headers = signed_command(user, text, f"{site.slack.url}/response/{user}")
    answer = site.client.http.post("/slack/commands", body=body, headers=headers)
    assert answer.status_code == 200
    return json.loads(answer.body)["text"]


def flagged_break_glass(site: Site) -> str:
    said = slash(site, "U0ALICE", "breakglass ec2-admin 30m INC-7 outage")
    rid = said.split("`")[1]
    assert site.post(rid, "U0BOB", "flag", reason="no outage").status_code == 303
    return rid


def test_unsuspend_in_slack_for_the_roles_approvers(glass: Site) -> None:
    rid = flagged_break_glass(glass)
    refused = slash(glass, "U0ALICE", "breakglass ec2-admin 30m INC-8 again")
    assert f"suspended since request {rid} was flagged" in refused
    assert "bob, carol" in refused and "unsuspend alice ec2-admin" in refused
    assert "Only an approver" in slash(glass, "U0DAVE", "unsuspend <@U0ALICE|alice> ec2-admin")
    lifted = slash(glass, "U0CAROL", "unsuspend <@U0ALICE|alice> ec2-admin")
    assert "alice's break-glass on `ec2-admin` is no longer suspended" in lifted
    assert "is granted now" in slash(glass, "U0ALICE", "breakglass ec2-admin 30m INC-9 again")


def test_the_flagged_requests_page_lifts_it_with_its_form(glass: Site) -> None:
    rid = flagged_break_glass(glass)
    assert actions(glass.page(rid, "U0CAROL")) == ["unsuspend"]
    assert actions(glass.page(rid, "U0DAVE")) == []  # not an approver
    forged = glass.client.http.post(
        f"/requests/{rid}/unsuspend", body="csrf=guess", headers={**FORM, **glass.cookie("U0BOB")}
    )
    assert forged.status_code == 403
    assert glass.post(rid, "U0DAVE", "unsuspend").status_code == 409
    assert wiring.service().break_glass_suspension("U0ALICE", "ec2-admin") == rid
    assert glass.post(rid, "U0CAROL", "unsuspend").status_code == 303
    assert wiring.service().break_glass_suspension("U0ALICE", "ec2-admin") is None
    page = glass.page(rid, "U0CAROL")
    assert actions(page) == [] and "break-glass unsuspended" in page
