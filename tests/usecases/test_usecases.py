"""The use cases behind the service facade: rules that hold whoever calls them, and the unit of
work that commits a change with what it owes (messages, events, telemetry) or not at all.
Each runs on fakes and on moto (tests/support/fast_engine.py)."""

from __future__ import annotations

import logging

import pytest

from chalicelib import service as service_module
from chalicelib import telemetry
from chalicelib.core.commands import ExtendCommand, RequestCommand
from chalicelib.core.decisions import Refusal, Refused
from chalicelib.core.durations import parse_duration
from chalicelib.core.errors import LockBusy, StoreConflict
from chalicelib.core.model import State
from chalicelib.usecases.requesting import AlreadyPending
from chalicelib.usecases.unit_of_work import Change
from tests.support.engine_kit import Engine


@pytest.fixture
def logged(monkeypatch) -> list[tuple[str, dict]]:
    events: list[tuple[str, dict]] = []
    monkeypatch.setattr(
        telemetry, "event", lambda name, level=logging.INFO, **f: events.append((name, f))
    )
    return events


def losing(store, times: int):
    """``store.save_request`` that loses the race ``times`` times first."""
    save = store.save_request
    left = [times]

    def save_request(request, messages=()):
        if left[0]:
            left[0] -= 1
            raise StoreConflict("someone else wrote it first")
        return save(request, messages)

    return save_request


def test_one_pending_request_per_person_and_role_whoever_asks(engine: Engine) -> None:
    first = engine.request("U0ALICE")
    again = RequestCommand("ec2-admin", parse_duration("1h"), "INC-2 again")
    with pytest.raises(AlreadyPending) as refused:
        engine.service.submit("U0ALICE", again, None)
    assert refused.value.reason is Refusal.ALREADY_PENDING and refused.value.pending.id == first
    assert str(refused.value) == (
        f"You already asked for `ec2-admin`: request `{first}` (30m) is waiting for approval, "
        "so nothing new was created."
    )
    assert [r.id for r in engine.service.requests_of("U0ALICE")] == [first]
    # another person, another role, or once the first is decided: a new request
    engine.request("U0DAVE")
    engine.request("U0ALICE", role="ops")
    engine.service.approve(first, "U0BOB")
    engine.request("U0ALICE")


def test_a_pending_extension_is_not_a_request_for_the_role(engine: Engine) -> None:
    grant = engine.grant("U0ALICE")
    engine.service.extend("U0ALICE", ExtendCommand(grant.id, parse_duration("15m"), "more"), None)
    engine.service.revoke(grant.id, "U0ALICE")
    assert engine.request("U0ALICE")


def test_a_change_that_lost_races_is_logged_and_told_once(engine: Engine, monkeypatch, logged):
    request_id = engine.request("U0ALICE")
    logged.clear()
    store = engine.service.store
    monkeypatch.setattr(store, "save_request", losing(store, 3))
    denied = engine.service.deny(request_id, "U0BOB", "not now")
    assert denied.state is State.DENIED
    assert [name for name, _ in logged] == ["access.denied"]
    engine.service.flush(5.0)
    assert len(engine.texts("/response/U0ALICE")) == 1


def test_a_change_that_keeps_losing_is_refused_as_busy_and_says_nothing(
    engine: Engine, monkeypatch, logged
) -> None:
    request_id = engine.request("U0ALICE")
    logged.clear()
    store = engine.service.store
    monkeypatch.setattr(store, "save_request", losing(store, service_module.CONFLICT_RETRIES))
    with pytest.raises(LockBusy, match="changing too fast"):
        engine.service.cancel(request_id, "U0ALICE")
    assert logged == []
    assert engine.stored(request_id).state is State.PENDING


def test_an_extension_and_its_grant_are_committed_together(engine: Engine, logged) -> None:
    grant = engine.grant("U0ALICE")
    extension = engine.service.extend(
        "U0ALICE", ExtendCommand(grant.id, parse_duration("15m"), "more"), None
    )
    logged.clear()
    done = engine.service.approve(extension.id, "U0BOB")
    moved = engine.stored(grant.id)
    assert done.state is State.EXTENDED and moved.ends_at == done.ends_at
    [(name, fields)] = [(n, f) for n, f in logged if n == "access.extended"]
    assert fields["previous_end"] == grant.ends_at and fields["extension"] == extension.id
    assert fields["expires"] == moved.ends_at and fields["by"] == "U0BOB"


def test_the_unit_of_work_commits_one_change_or_two_existing_ones(engine: Engine) -> None:
    pending = engine.stored(engine.request("U0ALICE"))
    with pytest.raises(ValueError):
        engine.service.unit_of_work.commit(Change(pending), Change(pending))  # two new ones
    with pytest.raises(Refused):
        engine.service.record("0000000000", "aws:me", "viewed")


def test_the_facade_keeps_its_names() -> None:
    for name in ("BROKER", "CONFLICT_RETRIES", "REMINDER_LEAD", "Settled", "SweepReport"):
        assert hasattr(service_module, name)
    assert service_module.system_clock().tzinfo is not None
