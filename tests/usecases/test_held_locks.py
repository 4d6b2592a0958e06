"""A lock left by a dead process delays only its own role: the sweep settles every other role
first and comes back to it, and a click never waits on it longer than it can answer in."""

from __future__ import annotations

import time

import boto3
import pytest

from chalicelib.core import deadline
from chalicelib.core.model import State
from tests.support.engine_kit import ROLES, built_engine, role_arn


@pytest.fixture
def engine(aws, slack, monkeypatch, tmp_path):
    with built_engine(slack, monkeypatch, tmp_path) as built:
        yield built


def leave_a_dead_lock(role: str, seconds: float = 60) -> None:
    """What a process that died holding the role's lock leaves: the item, its lease running."""
    boto3.client("dynamodb").put_item(
        TableName="switchback",
        Item={
            "pk": {"S": f"LOCK#role:{role_arn(role)}"},
            "sk": {"S": "LOCK"},
            "owner": {"S": "dead-process"},
            "expires": {"N": str(int(time.time() + seconds))},
        },
    )


def lock_puts(role: str):
    return lambda params: (
        params.get("Item", {}).get("pk", {}).get("S", "") == (f"LOCK#role:{role_arn(role)}")
    )


def test_the_sweep_settles_every_other_role_before_waiting_for_a_held_lock(engine) -> None:
    ids = {role: engine.grant("U0ALICE", role).id for role in ROLES}
    engine.clock.advance(minutes=31)  # every grant has ended
    leave_a_dead_lock("ec2-admin")  # the first role in the sweep's order
    engine.service.writer.wait_seconds = 1.0  # how long the sweep waits for it in the end
    calls: list[str] = []

    def record(event_name, params, **_):
        operation = ".".join(event_name.split(".")[1:3])
        if operation == "iam.UpdateAssumeRolePolicy":
            calls.append(f"write {params['RoleName']}")
        elif lock_puts("ec2-admin")(params):
            calls.append("try the held lock")

    for client in engine.clients():
        client.meta.events.register("before-parameter-build", record)
    report = engine.service.sweep()

    assert report.expired == 2
    assert [r for r in report.errors if "AWSEC2FULLACCESS" in r]
    assert engine.stored(ids["ec2-admin"]).state is State.ACTIVE  # its turn comes next sweep
    assert all(engine.stored(ids[r]).state is State.EXPIRED for r in ("db-admin", "ops"))
    # One try, then both other roles written, and only then the wait for the held lock.
    assert calls[0] == "try the held lock"
    assert calls[1:3] == ["write DBADMIN", "write OPS"]
    assert set(calls[3:]) == {"try the held lock"}


def test_a_click_waits_for_a_held_lock_no_longer_than_its_budget(engine) -> None:
    request_id = engine.request("U0ALICE")
    leave_a_dead_lock("ec2-admin")
    counter = engine.counter()
    with deadline.within(6.0):  # a click with 6 s left: 1 s for the lock, 5 s for the step
        request = engine.service.approve(request_id, "U0BOB")
    # Recorded, and left for the sweep: the click did not wait out the lock's 20 s.
    assert request.state is State.APPROVED
    assert engine.stored(request_id).state is State.APPROVED
    assert counter.attempts["dynamodb.PutItem"] <= 6  # tries within 1 s, backing off


def test_a_click_with_no_time_for_a_locked_step_tries_the_lock_once(engine) -> None:
    request_id = engine.request("U0ALICE")
    leave_a_dead_lock("ec2-admin")
    counter = engine.counter()
    with deadline.within(2.0):  # a slash command's budget
        request = engine.service.approve(request_id, "U0BOB")
    assert request.state is State.APPROVED
    assert counter.attempts["dynamodb.PutItem"] == 1


def test_a_click_leaves_its_request_with_a_live_holder_which_grants_it(engine) -> None:
    """In a burst, the first click to take a role's lock grants every request of the role;
    a click that finds the lock held leaves its request with the holder and answers at once,
    and the holder grants it before letting go."""
    import threading

    first, second = engine.request("U0ALICE"), engine.request("U0DAVE")
    slow = threading.Event()

    def hold_the_trust_write(**_):
        slow.set()
        time.sleep(1.0)  # the first click's step is busy writing trust, holding the lock

    iam = engine.service.writer.iam.client_for_role(role_arn("ec2-admin"))
    iam.meta.events.register_first("before-send.iam.UpdateAssumeRolePolicy", hold_the_trust_write)
    holder = threading.Thread(target=engine.service.approve, args=(first, "U0BOB"))
    holder.start()
    assert slow.wait(10)
    counter = engine.counter()
    answered = engine.service.approve(second, "U0BOB")  # while the first step holds the lock
    lock_tries = counter.attempts["dynamodb.PutItem"]
    holder.join()
    iam.meta.events.unregister("before-send.iam.UpdateAssumeRolePolicy", hold_the_trust_write)
    assert answered.state is State.APPROVED  # recorded, left with the holder
    assert lock_tries == 1  # one try, no waiting
    assert engine.stored(first).state is State.ACTIVE
    assert engine.stored(second).state is State.ACTIVE  # the holder granted it too
    assert engine.trusted_names() == ["alice", "dave"]


def test_a_lock_released_with_ids_left_in_it_hands_them_to_its_next_holder(engine) -> None:
    store = engine.service.store
    with store.lock("role:x", lease_seconds=30) as held:
        assert store.locks.leave_with_holder("role:x", "R1", time.time())
        assert held.take_pending() == {"R1"}
        assert held.take_pending() == set()
        store.locks.leave_with_holder("role:x", "R2", time.time())
        # released without taking R2: the lock lapses instead of vanishing
    # a lapsed lock has no holder
    assert not store.locks.leave_with_holder("role:x", "R9", time.time())
    with store.lock("role:x", wait_seconds=0) as next_holder:
        assert next_holder.inherited == {"R2"}
    with store.lock("role:x", wait_seconds=0) as after:
        assert after.inherited == set()  # taken once, gone
    assert not store.locks.leave_with_holder("role:x", "R3", time.time())
