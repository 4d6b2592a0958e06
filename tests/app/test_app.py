"""The app through chalice.test.Client: Slack's command, the review page, decisions, the sweep.

AWS is a real moto server over HTTP; Slack is a local receiver over HTTP.
"""

from __future__ import annotations

import json
import re
import threading
import time
from urllib.parse import urlencode

import boto3
import pytest

from chalicelib import wiring
from chalicelib.core.model import State
from chalicelib.core.trust import deployment_tag
from chalicelib.web import sessions
from testkit.slack_standin import SlackReceiver
from tests.conftest import (
    BASE_URL,
    COOKIE_KEY,
    ROLE_ARN,
    Clock,
    signed_command,
    trust_policy,
)
from tests.support.trust_view import TABLE, trusted_users

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def slash(client, slack: SlackReceiver, user: str, text: str, **kwargs) -> dict:
    body, headers = signed_command(user, text, f"{slack.url}/response/{user}", **kwargs)
    response = client.http.post("/slack/commands", body=body, headers=headers)
    assert response.status_code == 200, response.body
    return json.loads(response.body)


def request_id_from(answer: dict) -> str:
    return re.search(r"Request `([0-9A-Z]{10})`", answer["text"]).group(1)


def cookie_for(user: str) -> dict:
    session = sessions.new_session(user, time.time())
    return {"Cookie": f"{sessions.COOKIE_NAME}={sessions.encode(session, COOKIE_KEY)}"}, session


def decide(client, request_id: str, user: str, action: str = "approve", **form) -> object:
    headers, session = cookie_for(user)
    body = urlencode({"csrf": session.csrf, **form})
    return client.http.post(
        f"/requests/{request_id}/{action}", body=body, headers={**FORM, **headers}
    )


def sweep(client) -> None:
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    client.lambda_.invoke("sweep", event)


def stored(request_id: str):
    return wiring.service().store.get_request(request_id)


def nothing_stored(slack: SlackReceiver) -> None:
    service = wiring.service()
    assert service.store.requests_of("U0ALICE") == []
    assert slack.received == []


def test_healthz(client) -> None:
    assert client.http.get("/healthz").status_code == 200


# -- Slack's signature -------------------------------------------------------------------------
@pytest.mark.parametrize("tamper", ["forged", "stale", "future", "missing", "body"])
def test_bad_signatures_are_refused_and_store_nothing(client, slack, service, tamper) -> None:
    body, headers = signed_command("U0ALICE", "request ec2-admin 30m INC-42 fix")
    if tamper == "forged":
        body, headers = signed_command(
            "U0ALICE", "request ec2-admin 30m INC-42 fix", secret="not-the-secret"
        )
    elif tamper == "stale":
        body, headers = signed_command(
            "U0ALICE", "request ec2-admin 30m x", timestamp=int(time.time()) - 301
        )
    elif tamper == "future":
        body, headers = signed_command(
            "U0ALICE", "request ec2-admin 30m x", timestamp=int(time.time()) + 301
        )
    elif tamper == "missing":
        headers = dict(FORM)
    elif tamper == "body":
        body = body.replace(b"30m", b"4h0")
    response = client.http.post("/slack/commands", body=body, headers=headers)
    assert response.status_code == 401
    nothing_stored(slack)


def test_request_is_stored_pending_and_approvers_get_a_review_link(client, slack, service) -> None:
    answer = slash(client, slack, "U0ALICE", "request ec2-admin 30m INC-42 resize the ASG")
    assert answer["response_type"] == "ephemeral"
    assert "pending" in answer["text"] and "<@U0BOB>" in answer["text"]
    request = stored(request_id_from(answer))
    assert request.state is State.PENDING
    assert request.reason == "INC-42 resize the ASG" and request.duration_seconds == 1800
    [message] = slack.delivered("/webhook/approvers")
    button = message["blocks"][1]["elements"][0]
    assert button["url"] == f"{BASE_URL}/requests/{request.id}"
    assert "INC-42 resize the ASG" in message["blocks"][0]["text"]["text"]


@pytest.mark.parametrize(
    "text, says",
    [
        ("request nosuchrole 30m INC-1 x", "There is no role `nosuchrole`"),
        ("request ec2-admn 30m INC-1 x", "Did you mean `ec2-admin`?"),
        ("request ec2-admin 5h INC-1 x", "longer than ec2-admin allows (4h at most)"),
        ("request ec2-admin 30m", "Say why you need it"),
        ("request ec2-admin 0m x", "is zero"),
    ],
)
def test_bad_requests_explain_and_store_nothing(client, slack, service, text, says) -> None:
    answer = slash(client, slack, "U0ALICE", text)
    assert says in answer["text"]
    nothing_stored(slack)


