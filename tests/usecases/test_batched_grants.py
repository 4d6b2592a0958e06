"""A locked step records the grants it wrote in as few DynamoDB transactions as fit, each
request with the messages its change owes: a conflict on one request never loses the others,
and a process killed around the batched write loses no message.

Real moto server, real boto3 clients; concurrent writers and faults come in through botocore's
event hooks (tests/support/faults.py), as they would from AWS.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import replace

import boto3
import pytest

from chalicelib.aws import table as table_module
from chalicelib.core.model import State
from chalicelib.delivery.message import OutboxMessage
from tests.support.engine_kit import built_engine, hold_role_lock, lapse_role_lock, role_lock_key
from tests.support.faults import Crash
from tests.usecases.test_nothing_lost import delivered, next_process, owed_by_the_store

# Requester -> approver: four requests of ec2-admin, nobody approving their own.
FOUR = {"U0ALICE": "U0BOB", "U0DAVE": "U0BOB", "U0BOB": "U0CAROL", "U0CAROL": "U0BOB"}


@pytest.fixture
def engine(aws, slack, monkeypatch, tmp_path):
    with built_engine(slack, monkeypatch, tmp_path) as built:
        yield built


def approved_while_the_lock_is_held(engine) -> list[str]:
    """Four requests approved while another process holds ec2-admin's lock (each click leaves
    its request with that holder), which then dies: its lease lapses, nothing is granted yet."""
    hold_role_lock("dead")
    ids = []
    for requester, approver in FOUR.items():
        answered = engine.service.approve(engine.request(requester), approver)
        assert answered.state is State.APPROVED
        ids.append(answered.id)
    lapse_role_lock()
    engine.service.flush(5)
    return ids


class Transactions:
    """The TransactWriteItems the store's client sends, as (request id, state) and message
    (kind, request id) per transaction."""

    def __init__(self, client) -> None:
        self.seen: list[dict] = []
        client.meta.events.register(
            "before-parameter-build.dynamodb.TransactWriteItems", self._record
        )

    def _record(self, params: dict, **_) -> None:
        requests, messages = [], []
        for entry in params["TransactItems"]:
            item = entry["Put"]["Item"]
            if item["pk"]["S"].startswith("REQ#"):
                requests.append((item["id"]["S"], item["state"]["S"]))
            elif item["pk"]["S"].startswith("MSG#"):
                messages.append((item["kind"]["S"], item["request_id"]["S"]))
        self.seen.append({"requests": requests, "messages": messages})

    def granting(self) -> list[dict]:
        return [t for t in self.seen if any(s == "ACTIVE" for _, s in t["requests"])]


def granted_with_its_messages(transaction: dict, request_id: str) -> bool:
    kinds = sorted(kind for kind, rid in transaction["messages"] if rid == request_id)
    return (request_id, "ACTIVE") in transaction["requests"] and kinds == [
        "approvers.granted",
        "requester.granted",
    ]


def test_a_step_records_its_grants_in_one_transaction_with_each_ones_messages(engine) -> None:
    ids = approved_while_the_lock_is_held(engine)
    transactions = Transactions(engine.service.store.client)
    counter = engine.counter()
    report = engine.service.sweep()
    assert report.granted == 4
    [together] = transactions.granting()
    assert sorted(rid for rid, _ in together["requests"]) == sorted(ids)
    assert all(granted_with_its_messages(together, rid) for rid in ids)
    # One transaction for the step's changes; one more records the messages once sent.
    assert [t for t in transactions.seen if t["requests"]] == [together]
    assert counter.calls["dynamodb.TransactWriteItems"] == 2
    assert {engine.stored(rid).state for rid in ids} == {State.ACTIVE}
    assert engine.trusted_names() == ["alice", "bob", "carol", "dave"]
    engine.clock.advance(minutes=2)
    engine.service.sweep()
    kinds = delivered(engine)
    assert kinds["requester.granted"] == kinds["approvers.granted"] == 4  # each told once
    assert kinds == owed_by_the_store(engine)


def test_grants_that_need_more_than_one_transaction_are_all_written(engine, monkeypatch) -> None:
    ids = approved_while_the_lock_is_held(engine)
    monkeypatch.setattr(table_module, "TRANSACTION_ITEMS", 7)  # two requests (3 items each)
    transactions = Transactions(engine.service.store.client)
    assert engine.service.sweep().granted == 4
    granting = transactions.granting()
    assert [len(t["requests"]) for t in granting] == [2, 2]
    assert all(granted_with_its_messages(t, rid) for t in granting for rid, _ in t["requests"])
    assert {engine.stored(rid).state for rid in ids} == {State.ACTIVE}


def test_a_request_changed_meanwhile_costs_the_others_nothing(engine) -> None:
    ids = approved_while_the_lock_is_held(engine)
    moved = ids[1]
    transactions = Transactions(engine.service.store.client)
    once = []

    def an_operator_writes_first(request, **_) -> None:
        # Another process notes on one of the requests just before the batch reaches AWS.
        if b'"ACTIVE"' in (request.body or b"") and not once:
            once.append(True)
            other = threading.Thread(
                target=engine.service.record, args=(moved, "aws:operator", "looked at it")
            )
            other.start()
            other.join()

    client = engine.service.store.client
    client.meta.events.register_first(
        "before-send.dynamodb.TransactWriteItems", an_operator_writes_first
    )
    report = engine.service.sweep()
    client.meta.events.unregister(
        "before-send.dynamodb.TransactWriteItems", an_operator_writes_first
    )
    granting = transactions.granting()
    # the batch was cancelled by the one condition that failed; each request then went alone,
    # still with its own messages (the moved one's condition failed again)
    assert len(granting[0]["requests"]) == 4
    alone = granting[1:]
    assert all(len(t["requests"]) == 1 for t in alone)
    assert sorted(t["requests"][0][0] for t in alone) == sorted(ids)
    assert all(granted_with_its_messages(t, t["requests"][0][0]) for t in alone)
    assert report.granted == 3
    for rid in set(ids) - {moved}:
        assert engine.stored(rid).state is State.ACTIVE
    stored = engine.stored(moved)
    assert stored.state is State.APPROVED  # not recorded by this step: its note won
    assert [e.action for e in stored.audit][-1] == "looked at it"
    # its trust is written; the next sweep records it (and tells its people)
    engine.service.sweep()
    assert engine.stored(moved).state is State.ACTIVE
    engine.clock.advance(minutes=2)
    engine.service.sweep()
    assert delivered(engine) == owed_by_the_store(engine)
    # and nothing was sent that the store does not hold (the lost write's messages were not)
    assert len(engine.slack.delivered()) == sum(delivered(engine).values())


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
def test_a_process_killed_around_the_batched_write_loses_no_message(engine, after) -> None:
    ids = approved_while_the_lock_is_held(engine)
    faults = engine.faults().crash(
        "dynamodb.TransactWriteItems",
        lambda params: (
            sum(e["Put"]["Item"].get("state") == {"S": "ACTIVE"} for e in params["TransactItems"])
            == 4
        ),
        after=after,
    )
    with pytest.raises(Crash):
        engine.service.sweep()
    assert faults.injected == [
        f"crash {'after' if after else 'before'} dynamodb.TransactWriteItems"
    ]
    states = {engine.stored(rid).state for rid in ids}
    assert states == ({State.ACTIVE} if after else {State.APPROVED})  # all or nothing
    following = next_process(engine)
    assert {following.stored(rid).state for rid in ids} == {State.ACTIVE}
    assert delivered(following) == owed_by_the_store(following)
    kinds = Counter(delivered(following))
    assert kinds["requester.granted"] == kinds["approvers.granted"] == 4  # each told once


def test_a_batched_write_whose_answer_was_lost_is_recorded_once(engine) -> None:
    ids = approved_while_the_lock_is_held(engine)
    faults = engine.faults().lose_answer(
        "dynamodb.TransactWriteItems", lambda body: body.count(b"REQ#") >= 4
    )
    report = engine.service.sweep()
    assert faults.injected == ["dynamodb.TransactWriteItems answer lost"]
    assert report.granted == 4
    for rid in ids:
        assert [e.action for e in engine.stored(rid).audit].count("granted") == 1
    engine.clock.advance(minutes=2)
    engine.service.sweep()
    kinds = delivered(engine)
    assert kinds["requester.granted"] == kinds["approvers.granted"] == 4


def test_a_click_that_finds_the_lock_held_leaves_its_request_without_reading_the_role(
    engine,
) -> None:
    """Only the lock's holder queries the role's open grants (under the lock, so it sees every
    request approved until then); a click that hands its request over reads nothing more."""
    dynamodb = boto3.client("dynamodb")
    hold_role_lock("busy")
    request_id = engine.request("U0ALICE")
    counter = engine.counter()
    answered = engine.service.approve(request_id, "U0BOB")
    assert answered.state is State.APPROVED
    assert counter.calls["dynamodb.Query"] == 0
    assert counter.calls["dynamodb.BatchGetItem"] == 0
    assert counter.total("iam") == 0
    assert counter.calls["dynamodb.UpdateItem"] == 1  # its id left with the holder
    held = dynamodb.get_item(TableName="switchback", Key=role_lock_key())["Item"]
    assert held["pending"]["SS"] == [request_id]


# -- cutting a step's changes into transactions ---------------------------------------------------
def _message(request_id: str, n: int, text: str = "granted") -> OutboxMessage:
    return OutboxMessage(
        id=f"{request_id}-{n}",
        url="http://127.0.0.1:9/webhook",
        payload=json.dumps({"text": text}),
        kind="requester.granted",
        request_id=request_id,
        created_at="2026-11-28T10:00:00Z",
        next_attempt_at="2026-11-28T10:00:00Z",
    )


def test_changes_are_cut_into_transactions_within_dynamodbs_limits(engine, monkeypatch) -> None:
    store = engine.service.store
    base = engine.stored(engine.request("U0ALICE"))
    changes = [
        (replace(base, id=f"R{i:09d}"), [_message(f"R{i:09d}", n) for n in range(2)])
        for i in range(40)
    ]
    chunks = list(store.requests.runs(changes))
    # 3 items a request: 33 requests fill 99 of DynamoDB's 100 items, the 7 others the next
    assert [len(c) for c in chunks] == [33, 7]
    assert [r.id for c in chunks for r, _ in c] == [r.id for r, _ in changes]  # order kept
    # a request and its messages are never split
    assert all(m.request_id == r.id for c in chunks for r, ms in c for m in ms)
    # exactly 100 items fit, 101 do not
    two = [(replace(base, id=f"S{i:09d}"), [_message(f"S{i:09d}", 0)]) for i in range(51)]
    assert [len(c) for c in store.requests.runs(two)] == [50, 1]
    assert [len(c) for c in store.requests.runs(changes[:33] + two[:1])] == [33, 1]
    # 4 MB: a transaction holds no more bytes than that, whatever the item count
    one = store.requests.size(*changes[0])
    monkeypatch.setattr(table_module, "TRANSACTION_BYTES", 3 * one)
    assert [len(c) for c in store.requests.runs(changes)] == [3] * 13 + [1]
    with pytest.raises(ValueError):
        list(store.requests.runs([(base, [_message(base.id, n) for n in range(100)])]))
