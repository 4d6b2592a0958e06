"""Lifecycle events to Amazon EventBridge, through the notification port.

Against a real moto server: the bus is routed by a rule (source "switchback") to an SQS queue,
and the tests read what a consumer would read from it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from chalicelib.config import ConfigError, settings
from chalicelib.core import events
from chalicelib.core.commands import RequestCommand
from chalicelib.core.durations import parse_duration
from chalicelib.core.events import Event, published_detail
from chalicelib.core.model import AccessRequest, State, iso
from chalicelib.delivery.eventbridge import RESTING, EventBridgeDelivery, judge
from chalicelib.delivery.message import OutboxMessage
from chalicelib.notify.eventbridge import EventPublisher
from tests.conftest import signed_command
from tests.support.engine_kit import built_engine

BUS = "switchback-events"
REQUIRED = {
    "event_id",
    "time",
    "request_id",
    "role",
    "role_arn",
    "principal",
    "requester",
    "actor",
    "ends_at",
    "reason",
    "approvals",
}


def route_to_queue(bus: str = BUS, **endpoint: str) -> tuple:
    """A rule on ``bus`` sending everything from source "switchback" to a new SQS queue."""
    kw = {"region_name": "us-east-1", **endpoint}
    sqs = boto3.client("sqs", **kw)
    queue = sqs.create_queue(QueueName=f"switchback-events-{time.monotonic_ns()}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    bridge = boto3.client("events", **kw)
    bridge.put_rule(
        Name="to-queue", EventBusName=bus, EventPattern=json.dumps({"source": ["switchback"]})
    )
    bridge.put_targets(
        Rule="to-queue", EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}]
    )
    return sqs, queue


def read_queue(sqs, queue: str) -> list[dict]:
    """Every event on the queue now (EventBridge's envelope, detail parsed)."""
    found = []
    while True:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return found
        for message in got:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def wait_for_events(sqs, queue: str, wanted: list[str], timeout: float = 30) -> list[dict]:
    seen: list[dict] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        seen += read_queue(sqs, queue)
        if all(any(e["detail-type"] == name for e in seen) for name in wanted):
            return seen
        time.sleep(0.5)
    raise AssertionError(f"wanted {wanted}, got {[e['detail-type'] for e in seen]}")


def event_messages() -> list[dict]:
    table = boto3.resource("dynamodb").Table("switchback")
    items = table.scan()["Items"]
    return [i for i in items if i["pk"].startswith("MSG#") and i["kind"].startswith("event.")]


@pytest.fixture
def bus_env(aws, monkeypatch):
    monkeypatch.setenv("SWITCHBACK_EVENT_BUS", BUS)
    boto3.client("events", region_name="us-east-1").create_event_bus(Name=BUS)
    return route_to_queue()


@pytest.fixture
def engine(bus_env, slack, monkeypatch, tmp_path):
    with built_engine(slack, monkeypatch, tmp_path) as built:
        yield built


# -- the life of a request, on the bus -----------------------------------------------------------
def test_every_event_of_a_requests_life_reaches_the_bus_with_its_detail(engine, bus_env) -> None:
    sqs, queue = bus_env
    request = engine.grant("U0ALICE", duration="30m")
    engine.service.flush(5)
    engine.clock.advance(minutes=31)
    engine.service.sweep()
    engine.service.flush(5)
    seen = read_queue(sqs, queue)
    names = [e["detail-type"] for e in seen]
    assert names == ["access.requested", "access.approved", "access.granted", "access.expired"]
    for envelope in seen:
        assert envelope["source"] == "switchback"
        body = envelope["detail"]
        assert REQUIRED <= set(body), REQUIRED - set(body)
        assert body["request_id"] == request.id and body["event"] == envelope["detail-type"]
        assert body["role"] == "ec2-admin"
        assert body["principal"] == "arn:aws:iam::123456789012:user/alice"
        assert body["requester"] == {"id": "U0ALICE", "name": "alice"}
        assert envelope["resources"] == [body["role_arn"]]
    by_name = {e["detail-type"]: e["detail"] for e in seen}
    assert by_name["access.requested"]["actor"] == "U0ALICE"
    assert by_name["access.approved"]["actor"] == "U0BOB"
    assert by_name["access.approved"]["approvals"] == ["U0BOB"]
    assert by_name["access.granted"]["ends_at"] == engine.stored(request.id).ends_at
    assert by_name["access.expired"]["actor"] == "switchback"
    # the dedup key is the stored message's id: one per event, never reused
    stored = {m["id"] for m in event_messages()}
    assert {e["detail"]["event_id"] for e in seen} == stored and len(stored) == 4
    assert all(m["status"] == "SENT" for m in event_messages())


def test_denied_cancelled_revoked_and_lapsed_are_published(engine, bus_env) -> None:
    sqs, queue = bus_env
    denied = engine.request("U0ALICE")
    engine.service.deny(denied, "U0BOB", "not now")
    cancelled = engine.request("U0ALICE")
    engine.service.cancel(cancelled, "U0ALICE")
    revoked = engine.grant("U0ALICE").id
    engine.service.revoke(revoked, "U0ALICE")
    lapsed = engine.request("U0ALICE")
    engine.clock.advance(hours=2)
    engine.service.sweep()
    engine.service.flush(5)
    last = {e["detail"]["request_id"]: e for e in read_queue(sqs, queue)}
    assert last[denied]["detail-type"] == "access.denied"
    assert last[denied]["detail"]["why"] == "not now"
    assert last[cancelled]["detail-type"] == "access.cancelled"
    assert last[revoked]["detail-type"] == "access.revoked"
    assert last[revoked]["detail"]["actor"] == "U0ALICE"
    assert last[lapsed]["detail-type"] == "access.lapsed"


def test_repaired_drift_is_published(engine, bus_env) -> None:
    sqs, queue = bus_env
    active = engine.grant("U0ALICE")
    engine.service.flush(5)
    read_queue(sqs, queue)
    # someone removed the grant's trust by hand: the sweep writes it again, as drift
    engine.set_trust({"Version": "2012-10-17", "Statement": [engine.trust()["Statement"][0]]})
    engine.service.sweep()
    engine.service.flush(5)
    [drift] = [e for e in read_queue(sqs, queue) if e["detail-type"] == "drift.repaired"]
    assert drift["detail"]["role_arn"] == active.role_arn
    assert "wrote the missing trust" in drift["detail"]["why"]
    assert drift["detail"]["actor"] == "switchback" and drift["detail"]["event_id"]


# -- never lost ---------------------------------------------------------------------------------
def test_a_bus_that_refuses_keeps_the_event_until_the_sweep_delivers_it(
    engine, bus_env, monkeypatch
) -> None:
    sqs, queue = bus_env
    bridge = boto3.client("events", region_name="us-east-1")
    bridge.remove_targets(Rule="to-queue", EventBusName=BUS, Ids=["queue"])
    bridge.delete_rule(Name="to-queue", EventBusName=BUS)
    bridge.delete_event_bus(Name=BUS)  # PutEvents now fails: the bus does not exist
    request_id = engine.request("U0ALICE")
    engine.service.flush(5)
    [held] = event_messages()
    assert held["status"] == "PENDING" and "ResourceNotFound" in held["last_error"]
    assert engine.slack.delivered("/webhook/approvers"), "Slack did not wait for the bus"
    bridge.create_event_bus(Name=BUS)
    sqs, queue = route_to_queue()
    engine.clock.advance(minutes=2)
    engine.service.sweep()
    [event] = read_queue(sqs, queue)
    assert event["detail-type"] == "access.requested"
    assert event["detail"]["request_id"] == request_id
    assert event["detail"]["event_id"] == held["id"]  # the same event, not a new one
    assert [m["status"] for m in event_messages()] == ["SENT"]


def test_an_entry_putevents_refuses_is_not_delivered() -> None:
    """PutEvents answers 200 with FailedEntryCount: the entry is retried, or given up when
    retrying cannot help."""

    class Refusing:
        def __init__(self, code: str):
            self.code = code

        def put_events(self, Entries):  # noqa: N803
            return {
                "FailedEntryCount": 1,
                "Entries": [{"ErrorCode": self.code, "ErrorMessage": "no"}],
            }

    entry = json.dumps({"Source": "switchback", "Time": "2026-11-28T10:00:00Z", "Detail": "{}"})
    throttled = EventBridgeDelivery(lambda: Refusing("ThrottlingException"))("x", entry, 1.0)
    assert not throttled.delivered and not throttled.permanent
    assert throttled.error == "ThrottlingException: no"
    malformed = EventBridgeDelivery(lambda: Refusing("MalformedDetail"))("x", entry, 1.0)
    assert not malformed.delivered and malformed.permanent
    assert judge("AccessDeniedException", "not allowed").permanent is False  # fixable: retry


def test_after_an_inline_failure_only_the_sweep_tries_the_bus_for_a_while() -> None:
    tried: list[str] = []

    class Down:
        def put_events(self, Entries):  # noqa: N803
            tried.append(Entries[0]["Source"])
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]}

    now = [0.0]
    send = EventBridgeDelivery(Down, clock=lambda: now[0])
    entry = json.dumps({"Source": "switchback", "Time": "2026-11-28T10:00:00Z", "Detail": "{}"})
    assert send("x", entry, 1.0).error == "InternalFailure"
    assert send("x", entry, 1.0).error == RESTING and len(tried) == 1  # inline: resting
    assert not send("x", entry, 1.0, patient=True).delivered and len(tried) == 2  # the sweep
    now[0] = 61.0
    send("x", entry, 1.0)
    assert len(tried) == 3  # rested: inline sends try again
    assert judge("InternalFailure", "").delivered is False