def test_someone_not_in_the_people_list_is_told_so(client, slack, service) -> None:
    answer = slash(client, slack, "U0MALLORY", "request ec2-admin 30m INC-1 x")
    assert "not in Switchback's people list" in answer["text"]
    assert service.store.requests_of("U0MALLORY") == []


def test_help_and_nonsense_answer_usage(client, slack, service) -> None:
    assert "request <role>" in slash(client, slack, "U0ALICE", "")["text"]
    assert "I don't know `frobnicate`" in slash(client, slack, "U0ALICE", "frobnicate")["text"]


# -- the review page and decisions -------------------------------------------------------------
@pytest.fixture
def pending(client, slack, service) -> str:
    answer = slash(client, slack, "U0ALICE", "request ec2-admin 30m INC-42 <b>bold</b> & co")
    return request_id_from(answer)


def test_get_never_changes_state(client, pending) -> None:
    before = stored(pending)
    headers, _ = cookie_for("U0BOB")
    assert client.http.get(f"/requests/{pending}", headers=headers).status_code == 200
    assert client.http.get(f"/requests/{pending}/approve", headers=headers).status_code in (
        403,
        404,
        405,
    )
    assert stored(pending) == before


def test_page_escapes_user_text_and_offers_buttons_to_an_approver(client, pending) -> None:
    headers, session = cookie_for("U0BOB")
    page = client.http.get(f"/requests/{pending}", headers=headers)
    html = page.body.decode()
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in html and "<b>bold" not in html
    assert session.csrf in html and "Approve" in html
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]


def test_requester_sees_no_buttons_and_cannot_approve_own_request(client, pending) -> None:
    headers, _ = cookie_for("U0ALICE")
    html = client.http.get(f"/requests/{pending}", headers=headers).body.decode()
    assert "cannot approve or deny your own request" in html
    assert "/approve'" not in html and "/deny'" not in html
    response = decide(client, pending, "U0ALICE")
    assert response.status_code == 409
    assert stored(pending).state is State.PENDING
    assert [s["Sid"] for s in trust_policy()["Statement"]] == ["EC2Service"]


def test_approve_needs_a_session_and_the_csrf_token(client, pending) -> None:
    no_session = client.http.post(f"/requests/{pending}/approve", body="csrf=x", headers=FORM)
    assert no_session.status_code == 401
    headers, _ = cookie_for("U0BOB")
    for body in ("", "csrf=wrong"):
        response = client.http.post(
            f"/requests/{pending}/approve", body=body, headers={**FORM, **headers}
        )
        assert response.status_code == 403
    forged = {"Cookie": f"{sessions.COOKIE_NAME}=eyJ1IjoiVTBCT0IifQ.forged"}
    assert (
        client.http.post(
            f"/requests/{pending}/approve", body="csrf=x", headers={**FORM, **forged}
        ).status_code
        == 401
    )
    assert stored(pending).state is State.PENDING


def test_non_approver_cannot_approve(client, pending) -> None:
    # alice is not an approver; carol is, but let us check someone listed only as a person
    response = decide(client, pending, "U0NOBODY")
    assert response.status_code == 409
    assert stored(pending).state is State.PENDING


def test_approval_grants_trust_and_tells_the_requester(client, slack, pending) -> None:
    response = decide(client, pending, "U0BOB")
    assert response.status_code == 303
    assert response.headers["Location"] == f"{BASE_URL}/requests/{pending}"
    request = stored(pending)
    assert request.state is State.ACTIVE and request.approvals == ("U0BOB",)
    policy = trust_policy()
    assert policy["Statement"][0]["Sid"] == "EC2Service"
    assert policy["Statement"][1] == {
        "Sid": f"Switchback{deployment_tag(TABLE)}A{request.ends():%Y%m%d%H%M%S}",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:user/alice"},
        "Action": "sts:AssumeRole",
        "Condition": {
            "DateLessThan": {"aws:CurrentTime": request.ends_at},
            "StringEquals": {"sts:RoleSessionName": "${aws:username}"},
        },
    }
    [granted] = slack.delivered("/response/U0ALICE")
    assert (
        "switchrole?account=123456789012&roleName=AWSEC2FULLACCESS&displayName=ec2-admin"
        in granted["text"]
    )
    assert "--role-session-name alice" in granted["text"]
    assert [e.action for e in request.audit] == ["requested", "approved", "granted"]


def test_second_click_is_refused_and_grants_once(client, pending) -> None:
    assert decide(client, pending, "U0BOB").status_code == 303
    assert decide(client, pending, "U0BOB").status_code == 409
    assert decide(client, pending, "U0CAROL").status_code == 409
    policy = trust_policy()
    assert len(policy["Statement"]) == 2 and trusted_users(policy) == ["alice"]


