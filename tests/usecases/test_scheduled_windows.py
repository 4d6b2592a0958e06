"""Scoped grants and scheduled windows through the service on a real moto server: asked for,
approved ahead (nothing in IAM), reminded, started by the sweep at the start (and not a
minute before), refused at the start when no longer eligible, called off before it; a scope's
deny read by the independent evaluator (tests/support/iam_eval.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from chalicelib import wiring
from chalicelib.core.commands import RequestCommand, parse_command
from chalicelib.core.decisions import Refused
from chalicelib.core.model import State, iso
from chalicelib.policies import load_catalog
from chalicelib.usecases.starting import NOTHING_WRITTEN
from tests.support.engine_kit import ACCOUNT, Engine, built_engine
from tests.support.iam_eval import can_assume, session_may

SCOPES = (
    '\n[scopes.read-only]\nactions = ["ec2:Describe*", "ec2:Get*"]\n'
    'description = "look, do not touch"\n'
)
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"


@pytest.fixture
def engine(aws, slack, monkeypatch, tmp_path):
    with built_engine(slack, monkeypatch, tmp_path) as built:
        role_file = tmp_path / "policies" / "roles" / "ec2-admin.toml"
        role_file.write_text(role_file.read_text() + SCOPES)
        wiring.reset()
        service = wiring.service()
        service.clock = built.clock
        asked: list[str] = []
        service.context.time_zone = lambda user: asked.append(user) or "Europe/Berlin"
        engine = Engine(service, built.clock, built.slack)
        engine.zone_lookups = asked  # type: ignore[attr-defined]
        yield engine


def start_in(engine: Engine, minutes: int) -> datetime:
    return (engine.clock.now + timedelta(minutes=minutes)).replace(second=0)


def ask(engine: Engine, user: str, options: str, duration: str = "30m") -> str:
    command = parse_command(f"request ec2-admin {duration} {options} INC-42 test")
    assert isinstance(command, RequestCommand), command
    return engine.service.submit(user, command, f"{engine.slack.url}/response/{user}").id


def scheduled(engine: Engine, user: str = "U0ALICE", minutes: int = 40) -> tuple[str, datetime]:
    start = start_in(engine, minutes)
    request_id = ask(engine, user, f"at {start:%Y-%m-%d %H:%M} UTC")
    assert engine.service.approve(request_id, "U0BOB").state is State.SCHEDULED
    engine.service.flush(5)
    return request_id, start


def sweep_at(engine: Engine, at: datetime) -> None:
    engine.clock.now = at
    engine.service.sweep()


def test_a_window_approved_ahead_is_granted_by_the_sweep_at_its_start_not_before(engine) -> None:
    request_id, start = scheduled(engine)
    assert engine.stored(request_id).starts_at == iso(start)
    assert engine.stored(request_id).ends_at == iso(start + timedelta(minutes=30))
    assert engine.trusted_names() == []  # approved ahead: nothing in IAM
    told = engine.texts("/response/U0ALICE")
    assert any("Nothing works before the start" in t for t in told)
    assert any("approved for its later start" in t for t in engine.texts("/webhook/approvers"))

    sweep_at(engine, start - timedelta(minutes=20))
    assert engine.stored(request_id).state is State.SCHEDULED
    assert engine.trusted_names() == []

    sweep_at(engine, start - timedelta(minutes=14))  # the reminder, once
    sweep_at(engine, start - timedelta(minutes=13))
    reminders = [t for t in engine.texts("/response/U0ALICE") if ":alarm_clock:" in t]
    assert len(reminders) == 1 and request_id in reminders[0]

    sweep_at(engine, start - timedelta(minutes=2))  # the start gate: not yet
    assert engine.stored(request_id).state is State.SCHEDULED
    assert engine.trusted_names() == []

    sweep_at(engine, start - timedelta(seconds=30))
    granted = engine.stored(request_id)
    assert granted.state is State.ACTIVE
    assert [e.action for e in granted.audit][-2:] == ["started", "granted"]
    assert engine.trusted_names() == ["alice"]
    trust = engine.trust()
    assert not can_assume(trust, ALICE, "alice", start - timedelta(seconds=1))
    assert can_assume(trust, ALICE, "alice", start + timedelta(seconds=1))
    assert not can_assume(trust, ALICE, "alice", start + timedelta(minutes=30, seconds=1))


def test_a_window_no_longer_eligible_at_its_start_fails_and_both_sides_hear(
    engine, tmp_path
) -> None:
    request_id, start = scheduled(engine)
    role_file = tmp_path / "policies" / "roles" / "ec2-admin.toml"
    role_file.write_text(role_file.read_text().replace('"U0BOB", "U0CAROL"', '"U0CAROL"'))
    engine.service.catalog = load_catalog(tmp_path / "policies")

    sweep_at(engine, start)
    engine.service.flush(5)
    failed = engine.stored(request_id)
    assert failed.state is State.FAILED
    assert "approvals" in (failed.failure or "")
    assert engine.trusted_names() == []
    assert any(request_id in t and "approvals" in t for t in engine.texts("/webhook/approvers"))


def test_cancel_and_revoke_call_a_window_off_before_its_start(engine) -> None:
    mine, start = scheduled(engine, "U0ALICE")
    theirs, _ = scheduled(engine, "U0DAVE")
    assert engine.service.cancel(mine, "U0ALICE").state is State.CANCELLED
    with pytest.raises(Refused):
        engine.service.revoke_with_outcome(theirs, "U0ALICE")  # neither requester nor approver
    called_off, outcome = engine.service.revoke_with_outcome(theirs, "U0CAROL")
    assert called_off.state is State.CANCELLED and outcome == NOTHING_WRITTEN

    sweep_at(engine, start)
    assert engine.trusted_names() == []
    assert {engine.stored(i).state for i in (mine, theirs)} == {State.CANCELLED}


def test_a_scoped_grant_denies_every_action_outside_its_scope(engine) -> None:
    scoped = engine.service.approve(ask(engine, "U0ALICE", "scope=read-only"), "U0BOB")
    whole = engine.grant("U0DAVE")
    assert scoped.state is State.ACTIVE and scoped.scope_actions == ("ec2:Describe*", "ec2:Get*")
    limits, role_id, now = engine.limits(), engine.role_id(), engine.clock.now
    assert session_may([limits], role_id, "alice", now, now, "ec2:DescribeInstances")
    assert not session_may([limits], role_id, "alice", now, now, "ec2:TerminateInstances")
    assert session_may([limits], role_id, "dave", now, now, "ec2:TerminateInstances")
    assert whole.scope is None


def test_the_time_zone_is_asked_only_for_a_start_and_the_start_is_read_in_it(engine) -> None:
    ask(engine, "U0DAVE", "scope=read-only")
    assert engine.zone_lookups == []
    request_id = ask(engine, "U0ALICE", "at tomorrow 09:00")
    assert engine.zone_lookups == ["U0ALICE"]
    start = engine.stored(request_id).starts()
    assert start is not None
    assert start.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin")).hour == 9


def test_what_approving_writes_shows_the_scope_deny(engine) -> None:
    request = engine.stored(ask(engine, "U0ALICE", "scope=read-only"))
    [_, (_, limits)] = engine.service.what_approving_writes(request, engine.clock.now)
    assert any("NotAction" in s for s in limits["Statement"])
