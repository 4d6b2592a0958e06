"""A click sends the messages it stored, then records what became of them all in one write: a
click that granted four requests marks its nine messages sent with one TransactWriteItems, not
nine PutItems. Nothing is lost on the way: a message a sweep took meanwhile stays the sweep's,
a write whose answer was lost is known as ours, messages sent but not recorded go again with
the sweep (delivery is at least once), and a review button stops sending in time to record.

Real moto server and Slack receiver over HTTP; faults through botocore's event hooks.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import boto3
import pytest

from chalicelib import telemetry
from chalicelib.aws.store import Store
from chalicelib.core.model import State, iso
from chalicelib.delivery import outbox as outbox_module
from chalicelib.delivery.outbox import INLINE_GRACE
from tests.conftest import BASE_URL
from tests.support.engine_kit import built_engine, hold_role_lock, lapse_role_lock
from tests.support.slack_team import Team, build_team

# Requester -> approver; nobody approves their own request.
FOUR = {"U0ALICE": "U0BOB", "U0DAVE": "U0BOB", "U0BOB": "U0CAROL", "U0CAROL": "U0BOB"}


@pytest.fixture
def engine(aws, slack, monkeypatch, tmp_path):
    with built_engine(slack, monkeypatch, tmp_path) as built:
        yield built


@pytest.fixture
def recorded(monkeypatch):
    """What the code reports through telemetry: events (name, level, fields)."""
    events = []
    monkeypatch.setattr(
        telemetry, "event", lambda name, level=logging.INFO, **f: events.append((name, f))
    )
    return SimpleNamespace(events=events)


class MessageWrites:
    """Each write call of the store's client that holds outbox messages, as the list of
    (kind, status) it writes: a PutItem is a list of one."""

    def __init__(self, client) -> None:
        self.calls: list[tuple[str, list[tuple[str, str]]]] = []
        client.meta.events.register("before-parameter-build.dynamodb.PutItem", self._put)
        client.meta.events.register(
            "before-parameter-build.dynamodb.TransactWriteItems", self._transact
        )

    def _put(self, params: dict, **_) -> None:
        self._note("PutItem", [params["Item"]])

    def _transact(self, params: dict, **_) -> None:
        self._note("TransactWriteItems", [e["Put"]["Item"] for e in params["TransactItems"]])

    def _note(self, operation: str, items: list[dict]) -> None:
        messages = [
            (i["kind"]["S"], i["status"]["S"]) for i in items if i["pk"]["S"].startswith("MSG#")
        ]
        if messages:
            self.calls.append((operation, messages))


def three_left_with_a_dead_holder(engine) -> str:
    """Three of FOUR approved while another process holds ec2-admin's lock (each click leaves
    its request with the holder), which then dies; the fourth request is still pending. Every
    message owed so far is sent. Returns the fourth request's id."""
    hold_role_lock("dead")
    ids = {requester: engine.request(requester) for requester in FOUR}
    last = list(FOUR)[-1]
    for requester, approver in list(FOUR.items())[:-1]:
        assert engine.service.approve(ids[requester], approver).state is State.APPROVED
    lapse_role_lock()
    engine.service.flush(5)
    return ids[last]


def test_a_click_that_granted_four_records_all_it_sent_in_one_write(engine) -> None:
    fourth = three_left_with_a_dead_holder(engine)
    writes = MessageWrites(engine.service.store.client)
    slack_before = len(engine.slack.received)
    answered = engine.service.approve(fourth, FOUR["U0CAROL"])
    assert answered.state is State.ACTIVE  # it took the lock and granted all four
    writes.calls.clear()  # the grants' transaction stored the messages; now they are sent
    engine.service.flush(5)
    sent = engine.slack.received[slack_before:]
    assert len(sent) == 9 and all(entry["status"] == 200 for entry in sent)
    # Its approval, then each grant to the requester and the channel: all in one write.
    kinds = ["approvers.approved"] + ["requester.granted", "approvers.granted"] * 4
    [(operation, recorded)] = writes.calls
    assert operation == "TransactWriteItems"
    assert sorted(recorded) == sorted((kind, "SENT") for kind in kinds)


def test_a_message_a_sweep_took_meanwhile_stays_the_sweeps_and_the_rest_are_recorded(
    engine,
) -> None:
    outbox = engine.service.notify.outbox
    now = engine.clock()
    url = f"{engine.slack.url}/webhook/approvers"
    queued = [
        outbox.enqueue(url, {"text": f"note {n}"}, "test.note", "0000000001", now) for n in range(3)
    ]
    claimed_until = iso(now + timedelta(minutes=5))
    other_process = Store(boto3.client("dynamodb"), "switchback")

    def a_sweep_claims_the_second(**_) -> None:
        # It claims the message just as this click's record of it goes out.
        other_process.save_message(replace(queued[1], next_attempt_at=claimed_until))

    client = engine.service.store.client
    client.meta.events.register_first(
        "before-call.dynamodb.TransactWriteItems", a_sweep_claims_the_second, unique_id="claim"
    )
    writes = MessageWrites(client)
    outbox.send_now(queued, now, time.monotonic() + 5)
    client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="claim")

    stored = [engine.service.store.get_message(m.id) for m in queued]
    assert [m.status for m in stored] == ["SENT", "PENDING", "SENT"]
    assert stored[1].next_attempt_at == claimed_until  # the sweep's claim, not overwritten
    assert stored[1].attempts == 0
    # The transaction was cancelled by the second's condition; each was then written alone.
    assert [operation for operation, _ in writes.calls] == ["TransactWriteItems"] + ["PutItem"] * 3