def test_deny_tells_the_requester_and_writes_nothing(client, slack, pending) -> None:
    assert decide(client, pending, "U0CAROL", "deny", reason="use the runbook").status_code == 303
    assert stored(pending).state is State.DENIED
    assert [s["Sid"] for s in trust_policy()["Statement"]] == ["EC2Service"]
    [told] = slack.delivered("/response/U0ALICE")
    assert "denied" in told["text"] and "use the runbook" in told["text"]


def test_unknown_request_id_is_a_clear_404(client) -> None:
    assert client.http.get("/requests/0000000000").status_code == 404
    assert client.http.get("/requests/not-an-id").status_code == 404


# -- the sweep ---------------------------------------------------------------------------------
def test_sweep_expires_the_grant_and_tells_the_requester(
    client, slack, clock: Clock, pending
) -> None:
    decide(client, pending, "U0BOB")
    sweep(client)
    assert stored(pending).state is State.ACTIVE  # not yet
    clock.advance(minutes=31)
    sweep(client)
    assert stored(pending).state is State.EXPIRED
    assert [s["Sid"] for s in trust_policy()["Statement"]] == ["EC2Service"]
    # half an hour on, Slack's response_url is dead: the requester is told in the channel
    assert any("<@U0ALICE>" in t and "expired" in t for t in slack.texts("/webhook/approvers"))


def test_removing_the_last_grant_leaves_the_placeholder(client, clock: Clock, pending) -> None:
    decide(client, pending, "U0BOB")
    only_grant = dict(trust_policy())
    only_grant["Statement"] = [s for s in only_grant["Statement"] if s["Sid"] != "EC2Service"]
    boto3.client("iam").update_assume_role_policy(
        RoleName="AWSEC2FULLACCESS", PolicyDocument=json.dumps(only_grant)
    )
    clock.advance(minutes=31)
    sweep(client)
    assert trust_policy()["Statement"] == [
        {
            "Sid": "SwitchbackPlaceholder",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "sts:AssumeRole",
        }
    ]


def test_undecided_request_lapses(client, slack, clock: Clock, pending) -> None:
    clock.advance(hours=1, seconds=1)
    sweep(client)
    assert stored(pending).state is State.LAPSED
    assert decide(client, pending, "U0BOB").status_code == 409


def test_racing_approvals_on_one_role_both_end_up_in_the_policy(client, slack, service) -> None:
    ids = [
        request_id_from(slash(client, slack, user, "request ec2-admin 30m INC-9 x"))
        for user in ("U0ALICE", "U0CAROL")
    ]
    approver = {ids[0]: "U0BOB", ids[1]: "U0BOB"}
    threads = [threading.Thread(target=service.approve, args=(i, approver[i])) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert trusted_users(trust_policy()) == ["alice", "carol"]
    assert all(stored(i).state is State.ACTIVE for i in ids)


def test_a_crash_after_the_iam_write_is_finished_by_the_sweep(
    client, slack, service, pending, monkeypatch
) -> None:
    # The role step records its state changes through the request repository's batch write.
    real_save_each = service.store.requests.save_each

    def die_before_marking_active(changes):
        if any(request.state is State.ACTIVE for request, _ in changes):
            raise RuntimeError("process died")
        return real_save_each(changes)

    with monkeypatch.context() as patched, pytest.raises(RuntimeError):
        patched.setattr(service.store.requests, "save_each", die_before_marking_active)
        service.approve(pending, "U0BOB")
    assert stored(pending).state is State.APPROVED
    assert trusted_users(trust_policy()) == ["alice"]
    sweep(client)
    assert stored(pending).state is State.ACTIVE


def test_dev_sign_in_is_404_outside_the_local_stage(app_env, monkeypatch) -> None:
    from tests.support.stages import stage_client

    for stage in ("dev", "prod"):
        wiring.reset()
        with stage_client(stage) as client:
            assert client.http.get("/auth/dev").status_code == 404
            response = client.http.post("/auth/dev", body="user=U0BOB", headers=FORM)
            assert response.status_code == 404
            assert "Set-Cookie" not in response.headers


def test_dev_sign_in_sets_a_session_cookie_locally(client) -> None:
    page = client.http.get("/auth/dev?next=/requests/0000000001")
    assert page.status_code == 200 and "bob (U0BOB)" in page.body.decode()
    response = client.http.post(
        "/auth/dev", body="user=U0BOB&next=/requests/0000000001", headers=FORM
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"{BASE_URL}/requests/0000000001"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    off_site = client.http.post("/auth/dev", body="user=U0BOB&next=//evil.example/", headers=FORM)
    assert "evil" not in off_site.headers["Location"]


def test_role_arn_constant_matches_the_example_policy() -> None:
    from chalicelib.policies import load_catalog
    from tests.conftest import ROOT

    assert load_catalog(ROOT / "policies").role("ec2-admin").role_arn == ROLE_ARN
