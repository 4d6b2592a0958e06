"""Delivery that loses nothing, against a local Slack receiver over real HTTP that answers 200,
500, 429 with Retry-After, hangs, or 404 channel_not_found; AWS is a real moto server.

What is retried and what is not, that the slash command's answer stays within Slack's 3 s,
and that after the receiver recovers every message has arrived exactly once.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from datetime import timedelta
from types import SimpleNamespace

import pytest

from chalicelib import telemetry
from chalicelib.core.model import iso
from chalicelib.delivery import outbox as outbox_module
from chalicelib.delivery.slack import CHAT_POST_MESSAGE, Outcome, judge_api
from tests.support.slack_team import Team, build_team, outbox_messages

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def team(app_env, slack, client, tmp_path, monkeypatch) -> Team:
    return build_team(client, slack, tmp_path / "policies", monkeypatch)


@pytest.fixture
def team_with_bot(app_env, slack, client, tmp_path, monkeypatch) -> Team:
    return build_team(
        client,
        slack,
        tmp_path / "policies",
        monkeypatch,
        SLACK_BOT_TOKEN="xoxb-test-token",
        SLACK_API_URL=f"{slack.url}/api/",
    )


@pytest.fixture
def recorded(monkeypatch):
    """What the code reports through telemetry: events (name, level, fields) and metrics."""
    events, metrics = [], []

    def event(name, level=logging.INFO, **fields):
        events.append((name, level, fields))

    monkeypatch.setattr(telemetry, "event", event)
    monkeypatch.setattr(telemetry, "metric", lambda name, value=1, *_: metrics.append(name))
    return SimpleNamespace(events=events, metrics=metrics)


def named(recorded, name: str) -> list[dict]:
    return [fields for event, _, fields in recorded.events if event == name]


def request_ids_in(payloads: list[dict]) -> Counter:
    """How often each request id was delivered (its id is in the message's first section)."""
    found: Counter = Counter()
    for payload in payloads:
        text = json.dumps(payload)
        found.update(set(re.findall(r"Access request\* `([0-9A-Z]{10})`", text)))
    return found


def messages_by_request() -> dict[str, dict]:
    return {m["request_id"]: m for m in outbox_messages()}


# -- the scenario ----------------------------------------------------------------------
def test_what_is_retried_what_is_not_and_nothing_is_lost_or_sent_twice(
    team: Team, recorded
) -> None:
    slack = team.slack
    slack.script = [
        (200, "ok", {}),
        (500, "rollup_error", {}),
        (429, "rate_limited", {"Retry-After": "120"}),
        "hang",
        (404, "channel_not_found", {}),
    ]
    ids, acks = [], []
    # five people: one person's second pending request for a role would only point to the first
    for n, who in enumerate(["U0ALICE", "U0BOB", "U0CAROL", "U0DAVE", "U0ERIN"]):
        answer, took = team.timed_slash(who, f"request ec2-admin 30m INC-{n} scenario")
        ids.append(re.search(r"Request `([0-9A-Z]{10})`", answer["text"]).group(1))
        acks.append(took)
    ok, server_error, rate_limited, hanging, not_found = ids
    assert max(acks) < 3.0, acks  # Slack's deadline, even while the webhook hangs

    stored = messages_by_request()
    assert stored[ok]["status"] == "SENT"
    assert stored[server_error]["status"] == "PENDING"
    assert stored[server_error]["last_error"] == "HTTP 500: rollup_error"
    assert stored[rate_limited]["status"] == "PENDING"
    assert stored[rate_limited]["next_attempt_at"] == iso(team.clock.now + timedelta(seconds=120))
    assert stored[hanging]["status"] == "PENDING" and "timed out" in stored[hanging]["last_error"]
    assert stored[not_found]["status"] == "GAVE_UP"  # a 404 will never succeed: not retried
    assert stored[not_found]["last_error"] == "HTTP 404: channel_not_found"
    [gave_up] = named(recorded, "message.gave_up")  # logged as an error, with the reason
    assert gave_up["request_id"] == not_found and gave_up["kind"] == "approvers.new"
    assert gave_up["why"] == "Slack refused it"
    assert gave_up["error"] == "HTTP 404: channel_not_found"
    assert recorded.metrics.count("undelivered") == 1
    assert {f["request_id"] for f in named(recorded, "message.retrying")} == {
        server_error,
        rate_limited,
        hanging,
    }

    team.clock.advance(seconds=31)
    assert team.sweep().messages_sent == 2  # the 500 and the hang, retried
    assert messages_by_request()[rate_limited]["status"] == "PENDING"  # Retry-After honoured
    team.clock.advance(seconds=90)
    assert team.sweep().messages_sent == 1
    for _ in range(3):
        team.clock.advance(minutes=10)
        assert team.sweep().messages_sent == 0

    assert {m["status"] for m in messages_by_request().values()} == {"SENT", "GAVE_UP"}
    delivered = request_ids_in(slack.delivered("/webhook/approvers"))
    assert delivered == {ok: 1, server_error: 1, rate_limited: 1, hanging: 1}
    received = request_ids_in([e["payload"] for e in slack.received])
    assert received[not_found] == 1  # sent once, never again


# -- the sweep ---------------------------------------------------------------------------------
def test_a_hanging_destination_gets_one_message_per_sweep_and_keeps_the_rest(
    team: Team, monkeypatch
) -> None:
    monkeypatch.setattr(outbox_module, "SWEEP_SEND_TIMEOUT", 0.5)
    team.slack.script = [(503, "", {})] * 3
    people = ["U0ALICE", "U0DAVE", "U0ERIN"]  # one pending request per person and role
    ids = [team.request(who, f"ec2-admin 30m INC-{n} x") for n, who in enumerate(people)]
    team.slack.script = ["hang"]
    team.clock.advance(seconds=31)
    assert team.sweep().messages_sent == 0
    assert len(team.slack.received) == 4  # three inline, then one try: the others wait
    team.clock.advance(seconds=61)
    assert team.sweep().messages_sent == 3
    assert request_ids_in(team.slack.delivered()) == dict.fromkeys(ids, 1)


@pytest.mark.parametrize(
    "blip", [(503, "", {}), (500, "rollup_error", {}), (429, "", {"Retry-After": "1"})]
)
def test_the_sweep_bridges_a_blip_with_slack_sdks_retry_handlers(team: Team, blip) -> None:
    team.slack.script = [(500, "", {})]
    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 x")
    team.slack.script = [blip]
    team.clock.advance(seconds=31)
    assert team.sweep().messages_sent == 1  # within one attempt: the blip, then 200
    assert [e["status"] for e in team.slack.received] == [500, blip[0], 200]
    assert request_ids_in(team.slack.delivered()) == {request_id: 1}


def test_in_process_retries_stop_after_one_blip(team: Team) -> None:
    team.slack.script = [(500, "", {})]
    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 x")
    team.slack.script = [(503, "", {}), (503, "", {})]
    team.clock.advance(seconds=31)
    assert team.sweep().messages_sent == 0
    assert len(team.slack.received) == 3
    team.clock.advance(minutes=2)
    assert team.sweep().messages_sent == 1
    assert request_ids_in(team.slack.delivered()) == {request_id: 1}


def test_a_long_retry_after_is_left_to_the_outbox_not_slept_on(team: Team) -> None:
    team.slack.script = [(500, "", {})]
    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 x")
    team.slack.script = [(429, "", {"Retry-After": "600"})]
    team.clock.advance(seconds=31)
    assert team.sweep().messages_sent == 0
    assert messages_by_request()[request_id]["next_attempt_at"] == iso(
        team.clock.now + timedelta(seconds=600)
    )


def test_a_message_failing_past_the_max_age_is_given_up_logged_and_counted(
    team: Team, recorded
) -> None:
    team.slack.script = [(500, "", {})]
    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 x")
    team.slack.script = [(500, "", {})] * 10
    team.clock.advance(days=1, seconds=1)
    team.sweep()
    [message] = [m for m in outbox_messages() if m["kind"] == "approvers.new"]
    assert message["request_id"] == request_id
    assert message["status"] == "GAVE_UP" and message["last_error"] == "HTTP 500: HTTP 500"
    gave_up = [f for f in named(recorded, "message.gave_up") if f["kind"] == "approvers.new"]
    assert [(f["why"], f["error"]) for f in gave_up] == [("too old", "HTTP 500: HTTP 500")]
    assert [level for name, level, _ in recorded.events if name == "message.gave_up"] == [
        logging.ERROR
    ] * len(named(recorded, "message.gave_up"))
    assert recorded.metrics.count("undelivered") == len(named(recorded, "message.gave_up"))


def test_claimed_messages_are_not_sent_by_a_second_concurrent_sweep(team: Team) -> None:
    team.slack.script = [(500, "", {})]
    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 x")
    team.clock.advance(seconds=31)
    [due] = team.service.store.due_messages(iso(team.clock.now))
    outbox = team.service.notify.outbox
    assert outbox.deliver_due(team.clock.now) == 1
    # a second sweep that read the message before the first one claimed it: loses the claim
    assert outbox._attempt(due, team.clock.now, timeout=1.0) is None
    assert request_ids_in(team.slack.delivered()) == {request_id: 1}


# -- the requester: response_url while Slack accepts it, then channel or direct message --------
def test_response_url_is_used_five_times_then_the_channel_mentions_the_requester(
    team: Team,
) -> None:
    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 x")
    request = team.stored(request_id)
    for n in range(6):
        team.notifier.requester(request, f"note {n}", "test.note")
    team.service.flush(5.0)
    assert team.slack.texts("/response/U0ALICE") == [f"note {n}" for n in range(5)]
    assert team.slack.texts("/webhook/approvers")[-1] == "<@U0ALICE> note 5"
    response = team.slack.delivered("/response/U0ALICE")[0]
    assert response["response_type"] == "ephemeral" and response["replace_original"] is False


def test_after_29_minutes_the_requester_hears_in_the_channel(team: Team) -> None:
    request = team.stored(team.request("U0ALICE", "ec2-admin 30m INC-1 x"))
    team.clock.advance(minutes=29)
    team.notifier.requester(request, "late note", "test.note")
    team.service.flush(5.0)
    assert team.slack.delivered("/response/U0ALICE") == []
    assert team.slack.texts("/webhook/approvers")[-1] == "<@U0ALICE> late note"


@pytest.mark.parametrize("refusal", ["expired_url", "used_url"])
def test_a_response_url_slack_refuses_falls_back_to_the_channel(
    team: Team, refusal, recorded
) -> None:
    request = team.stored(team.request("U0ALICE", "ec2-admin 30m INC-1 x"))
    team.slack.script = [(404, refusal, {})]
    team.notifier.requester(request, "granted, say", "test.note")
    team.service.flush(5.0)
    [message] = [m for m in outbox_messages() if m["kind"] == "test.note"]
    assert message["status"] == "PENDING" and message["url"] == "slack:approvers"  # a name
    assert message["last_error"] == f"HTTP 404: {refusal}"
    [rerouted] = named(recorded, "message.rerouted")
    assert rerouted["why"] == f"HTTP 404: {refusal}" and rerouted["kind"] == "test.note"
    team.sweep()
    assert team.slack.texts("/webhook/approvers")[-1] == "<@U0ALICE> granted, say"


def test_a_retry_that_outlives_the_response_url_goes_to_the_channel(team: Team) -> None:
    request = team.stored(team.request("U0ALICE", "ec2-admin 30m INC-1 x"))
    team.slack.script = [(500, "", {})]
    team.notifier.requester(request, "granted, say", "test.note")
    team.service.flush(5.0)
    team.clock.advance(minutes=30)
    team.sweep()
    assert len([e for e in team.slack.received if e["path"] == "/response/U0ALICE"]) == 1
    assert team.slack.texts("/webhook/approvers")[-1] == "<@U0ALICE> granted, say"


def test_with_a_bot_token_the_requester_gets_a_direct_message(team_with_bot: Team) -> None:
    team = team_with_bot
    request = team.stored(team.request("U0ALICE", "ec2-admin 30m INC-1 x"))
    team.clock.advance(minutes=31)
    team.notifier.requester(request, "your <b> note", "test.note")
    team.service.flush(5.0)
    [sent] = [
        e
        for e in team.slack.received
        if e["path"] == "/api/chat.postMessage" and e["payload"]["channel"] == "U0ALICE"
    ]
    assert sent["status"] == 200
    assert sent["headers"]["Authorization"] == "Bearer xoxb-test-token"
    assert sent["payload"]["channel"] == "U0ALICE" and sent["payload"]["text"] == "your <b> note"
    [message] = [m for m in outbox_messages() if m["kind"] == "test.note"]
    # the token is added when sending: never stored with the message, never in a repr
    assert message["url"] == CHAT_POST_MESSAGE and "xoxb" not in json.dumps(message, default=str)
    from chalicelib.config import settings

    assert settings().bot_token == "xoxb-test-token" and "xoxb" not in repr(settings())


def test_direct_message_answers_are_judged_by_their_error(team_with_bot: Team) -> None:
    team = team_with_bot
    request = team.stored(team.request("U0ALICE", "ec2-admin 30m INC-1 x"))
    team.clock.advance(minutes=31)
    team.slack.script = [
        (200, '{"ok": false, "error": "channel_not_found"}', JSON),
        (429, '{"ok": false, "error": "ratelimited"}', {**JSON, "Retry-After": "90"}),
    ]
    team.notifier.requester(request, "first", "test.first")
    team.notifier.requester(request, "second", "test.second")
    team.service.flush(5.0)
    stored = {m["kind"]: m for m in outbox_messages()}
    assert stored["test.first"]["status"] == "GAVE_UP"
    assert stored["test.first"]["last_error"] == "HTTP 200: channel_not_found"
    assert stored["test.second"]["status"] == "PENDING"
    assert stored["test.second"]["next_attempt_at"] == iso(team.clock.now + timedelta(seconds=90))
    team.clock.advance(seconds=91)
    team.sweep()
    assert [m["payload"]["text"] for m in team.slack.received][-1] == "second"
    assert {m["kind"]: m["status"] for m in outbox_messages()}["test.second"] == "SENT"


# -- pure: what a Web API answer means ---------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "data", "headers", "outcome"),
    [
        (200, {"ok": True}, {}, Outcome(delivered=True)),
        (
            200,
            {"ok": False, "error": "not_in_channel"},
            {},
            Outcome(delivered=False, permanent=True, error="HTTP 200: not_in_channel"),
        ),
        (
            429,
            {"ok": False, "error": "ratelimited"},
            {"Retry-After": ["30"]},
            Outcome(delivered=False, retry_after=30.0, error="rate limited (ratelimited)"),
        ),
        (
            200,
            {"ok": False, "error": "internal_error"},
            {},
            Outcome(delivered=False, error="HTTP 200: internal_error"),
        ),
        (503, "<html>", {}, Outcome(delivered=False, error="HTTP 503: HTTP 503")),
        (
            401,
            {"ok": False, "error": "invalid_auth"},
            {},
            Outcome(delivered=False, permanent=True, error="HTTP 401: invalid_auth"),
        ),
    ],
)
def test_judge_api(status, data, headers, outcome) -> None:
    assert judge_api(status, data, headers) == outcome


def test_concurrent_senders_never_use_a_response_url_more_than_five_times(team: Team) -> None:
    import threading

    import boto3

    store = team.service.store
    results: list[bool] = []
    start = threading.Barrier(12)

    def take() -> None:
        start.wait()
        results.append(store.take_response_use("7QK2M9TX4B", 5, 1_900_000_000))

    threads = [threading.Thread(target=take) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True] * 5
    item = boto3.client("dynamodb").get_item(
        TableName="switchback", Key={"pk": {"S": "RESPONSEURL#7QK2M9TX4B"}, "sk": {"S": "USES"}}
    )["Item"]
    assert item["uses"] == {"N": "5"} and item["expires"] == {"N": "1900000000"}  # TTL