def test_a_malformed_entry_is_refused_by_the_real_api(bus_env) -> None:
    entry = {
        "Source": "switchback",
        "DetailType": "access.granted",
        "Detail": "not JSON",
        "EventBusName": BUS,
        "Time": "2026-11-28T10:00:00Z",
    }
    outcome = EventBridgeDelivery()("eventbridge:" + BUS, json.dumps(entry), 5.0)
    assert not outcome.delivered and outcome.permanent and "MalformedDetail" in outcome.error


def test_the_operator_cli_publishes_its_revoke(service, slack, bus_env, aws) -> None:
    from tests.e2e.test_admin import admin

    sqs, queue = bus_env
    request = service.submit(
        "U0ALICE", RequestCommand("ec2-admin", parse_duration("30m"), "INC-7 resize"), None
    )
    granted = service.approve(request.id, "U0BOB")
    service.flush(5)
    read_queue(sqs, queue)
    flags = ["--table", "switchback", "--policies", settings().policies_dir]
    flags += ["--webhook-url", f"{slack.url}/webhook/approvers", "--event-bus", BUS]
    done = admin(aws, *flags, "revoke", granted.id)
    assert done.returncode == 0, done.stderr
    [revoked] = read_queue(sqs, queue)
    assert revoked["detail-type"] == "access.revoked"
    assert revoked["detail"]["actor"].startswith("aws:arn:aws:")


