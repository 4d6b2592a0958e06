"""Nothing lost, nothing said twice: a process killed between any two writes of a use case
leaves every message its recorded changes owe (to Slack and to the event bus) for the next
process to deliver, and a write whose answer was lost (botocore retried what AWS had already
done) is still a success.

Faults are injected into the service's real boto3 clients talking to a real moto server
(tests/support/faults.py); the next process is a new service on the same table.
"""

from __future__ import annotations

import os
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest

from chalicelib.core.commands import ExtendCommand, RequestCommand
from chalicelib.core.durations import parse_duration
from chalicelib.core.errors import AwsUnavailable
from chalicelib.core.model import State
from tests.support.engine_kit import Engine, built_engine
from tests.support.faults import Crash

# What each recorded transition (its audit action) owes, by outbox message kind.
OWED = {
    "requested": ["approvers.new"],
    "approval recorded": ["requester.approval", "approvers.approval"],
    "approved": ["approvers.approved"],
    "granted": ["requester.granted", "approvers.granted"],
    "denied": ["requester.denied", "approvers.denied"],
    "cancelled": ["approvers.cancelled"],
    "revoked": ["requester.revoked", "approvers.revoked"],
    "expired": ["requester.expired", "approvers.expired"],
    "lapsed": ["requester.lapsed", "approvers.lapsed"],
    "grant failed": ["requester.failed", "approvers.failed"],
    "extension requested": ["approvers.new"],
    "extended": ["requester.extended"],  # the grant's note; its extension's "approved" above
    "break-glass": ["approvers.new"],
    "flagged": ["requester.flagged", "approvers.flagged"],
    "acknowledged": ["approvers.acknowledged"],
    "break-glass suspended": ["requester.suspended", "approvers.suspended"],  # with a flag
    "taken without approval": [],  # break-glass: its "break-glass" entry above announces it
}

# What each recorded transition owes the event bus (docs/events.md), by audit action; where an
# action ends in different events, by (action, the state it left the request in).
OWED_EVENTS = {
    "requested": ["access.requested"],
    "break-glass": ["access.requested"],
    "taken without approval": [],
    "extension requested": ["access.extension_requested"],
    "approval recorded": ["access.approval_counted"],
    "approved": ["access.approved"],
    ("approved", "EXTENDED"): [],  # an extension's: the grant's "extended" is its event
    ("approved", "FAILED"): ["access.extension_failed"],
    "granted": ["access.granted"],
    "denied": ["access.denied"],
    "cancelled": ["access.cancelled"],
    "revoked": ["access.revoked"],
    "expired": ["access.expired"],
    "lapsed": ["access.lapsed"],
    "grant failed": ["grant.failed"],
    "extended": ["access.extended"],
    "flagged": ["breakglass.flagged"],
    ("flagged", "REVOKED"): ["breakglass.flagged", "access.revoked"],  # it ended a grant
    "acknowledged": ["breakglass.acknowledged"],
    "break-glass suspended": ["breakglass.suspended"],  # in the flag's change
}
BUS = "switchback-events"


def _submit(engine: Engine, _: dict) -> None:
    engine.request("U0ALICE")


def _approve(engine: Engine, ids: dict) -> None:
    engine.service.approve(ids["pending"], "U0BOB")


def _deny(engine: Engine, ids: dict) -> None:
    engine.service.deny(ids["pending"], "U0BOB", "not now")


def _cancel(engine: Engine, ids: dict) -> None:
    engine.service.cancel(ids["pending"], "U0ALICE")


def _revoke(engine: Engine, ids: dict) -> None:
    engine.service.revoke(ids["active"], "U0ALICE")


def _sweep(engine: Engine, _: dict) -> None:
    engine.service.sweep()


def _extend(engine: Engine, ids: dict) -> None:
    engine.service.extend(
        "U0ALICE", ExtendCommand(ids["active"], parse_duration("1h"), "more"), None
    )


def _approve_extension(engine: Engine, ids: dict) -> None:
    engine.service.approve(ids["extension"], "U0BOB")


def _break_glass(engine: Engine, _: dict) -> None:
    engine.service.submit(
        "U0ALICE", RequestCommand("ops", None, "INC-9 down", break_glass=True), None
    )


def _flag(engine: Engine, ids: dict) -> None:
    engine.service.review(ids["break_glass"], "U0BOB", "flagged", "no incident")


def _extending(engine: Engine) -> dict:
    ids = _active(engine)
    _extend(engine, ids)
    ids["extension"] = next(
        i["id"] for i in _items(engine, "REQ#") if i.get("extends") == ids["active"]
    )
    return ids


