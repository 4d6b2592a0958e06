"""Old items leave the table by DynamoDB TTL (`expires`, epoch seconds): finished requests and
messages a while after they finished, locks when their lease ends; live items never."""

from __future__ import annotations

from dataclasses import replace

import boto3

from chalicelib.aws.store import RETENTION_SECONDS, TTL_ATTRIBUTE, Store
from chalicelib.core.model import State, parse_iso, transition
from chalicelib.delivery.message import OutboxMessage
from tests.adapters.test_store_and_iam import NOW, a_request, store  # noqa: F401 (the store fixture)


def raw(store: Store, pk: str, sk: str) -> dict:  # noqa: F811
    return boto3.client("dynamodb").get_item(
        TableName="adapters", Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
    )["Item"]


def test_finished_requests_expire_after_the_retention_and_live_ones_never(store) -> None:  # noqa: F811
    pending = store.create_request(a_request())
    assert TTL_ATTRIBUTE not in raw(store, f"REQ#{pending.id}", "REQ")
    denied = store.save_request(transition(pending, State.DENIED, "U0BOB", "denied", NOW))
    item = raw(store, f"REQ#{denied.id}", "REQ")
    finished_at = parse_iso(denied.audit[-1].at).timestamp()
    assert int(item[TTL_ATTRIBUTE]["N"]) == int(finished_at) + RETENTION_SECONDS


def test_sent_messages_expire_and_pending_ones_do_not(store) -> None:  # noqa: F811
    message = OutboxMessage(
        id="m1",
        url="https://hooks.example/x",
        payload="{}",
        kind="approvers.new",
        request_id="0000000001",
        created_at="2026-11-28T10:00:00Z",
        next_attempt_at="2026-11-28T10:01:00Z",
    )
    saved = store.add_message(message)
    assert TTL_ATTRIBUTE not in raw(store, "MSG#m1", "MSG")
    store.save_message(replace(saved, status="SENT"))
    assert int(raw(store, "MSG#m1", "MSG")[TTL_ATTRIBUTE]["N"]) == (
        int(parse_iso(message.created_at).timestamp()) + RETENTION_SECONDS
    )


def test_a_lock_carries_its_lease_end(store) -> None:  # noqa: F811
    with store.lock("role:x", lease_seconds=30, clock=lambda: 1000.0):
        assert raw(store, "LOCK#role:x", "LOCK")[TTL_ATTRIBUTE] == {"N": "1031"}
