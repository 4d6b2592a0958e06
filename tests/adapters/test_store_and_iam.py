"""The DynamoDB store and the IAM gateway against a real moto server over HTTP."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from chalicelib.aws.iam import IamGateway
from chalicelib.aws.store import Store, table_definition
from chalicelib.core.errors import LockBusy, RoleMissing, StoreConflict
from chalicelib.core.model import AccessRequest, State, iso, transition
from chalicelib.delivery.message import OutboxMessage
from tests.conftest import ROLE_ARN

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


@pytest.fixture
def store(aws: str) -> Store:
    client = boto3.client("dynamodb")
    client.create_table(**table_definition("adapters"))
    return Store(client, "adapters")


@pytest.fixture
def iam(aws: str) -> IamGateway:
    client = boto3.client("iam")
    client.create_role(
        RoleName="AWSEC2FULLACCESS",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "EC2Service",
                        "Effect": "Allow",
                        "Principal": {"Service": "ec2.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    return IamGateway.single(client)


def a_request(
    request_id: str = "0000000001", state: State = State.PENDING, **changes
) -> AccessRequest:
    request = AccessRequest(
        id=request_id,
        role="ec2-admin",
        role_arn=ROLE_ARN,
        requester="U0ALICE",
        requester_name="alice",
        principal_arn="arn:aws:iam::123456789012:user/alice",
        duration_seconds=1800,
        reason="INC-42 <b>&",
        created_at=iso(NOW),
        approval_deadline=iso(NOW + timedelta(hours=1)),
        approvals_required=1,
    )
    request = transition(request, State.PENDING, "U0ALICE", "requested", NOW)
    return replace(request, state=state, **changes)


def test_request_round_trips_exactly(store: Store) -> None:
    saved = store.create_request(a_request(response_url="https://hooks.example/x"))
    assert store.get_request(saved.id) == saved
    assert saved.version == 1


def test_create_twice_conflicts(store: Store) -> None:
    store.create_request(a_request())
    with pytest.raises(StoreConflict):
        store.create_request(a_request())


def test_save_on_a_stale_read_conflicts_and_changes_nothing(store: Store) -> None:
    first = store.create_request(a_request())
    store.save_request(transition(first, State.CANCELLED, "U0ALICE", "cancelled", NOW))
    with pytest.raises(StoreConflict):
        store.save_request(transition(first, State.DENIED, "U0BOB", "denied", NOW))
    assert store.get_request(first.id).state is State.CANCELLED


def test_due_index_holds_only_work_that_is_due(store: Store) -> None:
    soon = iso(NOW + timedelta(minutes=5))
    later = iso(NOW + timedelta(hours=2))
    store.create_request(a_request("0000000001", State.ACTIVE, ends_at=soon))
    store.create_request(a_request("0000000002", State.ACTIVE, ends_at=later))
    done = store.create_request(a_request("0000000003", State.ACTIVE, ends_at=soon))
    store.save_request(transition(done, State.EXPIRED, "switchback", "expired", NOW))
    store.create_request(a_request("0000000004"))  # pending: deadline in an hour
    due = store.due_requests(State.ACTIVE, iso(NOW + timedelta(minutes=10)))
    assert [r.id for r in due] == ["0000000001"]
    assert [r.id for r in store.requests_in(State.ACTIVE)] == ["0000000001", "0000000002"]
    assert [r.id for r in store.due_requests(State.PENDING, iso(NOW + timedelta(hours=1)))] == [
        "0000000004"
    ]


def test_requests_of_a_person_newest_first(store: Store) -> None:
    store.create_request(a_request("0000000001"))
    store.create_request(replace(a_request("0000000002"), created_at=iso(NOW + timedelta(1))))
    store.create_request(replace(a_request("0000000003"), requester="U0BOB"))
    assert [r.id for r in store.requests_of("U0ALICE")] == ["0000000002", "0000000001"]


def test_outbox_message_leaves_the_due_index_once_sent(store: Store) -> None:
    message = store.add_message(
        OutboxMessage(
            id="m1",
            url="http://127.0.0.1:9/x",
            payload='{"text": "hi"}',
            kind="test",
            request_id="0000000001",
            created_at=iso(NOW),
            next_attempt_at=iso(NOW),
        )
    )
    assert [m.id for m in store.due_messages(iso(NOW))] == ["m1"]
    store.save_message(replace(message, status="SENT", attempts=1))
    assert store.due_messages(iso(NOW + timedelta(days=1))) == []
    assert store.get_message("m1").status == "SENT"


def test_lock_is_exclusive_until_released(store: Store) -> None:
    with store.lock("role:x"):
        with pytest.raises(LockBusy):
            with store.lock("role:x", wait_seconds=0.3):
                pass
    with store.lock("role:x", wait_seconds=0.3):
        pass  # released: free again


def test_a_dead_holders_lock_lapses_with_its_lease(store: Store) -> None:
    held = store.lock("role:y", lease_seconds=5, clock=lambda: 1000.0)
    held.__enter__()  # a process that dies here never releases
    with pytest.raises(LockBusy):
        with store.lock("role:y", wait_seconds=0, clock=lambda: 1004.0):
            pass  # lease still running
    with store.lock("role:y", wait_seconds=0, clock=lambda: 1010.0):
        pass  # lease over: taken over


def test_lock_serialises_read_modify_write(store: Store) -> None:
    counter = {"value": 0}

    def bump() -> None:
        for _ in range(5):
            with store.lock("role:z"):
                value = counter["value"]
                threading.Event().wait(0.005)
                counter["value"] = value + 1

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter["value"] == 20


def test_iam_reads_and_writes_the_trust_policy(iam: IamGateway) -> None:
    trust = iam.read(ROLE_ARN)
    assert trust.trust_policy["Statement"][0]["Sid"] == "EC2Service"
    assert trust.role_id.startswith("AROA")
    policy = dict(
        trust.trust_policy,
        Statement=trust.trust_policy["Statement"]
        + [
            {
                "Sid": "SwitchbackX",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:user/alice"},
                "Action": "sts:AssumeRole",
            }
        ],
    )
    iam.write_trust(ROLE_ARN, policy)
    assert iam.read(ROLE_ARN).trust_policy == policy


def test_iam_quota_is_read_from_the_account(iam: IamGateway) -> None:
    assert iam.trust_quota(ROLE_ARN) == 2048


def test_missing_role_is_a_project_error(iam: IamGateway) -> None:
    with pytest.raises(RoleMissing):
        iam.read("arn:aws:iam::123456789012:role/Gone")
