"""A request's life through the use cases: submit, approve (alone or by a quorum), deny, cancel,
extend, break-glass, the sweep's expiry and lapse, who may do what, and two decisions racing
(revoke and the rest of the role engine: test_grant_engine.py). On fakes, then on moto (the
``engine`` fixture, tests/support/fast_engine.py); IAM is read back through the engine on both."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from chalicelib.core.commands import ExtendCommand, RequestCommand
from chalicelib.core.decisions import Refusal, Refused
from chalicelib.core.durations import parse_duration
from chalicelib.core.model import State
from tests.support.engine_kit import Engine
from tests.support.iam_eval import can_assume


def test_an_approved_request_is_active_trusted_and_told(engine: Engine) -> None:
    request_id = engine.request("U0ALICE")
    assert engine.stored(request_id).state is State.PENDING
    assert engine.trusted_names() == []
    granted = engine.service.approve(request_id, "U0BOB")
    assert granted.state is State.ACTIVE and granted.ends_at
    assert engine.trusted_names() == ["alice"]
    assert engine.limits() is not None
    engine.service.flush(5)
    assert any("ec2-admin" in text for text in engine.texts("/response/U0ALICE"))


def test_deny_and_cancel_end_a_pending_request_and_write_nothing_to_iam(engine: Engine) -> None:
    denied = engine.service.deny(engine.request("U0ALICE"), "U0BOB", "not now")
    cancelled = engine.service.cancel(engine.request("U0DAVE"), "U0DAVE")
    assert (denied.state, cancelled.state) == (State.DENIED, State.CANCELLED)
    assert engine.trusted_names() == [] and engine.limits() is None


def test_who_may_request_and_decide(engine: Engine) -> None:
    with pytest.raises(Refused) as unknown:
        engine.service.submit("U0NOBODY", RequestCommand("ec2-admin", None, "INC-1 x"), None)
    assert unknown.value.reason is Refusal.UNKNOWN_PERSON
    with pytest.raises(Refused) as no_role:
        engine.service.submit("U0ALICE", RequestCommand("nope", None, "INC-1 x"), None)
    assert no_role.value.reason is Refusal.UNKNOWN_ROLE
    request_id = engine.request("U0BOB")
    with pytest.raises(Refused) as own:
        engine.service.approve(request_id, "U0BOB")
    assert own.value.reason is Refusal.OWN_REQUEST
    with pytest.raises(Refused) as not_approver:
        engine.service.approve(request_id, "U0DAVE")
    assert not_approver.value.reason is Refusal.NOT_AN_APPROVER
    with pytest.raises(Refused):
        engine.service.cancel(request_id, "U0ALICE")  # not hers
    assert engine.stored(request_id).state is State.PENDING


def test_a_quorum_grants_on_its_last_approval_only(engine: Engine) -> None:
    catalog = engine.service.catalog
    role = replace(catalog.roles["ec2-admin"], approvals_required=2)
    engine.service.catalog = replace(catalog, roles={**catalog.roles, "ec2-admin": role})
    request_id = engine.request("U0ALICE")
    first = engine.service.approve(request_id, "U0BOB")
    assert first.state is State.PENDING and engine.trusted_names() == []
    with pytest.raises(Refused) as again:
        engine.service.approve(request_id, "U0BOB")
    assert again.value.reason is Refusal.ALREADY_DECIDED
    assert engine.service.approve(request_id, "U0CAROL").state is State.ACTIVE
    assert engine.trusted_names() == ["alice"]


def test_an_extension_moves_the_end_in_store_and_trust(engine: Engine) -> None:
    granted = engine.grant("U0ALICE")
    asked = ExtendCommand(granted.id, parse_duration("30m"), "more")
    extension = engine.service.extend("U0ALICE", asked, None)
    done = engine.service.approve(extension.id, "U0BOB")
    moved = engine.stored(granted.id)
    assert done.state is State.EXTENDED and moved.ends_at == done.ends_at > granted.ends_at
    alice = "arn:aws:iam::123456789012:user/alice"
    last = moved.ends() - timedelta(seconds=1)
    assert can_assume(engine.trust(), alice, "alice", last, mfa=True)
    assert not can_assume(engine.trust(), alice, "alice", moved.ends(), mfa=True)


def test_break_glass_grants_at_once_for_those_allowed(engine: Engine) -> None:
    command = RequestCommand("ops", parse_duration("30m"), "INC-9 outage", break_glass=True)
    granted = engine.service.break_glass("U0ALICE", command, None)
    assert granted.state is State.ACTIVE and engine.trusted_names("ops") == ["alice"]
    with pytest.raises(Refused) as not_allowed:
        engine.service.break_glass("U0BOB", command, None)
    assert not_allowed.value.reason is Refusal.NOT_A_REQUESTER
    with pytest.raises(Refused) as no_break_glass:
        engine.service.break_glass("U0ALICE", replace(command, role="ec2-admin"), None)
    assert no_break_glass.value.reason is Refusal.NO_BREAK_GLASS


def test_the_sweep_expires_ended_grants_and_lapses_undecided_requests(engine: Engine) -> None:
    granted = engine.grant("U0ALICE", duration="30m")
    pending = engine.request("U0DAVE", role="ops")
    engine.clock.advance(hours=1, seconds=1)
    engine.service.sweep()
    assert engine.stored(granted.id).state is State.EXPIRED
    assert engine.stored(pending).state is State.LAPSED
    assert engine.trusted_names() == []
    engine.service.sweep()  # nothing left to do: the same answer
    assert engine.stored(granted.id).state is State.EXPIRED


def test_two_approvers_at_once_grant_once(engine: Engine) -> None:
    request_id = engine.request("U0ALICE")
    outcomes: list[object] = []

    def approve(approver: str) -> None:
        try:
            outcomes.append(engine.service.approve(request_id, approver).state)
        except Refused as refused:
            outcomes.append(refused.reason)

    threads = [threading.Thread(target=approve, args=(a,)) for a in ("U0BOB", "U0CAROL")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert State.ACTIVE in outcomes and len(outcomes) == 2
    assert engine.stored(request_id).state is State.ACTIVE
    assert [e.action for e in engine.stored(request_id).audit].count("granted") <= 1
    assert engine.trusted_names() == ["alice"]
