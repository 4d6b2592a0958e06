"""The operator CLI's sweep names the operator (``aws:<ARN>``) as the actor of what it does;
the scheduled sweep stays ``switchback``."""

from __future__ import annotations

import pytest

from chalicelib.core.model import State
from tests.support.engine_kit import built_engine

OPERATOR = "aws:arn:aws:iam::123456789012:user/ops-oncall"


@pytest.fixture
def engine(aws, slack, monkeypatch, tmp_path):
    with built_engine(slack, monkeypatch, tmp_path) as built:
        yield built


def test_an_operators_sweep_records_the_operator_as_actor(engine) -> None:
    granted = engine.grant("U0ALICE")
    pending = engine.request("U0CAROL", role="ops")
    engine.clock.advance(hours=1, seconds=1)
    report = engine.service.sweep(actor=OPERATOR)
    assert (report.expired, report.lapsed) == (1, 1)
    for request_id, state in ((granted.id, State.EXPIRED), (pending, State.LAPSED)):
        last = engine.stored(request_id).audit[-1]
        assert (last.actor, last.state) == (OPERATOR, state)


def test_the_scheduled_sweep_acts_as_switchback(engine) -> None:
    granted = engine.grant("U0ALICE")
    engine.service.sweep(actor=OPERATOR)  # nothing due: names nobody
    engine.clock.advance(minutes=31)
    engine.service.sweep()
    assert engine.stored(granted.id).audit[-1].actor == "switchback"
