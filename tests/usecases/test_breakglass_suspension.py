"""A flagged break-glass suspends that person's break-glass on that role until one of the
role's approvers lifts it: recorded in the flagged request's audit trail, and evented."""

from __future__ import annotations

import pytest

from chalicelib.core import events
from chalicelib.core.commands import RequestCommand
from chalicelib.core.decisions import Refusal, Refused
from chalicelib.core.durations import parse_duration
from chalicelib.core.model import State
from tests.support.engine_kit import built_engine

OPS = "ops"  # break-glass for alice, carol and dave; bob and carol approve


@pytest.fixture
def engine(aws, slack, monkeypatch, tmp_path):
    with built_engine(slack, monkeypatch, tmp_path) as built:
        yield built


@pytest.fixture
def announced(engine, monkeypatch) -> list[str]:
    """The names of the events the use cases hand to the notification port."""
    names: list[str] = []
    owes = engine.service.notify.owes

    def owed(said):
        said = list(said)
        names.extend(e.name for e in said)
        return owes(said)

    monkeypatch.setattr(engine.service.notify, "owes", owed)
    return names


def break_glass(engine, user: str = "U0ALICE"):
    command = RequestCommand(OPS, parse_duration("30m"), "INC-9 outage", break_glass=True)
    return engine.service.submit(user, command, None)


def test_a_flag_suspends_that_persons_break_glass_on_that_role(engine, announced) -> None:
    flagged = break_glass(engine)
    assert flagged.state is State.ACTIVE
    engine.service.review(flagged.id, "U0BOB", "flagged", "no incident")
    done = engine.stored(flagged.id)
    assert done.state is State.REVOKED
    assert [e.action for e in done.audit][-2:] == ["flagged", "break-glass suspended"]
    assert events.BREAKGLASS_SUSPENDED in announced
    with pytest.raises(Refused) as refused:
        break_glass(engine)
    assert refused.value.reason is Refusal.BREAK_GLASS_SUSPENDED
    words = refused.value.message
    assert f"suspended since request {flagged.id} was flagged" in words
    assert "bob, carol" in words and "`/access unsuspend alice ops`" in words
    # Only hers, only break-glass: dave's break-glass and her ordinary request still work.
    assert break_glass(engine, "U0DAVE").state is State.ACTIVE
    assert engine.request("U0ALICE", role=OPS)


def test_only_the_roles_approvers_lift_it_and_the_trail_records_it(engine, announced) -> None:
    flagged = break_glass(engine)
    engine.service.review(flagged.id, "U0BOB", "flagged", "no incident")
    for who in ("U0ALICE", "U0DAVE"):  # herself, and a non-approver
        with pytest.raises(Refused) as refused:
            engine.service.unsuspend(who, "U0ALICE", OPS)
        assert refused.value.reason is Refusal.NOT_AN_APPROVER
        assert "bob, carol" in refused.value.message
    assert engine.service.break_glass_suspension("U0ALICE", OPS) == flagged.id
    assert engine.service.unsuspend("U0CAROL", "<@U0ALICE|alice>", OPS) == ("U0ALICE", flagged.id)
    lifted = engine.stored(flagged.id).audit[-1]
    assert (lifted.actor, lifted.action) == ("U0CAROL", "break-glass unsuspended")
    assert events.BREAKGLASS_UNSUSPENDED in announced
    assert engine.service.break_glass_suspension("U0ALICE", OPS) is None
    assert break_glass(engine).state is State.ACTIVE
    with pytest.raises(Refused) as again:
        engine.service.unsuspend("U0BOB", "alice", OPS)
    assert again.value.reason is Refusal.NOT_SUSPENDED


def test_an_acknowledged_break_glass_suspends_nothing(engine) -> None:
    granted = break_glass(engine)
    engine.service.review(granted.id, "U0BOB", "acknowledged")
    engine.service.revoke(granted.id, "U0ALICE")
    assert break_glass(engine).state is State.ACTIVE
