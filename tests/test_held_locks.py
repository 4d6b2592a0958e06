"""A lock left by a dead process delays only its own role: the sweep settles every other role
first and comes back to it, and a click never waits on it longer than it can answer in."""

from __future__ import annotations

import time

import boto3
import pytest

from chalicelib import deadline
from chalicelib.model import State
from tests.engine_kit import ROLES, built_engine, role_arn


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


def test_a_click_stops_waiting_once_the_lock_holder_granted_its_request(engine) -> None:
    """In a burst, the first click to take a role's lock grants every request of the role
    approved by then; the other clicks stop waiting as soon as theirs is granted."""
    import threading

    from chalicelib.model import transition

    request_id = engine.request("U0ALICE")
    leave_a_dead_lock("ec2-admin")  # stands for the holder, busy for a minute

    def the_holder_grants_it() -> None:
        time.sleep(0.5)
        approved = engine.stored(request_id)
        engine.service.store.save_request(
            transition(approved, State.ACTIVE, "switchback", "granted", engine.clock.now)
        )

    counter = engine.counter()
    holder = threading.Thread(target=the_holder_grants_it)
    holder.start()
    with deadline.lock_patience(20.0):  # without the early stop: about 25 tries over 20 s
        request = engine.service.approve(request_id, "U0BOB")
    holder.join()
    assert request.state is State.ACTIVE
    assert counter.attempts["dynamodb.PutItem"] <= 8  # a few tries, then the holder's grant
