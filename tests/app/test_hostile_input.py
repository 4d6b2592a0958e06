"""Hostile input changes nothing: replayed Slack requests, oversized bodies, browser headers.

The app runs through chalice.test.Client against a real moto server and a local Slack receiver.
"""

from __future__ import annotations

import json
import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib import wiring
from chalicelib.core.errors import AwsUnavailable, AwsUncertain
from chalicelib.entry.slack_signature import REPLAY_MEMORY_SECONDS, TOLERANCE_SECONDS
from chalicelib.notify import messages
from chalicelib.web import pages
from tests.app.test_sign_in import (  # noqa: F401  (deployed, provider: fixtures)
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    TEAM,
    callback,
    cookies_set,
    deployed,
    provider,
    start,
)
from tests.conftest import signed_command
from tests.unit.test_decisions import NOW, role
from tests.unit.test_decisions import request as make_request

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


@pytest.mark.parametrize(
    "error, says",
    [
        (AwsUnavailable("DynamoDB put_item: ThrottlingException"), "AWS is slow right now"),
        # the check's own write may have landed, but the command did not run
        (AwsUncertain("DynamoDB put_item: timed out"), "nothing was changed"),
        (RuntimeError("no such table"), "Something went wrong on Switchback's side"),
    ],
)
def test_when_the_replay_check_cannot_run_nothing_happens(client, slack, error, says) -> None:
    def broken(key, forget_at):
        raise error

    wiring.service().store.first_arrival = broken
    body, headers = signed_command("U0ALICE", "request ec2-admin 30m INC-44 fix", "")
    answer = client.http.post("/slack/commands", body=body, headers=headers)
    assert answer.status_code == 200 and says in json.loads(answer.body)["text"]
    del wiring.service().store.first_arrival
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
    from chalicelib.entry.slack_signature import sign

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


# -- forged lines --------------------------------------------------------------------------------
FORGED = (
    "INC-1 fix\nRole: prod-admin\r\n*Pre-approved by security*\u2028Approvals: 2 of 2"
    "\u202egnp.exe\u200b\x1b[2J\ttab ```block```"
)
TEXT_ANYTHING = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]))


@settings(max_examples=300, deadline=None)
@given(TEXT_ANYTHING)
def test_user_text_becomes_one_line_with_nothing_hidden(text) -> None:
    line = messages.visible_line(text)
    hidden = {"Cc", "Cf", "Co", "Cs", "Zl", "Zp"}
    assert not [ch for ch in line if unicodedata.category(ch) in hidden]
    assert line.count(messages.LINE_BREAK_SHOWN.strip()) >= text.count("\n")


def test_a_reason_cannot_forge_lines_in_the_approvers_message() -> None:
    request = make_request(reason=FORGED)
    section = messages.approvers_new_request(request, role(), "http://x")["blocks"][0]
    lines = section["text"]["text"].split("\n")
    assert len(lines) == 6  # heading, requester, role, duration, reason, request: no more
    [reason] = [line for line in lines if line.startswith("*Reason:*")]
    assert reason.startswith("*Reason:* “INC-1 fix ⏎ Role: prod-admin ⏎ *Pre-approved")
    assert "⟨U+202E⟩gnp.exe⟨U+200B⟩⟨U+001B⟩[2J tab ˋˋˋblockˋˋˋ”" in reason
    assert not any(line.startswith("Role:") for line in lines)


def test_a_reason_cannot_forge_lines_on_the_review_page() -> None:
    request = make_request(reason=FORGED)
    viewer = pages.Viewer("U0BOB", "bob", "t", can_decide=True)
    html = pages.review_page(request, role(), viewer, [], NOW, {}, "/auth/signout")
    shown = re.search(r"<dd id=reason>(.*?)</dd>", html).group(1)
    assert shown.startswith("“<bdi>INC-1 fix ⏎ Role: prod-admin ⏎ *Pre-approved by security*")
    assert "⟨U+202E⟩" in shown and "\u202e" not in html and "\n" not in shown
    headline = re.search(r"<h1 id=headline><bdi>(.*?)</bdi></h1>", html).group(1)
    assert headline.startswith("alice asks for ec2-admin for 1 hour — INC-1 fix ⏎ Role:")


def test_a_deny_reason_cannot_forge_lines_either() -> None:
    request = make_request()
    text = messages.approvers_update(request, "denied", "U0BOB", "no\nApproved by: security")
    assert "\n" not in text["text"] and "no ⏎ Approved by: security" in text["text"]


# -- who may look ------------------------------------------------------------------------------
def test_a_slack_member_outside_the_directory_cannot_sign_in(deployed, provider) -> None:  # noqa: F811
    provider.next_user = ("U0MALLORY", TEAM)
    answer, attempt_cookie = start(deployed)
    response = callback(deployed, answer, attempt_cookie)
    assert response.status_code == 403
    page = response.body.decode()
    assert "Not in Switchback" in page and "people.toml" in page and "U0MALLORY" in page
    cookies = cookies_set(response)
    assert SESSION_COOKIE not in cookies  # no session at all
    assert "Max-Age=0" in cookies[SIGN_IN_COOKIE]  # and the attempt is used up


def test_someone_in_the_directory_signs_in(deployed, provider) -> None:  # noqa: F811
    provider.next_user = ("U0BOB", TEAM)
    answer, attempt_cookie = start(deployed)
    response = callback(deployed, answer, attempt_cookie)
    assert response.status_code == 303 and SESSION_COOKIE in cookies_set(response)


# -- reason patterns -----------------------------------------------------------------------------
# Each of these takes Python's backtracking `re` exponential time on the reasons below (with
# `re`, these tests would not finish); RE2 matches in time linear in the reason.
CATASTROPHIC = [r"^(x+x+)+y$", r"^(a|aa)+$", r"(\w+\s?)*$\d", r"^(([a-z])+.)+[A-Z]([a-z])+$"]


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_a_hostile_pattern_and_a_hostile_reason_are_answered_at_once(pattern) -> None:
    from chalicelib.core.decisions import Refusal, Refused, check_request
    from tests.unit.test_decisions import catalog

    spec = role(reason_pattern=pattern)
    for reason in ("x" * 1000, "a" * 999 + "!", "word " * 200 + "!"):
        with pytest.raises(Refused) as refused:
            check_request(catalog(spec), "U0ALICE", "ec2-admin", None, reason)
        assert refused.value.reason is Refusal.REASON_PATTERN


@pytest.mark.parametrize("pattern", [r"(INC)-\d+ \1", r"INC-(?=\d)", r"(?<!x)INC", "(unclosed"])
def test_patterns_re2_cannot_match_in_linear_time_are_refused_at_load(tmp_path, pattern) -> None:
    from tests.adapters.test_policies import only_problem, role_with, tree

    toml_value = json.dumps(pattern)  # a TOML basic string is a JSON string
    path = tree(tmp_path, roles={"ec2-admin": role_with(reason_pattern=toml_value)})
    problem = only_problem(path)
    assert str(path / "roles" / "ec2-admin.toml") in problem and ": reason_pattern:" in problem
    assert "linear time" in problem