def _broken_glass(engine: Engine) -> dict:
    _break_glass(engine, {})
    [found] = [i["id"] for i in _items(engine, "REQ#") if i.get("break_glass")]
    return {"break_glass": found}


def _pending(engine: Engine) -> dict:
    return {"pending": engine.request("U0ALICE")}


def _active(engine: Engine) -> dict:
    request = engine.grant("U0ALICE", duration="30m")
    engine.clock.advance(minutes=1)
    return {"active": request.id}


def _ended(engine: Engine) -> dict:
    ids = _active(engine)
    engine.clock.advance(minutes=31)
    return ids


def _undecided(engine: Engine) -> dict:
    ids = _pending(engine)
    engine.clock.advance(hours=2)  # the roles' approval_timeout is 1h
    return ids


# use case -> (what is there before, the use case itself)
USE_CASES: dict[str, tuple[Callable[[Engine], dict], Callable[[Engine, dict], None]]] = {
    "submit": (lambda _: {}, _submit),
    "approve and grant": (_pending, _approve),
    "deny": (_pending, _deny),
    "cancel": (_pending, _cancel),
    "revoke": (_active, _revoke),
    "expire (sweep)": (_ended, _sweep),
    "lapse (sweep)": (_undecided, _sweep),
    "extend": (_active, _extend),
    "approve an extension": (_extending, _approve_extension),
    "break-glass": (lambda _: {}, _break_glass),
    "flag a break-glass grant": (_broken_glass, _flag),
}


def owed_by_the_store(engine: Engine, events: bool = False) -> Counter:
    """The messages the recorded audit entries owe: Slack's, and with ``events`` (a bus is
    configured) the bus's, as ``event.<name>``."""
    owed: Counter = Counter()
    for item in _items(engine, "REQ#"):
        for entry in item["audit"]:
            action = entry["action"]
            owed.update(OWED.get(action, []))
            if events:
                assert action in OWED_EVENTS, f"what does {action!r} owe the bus?"
                names = OWED_EVENTS.get((action, entry["state"]), OWED_EVENTS[action])
                owed.update(f"event.{name}" for name in names)
    return owed


def delivered(engine: Engine) -> Counter:
    """What was sent, but reminders and repaired drift (said of no recorded transition)."""
    return Counter(
        i["kind"]
        for i in _items(engine, "MSG#")
        if i["status"] == "SENT" and i["kind"] not in ("requester.reminder", "event.drift.repaired")
    )


def _items(engine: Engine, prefix: str) -> list[dict]:
    table = boto3.resource("dynamodb").Table("switchback")
    return [i for i in table.scan()["Items"] if i["pk"].startswith(prefix)]


def next_process(engine: Engine) -> Engine:
    """The process died: a new one builds its own service on the same table and sweeps. A role
    lock the dead one held is aged past its lease (it lapses by itself; its wall-clock lease is
    proven in test_faults.py)."""
    from chalicelib import wiring

    table = boto3.resource("dynamodb").Table("switchback")
    for lock in _items(engine, "LOCK#"):
        table.update_item(
            Key={"pk": lock["pk"], "sk": lock["sk"]},
            UpdateExpression="SET expires = :gone",
            ExpressionAttributeValues={":gone": 0},
        )
    wiring.reset()
    service = wiring.service()
    service.clock = engine.clock
    following = Engine(service, engine.clock, engine.slack)
    following.clock.advance(minutes=2)  # past the outbox's inline grace
    following.service.sweep()
    following.clock.advance(minutes=2)
    following.service.sweep()
    return following


@contextmanager
def _fresh(aws: str, slack, monkeypatch, folder: Path) -> Iterator[Engine]:
    """A clean moto account and a new engine on it; with an event bus if one is configured."""
    urllib.request.urlopen(urllib.request.Request(f"{aws}/moto-api/reset", method="POST"))
    if os.environ.get("SWITCHBACK_EVENT_BUS"):
        boto3.client("events").create_event_bus(Name=os.environ["SWITCHBACK_EVENT_BUS"])
    with built_engine(slack, monkeypatch, folder) as engine:
        yield engine


def _writes_of(aws, slack, monkeypatch, tmp_path, use_case: str) -> list[str]:
    before, run = USE_CASES[use_case]
    with _fresh(aws, slack, monkeypatch, tmp_path / "clean") as engine:
        ids = before(engine)
        engine.service.flush(5)
        faults = engine.faults()
        run(engine, ids)
        return list(faults.writes)