def test_more_than_a_transaction_holds_is_recorded_in_as_few_as_fit(engine) -> None:
    """DynamoDB takes at most 100 items a transaction: 101 messages are two writes."""
    outbox = engine.service.notify.outbox
    now = engine.clock()
    url = f"{engine.slack.url}/webhook/approvers"
    queued = [
        outbox.enqueue(url, {"text": f"note {n}"}, "test.note", "0000000001", now)
        for n in range(101)
    ]
    writes = MessageWrites(engine.service.store.client)
    outbox.send_now(queued, now, time.monotonic() + 30)
    assert [(operation, len(items)) for operation, items in writes.calls] == [
        ("TransactWriteItems", 100),
        ("PutItem", 1),
    ]
    assert {engine.service.store.get_message(m.id).status for m in queued} == {"SENT"}


def test_a_record_whose_answer_was_lost_is_known_as_ours(engine, recorded) -> None:
    fourth = three_left_with_a_dead_holder(engine)
    engine.service.approve(fourth, FOUR["U0CAROL"])
    faults = engine.faults().lose_answer(
        "dynamodb.TransactWriteItems", lambda body: body.count(b'"SENT"') >= 9
    )
    sent_before = len(engine.slack.received)
    writes = MessageWrites(engine.service.store.client)
    engine.service.flush(5)
    assert faults.injected == ["dynamodb.TransactWriteItems answer lost"]
    # botocore's retry failed our own conditions; the write's token showed it was ours, so
    # nothing was written again one message at a time.
    assert [operation for operation, _ in writes.calls] == ["TransactWriteItems"]
    assert not [e for e in recorded.events if e[0] == "message.inline_failed"]
    engine.clock.advance(seconds=INLINE_GRACE.total_seconds() + 1)
    engine.service.sweep()
    assert len(engine.slack.received) - sent_before == 9  # none of them sent twice


def test_messages_sent_but_not_recorded_go_again_with_the_sweep(engine, recorded) -> None:
    outbox = engine.service.notify.outbox
    now = engine.clock()
    url = f"{engine.slack.url}/webhook/approvers"
    queued = [
        outbox.enqueue(url, {"text": f"note {n}"}, "test.note", "0000000001", now) for n in range(2)
    ]
    faults = engine.faults().server_error("dynamodb.TransactWriteItems", times=10)
    outbox.send_now(queued, now, time.monotonic() + 5)
    faults.clear()
    assert len(engine.slack.received) == 2
    unrecorded = [f for name, f in recorded.events if name == "message.inline_failed"]
    assert [f["message_id"] for f in unrecorded] == [m.id for m in queued]
    assert all(f["error"].startswith("not recorded") for f in unrecorded)
    assert {engine.service.store.get_message(m.id).status for m in queued} == {"PENDING"}

    engine.clock.advance(seconds=INLINE_GRACE.total_seconds() + 1)
    engine.service.sweep()
    texts = sorted(entry["payload"]["text"] for entry in engine.slack.received)
    assert texts == ["note 0", "note 0", "note 1", "note 1"]  # at least once: twice here
    assert {engine.service.store.get_message(m.id).status for m in queued} == {"SENT"}


# -- destinations side by side ------------------------------------------------------------------
def hang_on(slack, path: str = "/hang/", channel: str = "U0STUCK") -> None:
    """Slack holds posts to paths under ``path``, and direct messages to ``channel``, until
    the test ends; it answers the others at once."""
    slack.answer_for = lambda at, payload: (
        "hang" if at.startswith(path) or payload.get("channel") == channel else None
    )


def arrived(slack) -> list[tuple[str, str]]:
    return [(entry["path"], entry["payload"]["text"]) for entry in slack.received]


def queue(engine, url: str, *texts: str) -> list:
    outbox, now = engine.service.notify.outbox, engine.clock()
    return [outbox.enqueue(url, {"text": t}, "test.note", "0000000001", now) for t in texts]


def test_a_destination_that_hangs_costs_the_others_nothing(engine) -> None:
    """A requester's response_url that never answers, queued first: the channel and another
    requester still hear everything, each in its order, within the same deadline."""
    slack = engine.slack
    hang_on(slack)
    stuck = queue(engine, f"{slack.url}/hang/alice", "stuck 1", "stuck 2")
    channel = queue(engine, f"{slack.url}/channel", *[f"channel {n}" for n in range(5)])
    bob = queue(engine, f"{slack.url}/bob", "bob 1")
    began = time.monotonic()
    engine.service.notify.outbox.send_now(stuck + channel + bob, engine.clock(), began + 1.5)
    assert time.monotonic() - began < 4  # the deadline and one write, not a send per message

    assert [text for path, text in arrived(slack) if path == "/channel"] == [
        f"channel {n}" for n in range(5)
    ]
    assert ("/bob", "bob 1") in arrived(slack)
    stored = {m.id: engine.service.store.get_message(m.id) for m in stuck + channel + bob}
    assert {stored[m.id].status for m in channel + bob} == {"SENT"}
    first, second = (stored[m.id] for m in stuck)
    assert first.status == "PENDING" and first.attempts == 1  # timed out: to be retried
    assert "timed out" in first.last_error.lower()
    assert second.attempts == 0  # never tried after it: it keeps its place behind the first
    assert ("/hang/alice", "stuck 2") not in arrived(slack)


