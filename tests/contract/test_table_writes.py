"""The DynamoDB table's versioned write where only DynamoDB can show it: an answer lost on the
way back and botocore's retry meeting our own write, and how many transactions a batch takes.

Real moto server over HTTP; faults come in through botocore's event hooks (tests/faults.py).
"""

from __future__ import annotations

from dataclasses import replace

import boto3
import pytest
from botocore.config import Config

from chalicelib.aws.store import Store, table_definition
from chalicelib.core.errors import StoreConflict
from chalicelib.core.model import State
from tests.contract.kit import ROLE, a_message, a_request, at, moved
from tests.support.faults import Faults


@pytest.fixture
def dynamodb(aws: str) -> tuple[Store, Faults]:
    client = boto3.client(
        "dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 3})
    )
    client.create_table(**table_definition("contract"))
    store = Store(client, "contract")
    return store, Faults(client)


def test_a_new_request_whose_answer_was_lost_is_ours(dynamodb) -> None:
    store, faults = dynamodb
    faults.lose_answer("dynamodb.PutItem")
    saved = store.create_request(a_request())
    assert faults.injected == ["dynamodb.PutItem answer lost"]
    assert store.get_request(saved.id) == saved


def test_a_change_and_its_messages_whose_answer_was_lost_are_ours(dynamodb) -> None:
    store, faults = dynamodb
    read = store.create_request(a_request(state=State.ACTIVE, ends_at=at(5)))
    faults.lose_answer("dynamodb.TransactWriteItems")
    saved = store.save_request(moved(read, State.EXPIRED), [a_message("m1")])
    assert faults.injected == ["dynamodb.TransactWriteItems answer lost"]
    assert store.get_request(read.id) == saved
    assert store.get_message("m1").version == 1


def test_a_batch_whose_answer_was_lost_is_all_ours(dynamodb) -> None:
    store, faults = dynamodb
    reads = [
        store.create_request(a_request(f"G00000000{n}", State.ACTIVE, ends_at=at(5)))
        for n in range(3)
    ]
    faults.lose_answer("dynamodb.TransactWriteItems")
    saved = store.save_requests([(moved(r, State.EXPIRED), [a_message(r.id)]) for r in reads])
    assert faults.injected == ["dynamodb.TransactWriteItems answer lost"]
    assert all(s is not None for s in saved)
    assert [store.get_request(r.id) for r in reads] == saved


def test_every_answer_lost_still_ours_when_the_write_landed(dynamodb) -> None:
    store, faults = dynamodb
    read = store.create_request(a_request())
    faults.lose_answer("dynamodb.PutItem", times=3)  # botocore gives up: fate unknown
    saved = store.save_request(moved(read, State.DENIED))
    assert store.get_request(read.id) == saved


def test_a_retried_write_still_conflicts_with_someone_elses(dynamodb) -> None:
    store, faults = dynamodb
    read = store.create_request(a_request())
    store.save_request(moved(read, State.CANCELLED))
    faults.throttle("dynamodb.PutItem", times=1)  # sent twice: it might have been ours
    with pytest.raises(StoreConflict):
        store.save_request(moved(read, State.DENIED))
    assert store.get_request(read.id).state is State.CANCELLED


def test_a_lock_taken_by_an_attempt_whose_answer_was_lost_is_held(dynamodb) -> None:
    store, faults = dynamodb
    faults.lose_answer("dynamodb.PutItem")
    with store.lock("role:x", wait_seconds=0):
        assert faults.injected == ["dynamodb.PutItem answer lost"]
    with store.lock("role:x", wait_seconds=0):
        pass  # and released


def test_a_ledger_write_whose_answer_was_lost_is_ours(dynamodb) -> None:
    store, faults = dynamodb
    faults.lose_answer("dynamodb.PutItem")
    store.write_cut_ledger(ROLE, "{}", 0)
    assert store.read_cut_ledger(ROLE) == ("{}", 1)


def test_a_batch_takes_as_few_transactions_as_fit(dynamodb) -> None:
    store, _ = dynamodb
    sent: list[int] = []
    store.client.meta.events.register(
        "before-parameter-build.dynamodb.TransactWriteItems",
        lambda params, **_: sent.append(len(params["TransactItems"])),
    )
    reads = [
        store.create_request(a_request(f"G{n:09d}", State.ACTIVE, ends_at=at(5))) for n in range(40)
    ]
    changes = [
        (moved(r, State.EXPIRED), [a_message(f"a{r.id}"), a_message(f"b{r.id}")]) for r in reads
    ]
    assert all(store.save_requests(changes))
    assert sent == [99, 21]  # 33 requests with their messages, then the other 7
    sent.clear()
    messages = [replace(store.get_message(f"a{r.id}"), status="SENT") for r in reads]
    assert all(store.save_messages(messages))
    assert sent == [40]