@pytest.mark.parametrize("use_case", list(USE_CASES))
def test_a_process_killed_after_any_write_loses_no_message(
    aws, slack, monkeypatch, tmp_path, use_case
) -> None:
    """With an event bus configured, so the events are checked too: each is written in the
    transaction of the state change that caused it, as Slack's messages are."""
    monkeypatch.setenv("SWITCHBACK_EVENT_BUS", BUS)
    writes = _writes_of(aws, slack, monkeypatch, tmp_path, use_case)
    assert writes, "the use case writes something"
    before, run = USE_CASES[use_case]
    for index, write in enumerate(writes):
        with _fresh(aws, slack, monkeypatch, tmp_path / f"crash{index}") as engine:
            ids = before(engine)
            engine.service.flush(5)
            faults = engine.faults().crash_after_write(index)
            with pytest.raises(Crash):
                run(engine, ids)
            assert faults.injected == [f"crash after write {index} {write}"]
            following = next_process(engine)
            owed = owed_by_the_store(following, events=True)
            assert delivered(following) == owed, f"killed after write {index} ({write})"
            assert all(i["state"] not in (State.APPROVED.value,) for i in _items(following, "REQ#"))


# -- lost answers: botocore retries a write AWS already did ---------------------------------------
def _holds(text: str) -> Callable[[bytes], bool]:
    return lambda body: text.encode() in body


@pytest.fixture
def engine(aws, slack, monkeypatch, tmp_path):
    with built_engine(slack, monkeypatch, tmp_path) as built:
        yield built


def test_a_request_whose_write_answer_was_lost_is_stored_once_and_announced(engine) -> None:
    counter = engine.counter()  # hooked first: it sees the attempt whose answer is lost
    faults = engine.faults().lose_answer("dynamodb.TransactWriteItems")
    request_id = engine.request("U0ALICE")
    assert faults.injected == ["dynamodb.TransactWriteItems answer lost"]
    # botocore sent it twice; the second failed our own condition, and that is success
    assert counter.attempts["dynamodb.TransactWriteItems"] == 2
    assert engine.stored(request_id).state is State.PENDING
    engine.service.flush(5)
    assert [i["kind"] for i in _items(engine, "MSG#")] == ["approvers.new"]
    assert len(engine.slack.delivered("/webhook/approvers")) == 1


def test_a_decision_whose_write_answer_was_lost_counts_once(engine) -> None:
    request_id = engine.request("U0ALICE")
    engine.faults().lose_answer("dynamodb.TransactWriteItems", _holds('"DENIED"'))
    denied = engine.service.deny(request_id, "U0BOB", "no")
    assert denied.state is State.DENIED
    audit = [e.action for e in engine.stored(request_id).audit]
    assert audit == ["requested", "denied"]


def test_a_lock_and_a_message_whose_answers_were_lost_are_ours(engine) -> None:
    engine.service.flush(5)
    faults = engine.faults().lose_answer("dynamodb.PutItem", _holds("LOCK#"))
    faults.lose_answer("dynamodb.PutItem", _holds('"SENT"'))
    request = engine.grant("U0ALICE")
    engine.service.flush(5)
    assert request.state is State.ACTIVE
    assert "dynamodb.PutItem answer lost" in faults.injected


def test_a_write_whose_every_answer_is_lost_is_confirmed_by_reading_it_back(engine) -> None:
    faults = engine.faults().lose_answer("dynamodb.TransactWriteItems", times=6)
    request = engine.service.submit(
        "U0ALICE", RequestCommand("ec2-admin", parse_duration("30m"), "INC-1"), None
    )
    # botocore gave up (1 + 5 retries); a consistent read found our token
    assert len(faults.injected) == 6
    assert engine.stored(request.id).state is State.PENDING


def test_a_write_nobody_answers_nor_confirms_is_uncertain_never_unchanged(engine) -> None:
    from chalicelib.core.errors import AwsUncertain

    faults = engine.faults().lose_answer("dynamodb.TransactWriteItems", times=6)
    faults.lose_answer("dynamodb.GetItem", times=6)
    with pytest.raises(AwsUncertain):
        engine.service.submit(
            "U0ALICE", RequestCommand("ec2-admin", parse_duration("30m"), "INC-1"), None
        )


def test_a_read_nobody_answers_is_aws_unavailable(engine) -> None:
    engine.faults().lose_answer("dynamodb.GetItem", times=6)
    with pytest.raises(AwsUnavailable):
        engine.service.get("0000000000")