# -- the slash command does not wait for the bus --------------------------------------------------
@pytest.fixture
def silent_bus(monkeypatch):
    """An EventBridge endpoint that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    connected: list[float] = []  # when each attempt to put an event reached it
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
                connected.append(time.monotonic())
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    monkeypatch.setenv(
        "AWS_ENDPOINT_URL_EVENTBRIDGE", f"http://127.0.0.1:{listener.getsockname()[1]}"
    )
    yield connected
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def test_a_bus_that_never_answers_leaves_the_slash_command_its_answer(
    aws, app_env, client, slack, silent_bus, monkeypatch
) -> None:
    from chalicelib import wiring
    from chalicelib.entry import slack_routes

    monkeypatch.setenv("SWITCHBACK_EVENT_BUS", BUS)
    # The same path with a roomier clock: on a loaded machine the Slack message alone can use
    # up the usual 1.5 s, and the bus would never be tried (not what this test is about).
    monkeypatch.setattr(slack_routes, "ACK_BUDGET_SECONDS", slack_routes.ACK_BUDGET_SECONDS + 2.0)
    monkeypatch.setattr(
        slack_routes, "COMMAND_BUDGET_SECONDS", slack_routes.COMMAND_BUDGET_SECONDS + 2.0
    )
    wiring.reset()
    body, headers = signed_command("U0ALICE", "request ec2-admin 30m INC-1 resize")
    answer = client.http.post("/slack/commands", body=body, headers=headers)
    assert answer.status_code == 200 and "pending" in json.loads(answer.body)["text"]
    # Slack's messages went first, inline; the event waits in the outbox for the sweep.
    assert len(slack.delivered("/webhook/approvers")) == 1
    [event] = event_messages()
    assert event["status"] == "PENDING" and event["kind"] == "event.access.requested"
    assert silent_bus, f"the event was not tried inline: {event['last_error']}"
    [told] = [e for e in slack.received if e["path"] == "/webhook/approvers"]
    assert told["at"] < silent_bus[0]
    # The next command does not try the silent bus again: its event waits for the sweep.
    body, headers = signed_command("U0BOB", "request ec2-admin 30m INC-2 resize")
    answer = client.http.post("/slack/commands", body=body, headers=headers)
    assert answer.status_code == 200 and "pending" in json.loads(answer.body)["text"]
    assert len(slack.delivered("/webhook/approvers")) == 2
    assert len(silent_bus) == 1, "tried once, not once per command"
    resting = [m for m in event_messages() if m["last_error"] == RESTING]
    assert [m["status"] for m in resting] == ["PENDING"]


def test_a_flush_sends_every_slack_message_before_any_event(
    aws, slack, monkeypatch, tmp_path, silent_bus
) -> None:
    """An approval and its grant are two changes: the grant's Slack messages still go before
    the approval's event, which waits for a bus that never answers."""
    monkeypatch.setenv("SWITCHBACK_EVENT_BUS", BUS)
    with built_engine(slack, monkeypatch, tmp_path) as engine:
        request_id = engine.request("U0ALICE")
        engine.service.flush(0)  # nothing inline: the request's messages wait for the sweep
        engine.service.approve(request_id, "U0BOB")
        engine.service.flush(3)
        granted = [e for e in slack.received if "is granted" in e["payload"].get("text", "")]
        assert granted and silent_bus, "the grant was told in Slack, and an event was tried"
        assert granted[0]["at"] < silent_bus[0]
        sent = {m["kind"]: m["status"] for m in event_messages()}
        assert sent["event.access.granted"] == "PENDING"