def test_each_persons_direct_messages_are_a_destination_of_their_own(engine) -> None:
    """Direct messages all go to one Web API method; a person whose messages hang holds up
    only their own."""
    from chalicelib.delivery.outbox import Outbox
    from chalicelib.delivery.slack import CHAT_POST_MESSAGE, SlackDelivery

    hang_on(engine.slack)
    outbox = Outbox(
        engine.service.store,
        timedelta(hours=1),
        SlackDelivery("xoxb-test", f"{engine.slack.url}/api/"),
    )
    now = engine.clock()
    queued = [
        outbox.enqueue(CHAT_POST_MESSAGE, {"channel": who, "text": f"to {who}"}, "t", "1", now)
        for who in ("U0STUCK", "U0BOB")
    ]
    outbox.send_now(queued, now, time.monotonic() + 1.5)
    assert ("/api/chat.postMessage", "to U0BOB") in arrived(engine.slack)
    assert [engine.service.store.get_message(m.id).status for m in queued] == ["PENDING", "SENT"]


def test_at_most_so_many_destinations_are_sent_to_at_once(engine, monkeypatch) -> None:
    """Four destinations that hang and a fifth that answers: the fifth waits for a free
    sender, and the deadline passes first (this is what LANES_AT_ONCE bounds)."""
    slack = engine.slack
    hang_on(slack)
    monkeypatch.setattr(outbox_module, "LANES_AT_ONCE", 4)
    stuck = [queue(engine, f"{slack.url}/hang/{n}", f"stuck {n}")[0] for n in range(4)]
    last = queue(engine, f"{slack.url}/last", "last")
    engine.service.notify.outbox.send_now(stuck + last, engine.clock(), time.monotonic() + 1.0)
    assert sorted(text for _, text in arrived(slack)) == [f"stuck {n}" for n in range(4)]
    monkeypatch.setattr(outbox_module, "LANES_AT_ONCE", 5)
    more = [queue(engine, f"{slack.url}/hang/{n}", f"again {n}")[0] for n in range(4)]
    last = queue(engine, f"{slack.url}/last", "last")
    engine.service.notify.outbox.send_now(more + last, engine.clock(), time.monotonic() + 1.0)
    assert ("/last", "last") in arrived(slack)


# -- the review page ---------------------------------------------------------------------------
@pytest.fixture
def team(app_env, slack, client, tmp_path, monkeypatch) -> Team:
    return build_team(client, slack, tmp_path / "policies", monkeypatch)


def test_a_button_stops_sending_in_time_to_record_what_it_sent(team: Team, monkeypatch) -> None:
    """Slack hangs on the click's first message: the click gives up on it a second before its
    budget ends, and records the attempt (to be retried), rather than leaving no trace."""
    from chalicelib.entry import review_routes

    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 fix")
    monkeypatch.setattr(review_routes, "PAGE_BUDGET_SECONDS", 3.0)  # the same path, a shorter clock
    team.slack.script = ["hang"]
    answer = team.click(request_id, "U0BOB", "approve")
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"{BASE_URL}/requests/{request_id}"
    tried = [m for m in _messages_of(team, request_id) if m.attempts and m.status != "SENT"]
    assert len(tried) == 1 and tried[0].status == "PENDING"  # to be tried again
    assert "timed out" in tried[0].last_error.lower()


def test_an_approve_button_reads_its_request_once(team: Team) -> None:
    """The page reads the request to check it; the approval decides on that read (its write
    is conditional on the version read), rather than reading it again."""
    from chalicelib import wiring

    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 fix")
    reads: list[str] = []
    client = wiring.service().store.client
    client.meta.events.register(
        "before-parameter-build.dynamodb.GetItem",
        lambda params, **_: reads.append(params["Key"]["pk"]["S"]),
        unique_id="reads",
    )
    try:
        answer = team.click(request_id, "U0BOB", "approve")
    finally:
        client.meta.events.unregister("before-parameter-build.dynamodb.GetItem", unique_id="reads")
    assert answer.status_code == 303
    assert team.stored(request_id).state is State.ACTIVE
    assert reads.count(f"REQ#{request_id}") == 1


def _messages_of(team: Team, request_id: str):
    from chalicelib.aws.store import _message_from

    table = boto3.resource("dynamodb").Table("switchback")
    return [
        _message_from(i)
        for i in table.scan()["Items"]
        if i["pk"].startswith("MSG#") and i["request_id"] == request_id
    ]
