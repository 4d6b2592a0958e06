"""Hostile input changes nothing: replayed Slack requests, oversized bodies, browser headers.

The app runs through chalice.test.Client against a real moto server and a local Slack receiver.
"""

from __future__ import annotations

import json

import pytest

from chalicelib import wiring
from chalicelib.slack_signature import REPLAY_MEMORY_SECONDS, TOLERANCE_SECONDS
from tests.conftest import signed_command
from tests.test_sign_in import deployed, provider  # noqa: F401  (fixtures)

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
LIMIT = 64 * 1024


def requests_of(user: str) -> list:
    return wiring.service().store.requests_of(user)


# -- replays -----------------------------------------------------------------------------------
def test_a_replayed_request_gets_the_first_answer_and_creates_nothing(client, slack) -> None:
    body, headers = signed_command("U0ALICE", "request ec2-admin 30m INC-42 fix", "")
    first = client.http.post("/slack/commands", body=body, headers=headers)
    again = client.http.post("/slack/commands", body=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert json.loads(again.body) == json.loads(first.body)
    assert "is pending" in json.loads(first.body)["text"]
    assert len(requests_of("U0ALICE")) == 1
    slack.wait_for(lambda p: "INC-42" in json.dumps(p))
    assert len(slack.delivered("/webhook/approvers")) == 1


def test_slacks_retry_is_never_run_again(client, slack) -> None:
    body, headers = signed_command("U0ALICE", "request ec2-admin 30m INC-43 fix", "")
    answer = client.http.post(
        "/slack/commands", body=body, headers={**headers, "X-Slack-Retry-Num": "1"}
    )
    assert answer.status_code == 200
    assert "more than once" in json.loads(answer.body)["text"]
    assert requests_of("U0ALICE") == [] and slack.received == []


def test_a_replay_is_remembered_past_the_window_it_could_pass():
    assert REPLAY_MEMORY_SECONDS > 2 * TOLERANCE_SECONDS


# -- size ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "method, path",
    [
        ("post", "/slack/commands"),
        ("post", "/requests/ABCDEFGHJK/approve"),
        ("post", "/requests/ABCDEFGHJK/deny"),
        ("post", "/auth/dev"),
        ("post", "/auth/signout"),
    ],
)
def test_bodies_over_64_kib_are_refused_before_anything_reads_them(
    client, slack, method, path
) -> None:
    body, headers = signed_command("U0ALICE", "request ec2-admin 30m INC-1 " + "x" * LIMIT, "")
    response = getattr(client.http, method)(path, body=body, headers=headers)
    assert response.status_code == 413
    assert "64 KiB" in response.body.decode()
    assert requests_of("U0ALICE") == [] and slack.received == []


def test_a_declared_length_over_the_limit_is_refused_too(client) -> None:
    headers = {**FORM, "Content-Length": str(LIMIT + 1)}
    assert client.http.post("/auth/signout", body=b"", headers=headers).status_code == 413


def test_a_body_of_exactly_the_limit_is_read(client, slack) -> None:
    body, headers = signed_command("U0ALICE", "help", "")
    body += b"&pad=" + b"x" * (LIMIT - len(body) - 5)
    assert len(body) == LIMIT
    from chalicelib.slack_signature import sign

    headers["X-Slack-Signature"] = sign(
        "test-signing-secret", headers["X-Slack-Request-Timestamp"], body
    )
    response = client.http.post("/slack/commands", body=body, headers=headers)
    assert response.status_code == 200 and "Switchback" in json.loads(response.body)["text"]


# -- browser headers -----------------------------------------------------------------------------
def test_the_local_stage_sends_no_hsts(client) -> None:
    # plain HTTP on 127.0.0.1: HSTS there would only confuse the browser about localhost
    assert "Strict-Transport-Security" not in client.http.get("/healthz").headers


def test_deployed_stages_send_hsts(deployed) -> None:  # noqa: F811
    for path in ("/healthz", "/requests/ABCDEFGHJK", "/auth/whoami"):
        hsts = deployed.http.get(path).headers["Strict-Transport-Security"]
        assert hsts.startswith("max-age=") and int(hsts.split("=")[1].split(";")[0]) >= 31536000