# -- the port: subscribers by wiring alone --------------------------------------------------------
class Recorder:
    """A third channel (as a Microsoft Teams notifier would be): posts each event's name to a
    webhook, through the same outbox."""

    def __init__(self, url: str):
        self.url = url

    def owes(self, event: Event) -> list[OutboxMessage]:
        if event.request is None or event.name not in events.LIFECYCLE:
            return []
        return [
            OutboxMessage(
                id=f"teams-{time.monotonic_ns()}",
                url=self.url,
                payload=json.dumps({"text": f"{event.name} {event.request.id}"}),
                kind=f"teams.{event.name}",
                request_id=event.request.id,
                created_at=iso(event.at),
                next_attempt_at=iso(event.at),
            )
        ]


def test_a_third_subscriber_is_plugged_in_by_wiring_alone(service, slack) -> None:
    service.notify.subscribers.append(Recorder(f"{slack.url}/teams"))
    request = service.submit(
        "U0ALICE", RequestCommand("ec2-admin", parse_duration("30m"), "INC-7 resize"), None
    )
    service.approve(request.id, "U0BOB")
    service.flush(5)
    assert slack.texts("/teams") == [
        f"access.requested {request.id}",
        f"access.approved {request.id}",
        f"access.granted {request.id}",
    ]


