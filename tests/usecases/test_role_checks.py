"""The sweep's planned pass (chalicelib/usecases/role_checks.py) on moto: due roles every pass,
idle ones once a stagger, a failed check retried at the next pass, an unfinished revoke and a
cut to age out marked by the engine, and a pass out of time dropping nothing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from chalicelib.core.model import State
from chalicelib.core.sweep_plan import IDLE_EVERY, pass_number, slot_of
from tests.support.engine_kit import ROLES, Engine, built_engine, role_arn


@pytest.fixture
def engine(aws, slack, monkeypatch, tmp_path):
    with built_engine(slack, monkeypatch, tmp_path) as built:
        yield built


def in_slot(engine: Engine, role: str = "ec2-admin") -> bool:
    return pass_number(engine.clock.now) % IDLE_EVERY == slot_of(role_arn(role))


def to_pass(engine: Engine, slot: bool, role: str = "ec2-admin", sweep: bool = False) -> None:
    """Move on a minute at a time until the pass is (or is not) the role's idle slot, running
    each pass on the way if ``sweep`` (so the idle stream is caught up)."""
    while in_slot(engine, role) != slot:
        if sweep:
            engine.service.sweep()
        engine.clock.advance(minutes=1)


def hand_edit(engine: Engine) -> None:
    """The trust policy rewritten by hand, with no IAM change event (no trail, a missed one)."""
    trust = engine.trust()
    ours = [s for s in trust["Statement"] if not str(s.get("Sid", "")).startswith("Switchback")]
    document = json.dumps(dict(trust, Statement=ours))
    engine.iam.update_assume_role_policy(RoleName=ROLES["ec2-admin"], PolicyDocument=document)


def test_a_role_with_due_work_is_read_at_the_next_pass_whatever_its_slot(engine) -> None:
    grant = engine.grant("U0ALICE", duration="30m")
    engine.clock.now = grant.ends() + timedelta(seconds=5)
    to_pass(engine, slot=False)
    report = engine.service.sweep()
    assert report.expired == 1 and engine.stored(grant.id).state is State.EXPIRED
    assert engine.trusted_names() == []


def test_a_hand_edit_without_its_event_is_repaired_within_one_stagger(engine) -> None:
    engine.grant("U0ALICE", duration="2h")
    to_pass(engine, slot=True, sweep=True)
    engine.service.sweep()  # the role's idle slot: read, nothing to do
    engine.clock.advance(minutes=1)
    hand_edit(engine)  # just after its slot: the worst case
    passes = 0
    while not engine.trusted_names():
        passes += 1
        assert passes <= IDLE_EVERY, "not repaired within a stagger"
        engine.service.sweep()
        engine.clock.advance(minutes=1)
    assert passes == IDLE_EVERY  # its next slot, not earlier: it had no mark


def test_a_hand_edit_with_its_event_is_repaired_at_the_next_pass(engine) -> None:
    engine.grant("U0ALICE", duration="2h")
    to_pass(engine, slot=False)
    hand_edit(engine)
    assert engine.iam_changed("UpdateAssumeRolePolicy") == role_arn("ec2-admin")
    report = engine.service.sweep()
    assert any("wrote the missing trust" in d for d in report.drift)
    assert engine.service.context.role_checks.due(engine.clock.now) == {}  # cleared


def test_a_failed_check_is_retried_at_the_next_pass_and_reported(engine) -> None:
    engine.grant("U0ALICE", duration="2h")
    to_pass(engine, slot=True, sweep=True)
    hand_edit(engine)
    faults = engine.faults().server_error("iam.GetRole", 30, 503)
    report = engine.service.sweep()  # the role's slot, but IAM does not answer
    assert any(role_arn("ec2-admin") in e for e in report.errors)  # the sweep-errors alarm
    marks = engine.service.context.role_checks.due(engine.clock.now)
    assert marks[role_arn("ec2-admin")].why.startswith("the last check failed")
    faults.clear()
    engine.clock.advance(minutes=1)  # not its slot any more
    assert not in_slot(engine)
    report = engine.service.sweep()
    assert report.errors == [] and engine.trusted_names() == ["alice"]


def test_an_unfinished_revoke_marks_its_role_for_the_next_pass(engine) -> None:
    grant = engine.grant("U0ALICE", duration="2h")
    faults = engine.faults().server_error("iam.GetRole", 6, 503)
    _, outcome = engine.service.revoke_with_outcome(grant.id, "U0ALICE")
    assert "sessions are not cut yet" in outcome
    assert role_arn("ec2-admin") in engine.service.context.role_checks.due(engine.clock.now)
    faults.clear()
    engine.clock.advance(minutes=1)
    to_pass(engine, slot=False)  # a REVOKED grant is no due work: only the mark brings it up
    engine.service.sweep()
    assert engine.trusted_names() == []


def test_a_closed_cut_marks_its_role_for_when_it_ages_out(engine) -> None:
    grant = engine.grant("U0ALICE", duration="30m")
    engine.clock.now = grant.ends() + timedelta(seconds=5)
    assert engine.service.sweep().expired == 1  # the closed cut is written
    checks = engine.service.context.role_checks
    assert checks.due(engine.clock.now) == {}
    marks = checks.due(engine.clock.now + timedelta(days=1))
    keep = marks[role_arn("ec2-admin")].due_at
    assert marks[role_arn("ec2-admin")].why == "a closed cut ages out"
    assert keep == grant.ends() + timedelta(hours=12)  # no session issued before the end lives on
    engine.clock.now = keep + timedelta(seconds=1)
    to_pass(engine, slot=False)
    engine.service.sweep()
    assert engine.limits() is None  # aged out at its time, not at the role's idle slot


def test_a_pass_out_of_time_reads_nothing_and_drops_nothing(engine) -> None:
    grant = engine.grant("U0ALICE", duration="30m")
    engine.clock.now = grant.ends() + timedelta(seconds=5)
    report = engine.service.sweep(time_left=lambda: 1.0)  # less than the sweep keeps for after
    assert report.roles_left >= 1 and report.expired == 0
    assert engine.stored(grant.id).state is State.ACTIVE
    engine.clock.advance(minutes=1)
    report = engine.service.sweep()
    assert report.expired == 1 and report.roles_left == 0