def test_an_event_announced_once_is_stored_once(service, slack) -> None:
    """Two sweeps that both decide to remind store one reminder: its id is its ``once`` key."""

    class Once(Recorder):
        def owes(self, event: Event) -> list[OutboxMessage]:
            return [replace(m, id=event.once) for m in super().owes(event)]

    request = service.submit(
        "U0ALICE", RequestCommand("ec2-admin", parse_duration("30m"), "INC-7 resize"), None
    )
    service.notify.subscribers[:] = [Once(f"{slack.url}/teams")]
    reminder = Event(events.REQUESTED, service.clock(), request, once=f"{request.id}-x")
    assert service.notify.publish(reminder) is True
    assert service.notify.publish(reminder) is False
    service.flush(5)
    assert slack.texts("/teams") == [f"access.requested {request.id}"]


def test_without_a_bus_nothing_is_published(service) -> None:
    assert settings().event_bus is None
    assert [type(s).__name__ for s in service.notify.subscribers] == ["Notifier"]


def test_a_bad_bus_setting_is_refused_with_its_name(monkeypatch) -> None:
    monkeypatch.setenv("SWITCHBACK_EVENT_BUS", "arn:aws:sns:us-east-1:123456789012:topic")
    settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match="SWITCHBACK_EVENT_BUS"):
            settings()
        monkeypatch.setenv(
            "SWITCHBACK_EVENT_BUS", "arn:aws:events:eu-west-1:123456789012:event-bus/audit"
        )
        settings.cache_clear()
        assert settings().event_bus.endswith("event-bus/audit")
    finally:
        settings.cache_clear()


# -- the detail, pure ------------------------------------------------------------------------------
def _request(**changes) -> AccessRequest:
    base = AccessRequest(
        id="7QK2M9TX4B",
        role="ops",
        role_arn="arn:aws:iam::123456789012:role/Ops",
        requester="U0ALICE",
        requester_name="alice",
        principal_arn="arn:aws:iam::123456789012:user/alice",
        duration_seconds=3600,
        reason="INC-9 down",
        created_at="2026-11-28T10:00:00Z",
        approval_deadline="2026-11-28T10:00:00Z",
        approvals_required=1,
    )
    return AccessRequest(**{**base.__dict__, **changes})


def test_the_detail_carries_the_contract_fields() -> None:
    at = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    granted = _request(state=State.ACTIVE, ends_at="2026-11-28T11:00:00Z", approvals=("U0BOB",))
    body = published_detail(Event(events.GRANTED, at, granted, "switchback"), events.GRANTED, "e1")
    assert REQUIRED <= set(body)
    assert body["event_id"] == "e1" and body["time"] == "2026-11-28T10:00:00Z"
    assert body["approvals"] == ["U0BOB"] and body["ends_at"] == "2026-11-28T11:00:00Z"


def test_a_flag_that_ends_a_break_glass_grant_is_also_its_revocation() -> None:
    at = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    publisher = EventPublisher(BUS)
    flagged = _request(state=State.REVOKED, break_glass=True, review="flagged")
    kinds = [m.kind for m in publisher.owes(Event(events.FLAGGED, at, flagged, "U0BOB", "no"))]
    assert kinds == ["event.breakglass.flagged", "event.access.revoked"]
    ended = _request(state=State.EXPIRED, break_glass=True, review="flagged")
    kinds = [m.kind for m in publisher.owes(Event(events.FLAGGED, at, ended, "U0BOB", "no"))]
    assert kinds == ["event.breakglass.flagged"]
    reminder = Event(events.ENDING_SOON, at, flagged, once="x")
    assert publisher.owes(reminder) == []  # said to people only


# -- the local stack, end to end -------------------------------------------------------------------
@pytest.mark.e2e
def test_the_local_stack_publishes_a_requests_life_to_the_bus(tmp_path, slack) -> None:
    """`make run` with SWITCHBACK_EVENT_BUS: the stack creates the bus on its moto server; a
    rule routes it to a queue; a request, its approval on the review page, the grant and the
    revoke arrive there, and every AWS call stays within the generated policy."""
    from chalicelib.policies import load_catalog
    from tests.conftest import ROOT
    from tests.e2e.test_whole_loop import SECRET, Browser, Stack
    from tests.support.least_privilege import compare, read_calls
    from tools.slash import send

    # The revoked grant's activity report follows at the next sweep (CloudTrail: the stand-in).
    stack = Stack(tmp_path, slack, SWITCHBACK_EVENT_BUS=BUS, SWITCHBACK_ACTIVITY_DELAY="1")
    try:
        stack.wait_ready()
        assert f"event bus {BUS}" in stack.output()
        endpoint = {
            "endpoint_url": stack.aws_url(),
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        sqs, queue = route_to_queue(**endpoint)
        status, answer = send(
            stack.api, SECRET, "U0ALICE", "request ec2-admin 30m INC-42 resize the ASG", ""
        )
        assert status == 200 and "pending" in answer["text"], answer
        [message] = slack.wait_for(lambda p: "Access request" in json.dumps(p))
        link = message["blocks"][1]["elements"][0]["url"]
        request_id = link.rsplit("/", 1)[1]
        bob = Browser()
        bob.post(f"{stack.api}/auth/dev", {"user": "U0BOB", "next": f"/requests/{request_id}"})
        _, _, page = bob.get(link)
        csrf = page.split("name=csrf value='", 1)[1].split("'", 1)[0]
        status, _, page = bob.post(f"{link}/approve", {"csrf": csrf})
        assert status == 200 and "Granted" in page
        status, answer = send(stack.api, SECRET, "U0ALICE", f"revoke {request_id}", "")
        assert status == 200, answer
        life = ["access.requested", "access.approved", "access.granted", "access.revoked"]
        seen = wait_for_events(sqs, queue, [*life, "access.activity_reported"])
        ours = [e for e in seen if e["detail"]["request_id"] == request_id]
        reported = [e for e in ours if e["detail-type"] == "access.activity_reported"]
        ours = [e for e in ours if e["detail-type"] in life]
        assert [e["detail-type"] for e in ours] == life
        assert all(REQUIRED <= set(e["detail"]) for e in ours)
        [report] = reported  # its detail: the report's summary (docs/events.md)
        assert {"window", "counts", "write_actions", "truncated"} <= set(report["detail"])
        assert ours[0]["detail"]["url"] == link
    finally:
        stack.stop()
    calls = read_calls(tmp_path / "aws-calls.jsonl")
    assert any(c["action"] == "events:PutEvents" for c in calls)
    assert compare(calls, load_catalog(ROOT / "policies"), "switchback", event_bus=BUS) == {
        "called but not allowed": [],
        "granted but unused": [],
        "said to be uncalled, but called": [],
    }


def test_an_event_given_up_says_the_bus_refused_it(engine, monkeypatch) -> None:
    """The give-up log names who refused: the bus for an event, not Slack."""
    from chalicelib import telemetry
    from chalicelib.delivery.outbox import Outbox
    from chalicelib.delivery.slack import Outcome

    engine.request("U0ALICE")
    stored = [m for m in event_messages() if m["status"] == "PENDING"]
    assert stored, "the request's event waits in the outbox"
    logged = []
    monkeypatch.setattr(
        telemetry, "event", lambda name, *_, **fields: logged.append((name, fields))
    )
    refusing = Outbox(
        engine.service.store,
        engine.service.notify.outbox._max_age,
        lambda *_, **__: Outcome(delivered=False, permanent=True, error="MalformedDetail: x"),
    )
    refusing.deliver_due(engine.clock.now + timedelta(minutes=5))
    gave_up = [fields for name, fields in logged if name == "message.gave_up"]
    events_given_up = [f for f in gave_up if f["kind"].startswith("event.")]
    assert events_given_up and {f["why"] for f in events_given_up} == {"the event bus refused it"}
