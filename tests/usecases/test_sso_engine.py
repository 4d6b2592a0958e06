"""An IAM Identity Center person through the whole service on a real moto server: requested,
approved, written into IAM beside an IAM user's grant, told how to switch, counted by
`/access roles`, expired by the sweep. Documents are read by tests/iam_eval.py."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from chalicelib import wiring
from chalicelib.core.model import State
from chalicelib.core.trust import is_ours
from tests.support.engine_kit import ACCOUNT, Engine, built_engine
from tests.support.iam_eval import can_assume, can_assume_from_role, session_may

SECOND = timedelta(seconds=1)
ERIN = "erin@example.com"
OPERATOR_ROLE = (
    f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/eu-west-1/"
    "AWSReservedSSO_Operator_0123456789abcdef"
)


@pytest.fixture
def engine(aws, slack, monkeypatch, tmp_path):
    with built_engine(slack, monkeypatch, tmp_path) as built:
        people = tmp_path / "policies" / "people.toml"
        people.write_text(
            people.read_text() + '[people.U0ERIN]\nname = "erin"\n'
            f'sso = {{ account = "{ACCOUNT}", permission_set = "Operator", user = "{ERIN}", '
            'region = "eu-west-1" }\n'
        )
        wiring.reset()
        service = wiring.service()
        service.clock = built.clock
        yield Engine(service, built.clock, built.slack)


def test_an_identity_center_person_is_granted_beside_an_iam_user(engine) -> None:
    catalog = engine.service.catalog
    slots = engine.service.free_slots(catalog.person("U0ERIN"), [catalog.role("ec2-admin")])
    erin = engine.grant("U0ERIN", duration="30m")
    alice = engine.grant("U0ALICE", duration="1h")
    assert erin.state is State.ACTIVE and alice.state is State.ACTIVE
    assert erin.session_name == ERIN
    now, end = engine.clock.now, erin.ends()

    trust = engine.trust()
    tag = engine.service.writer.tag
    kinds = sorted(s["Sid"][18] for s in trust["Statement"] if is_ours(s, tag))
    assert kinds == ["A", "S"]
    assert can_assume_from_role(trust, OPERATOR_ROLE, "AROAOPERATOR0000001", ERIN, ERIN, now)
    assert not can_assume_from_role(trust, OPERATOR_ROLE, "AROAOPERATOR0000001", "x", ERIN, now)
    assert can_assume(trust, f"arn:aws:iam::{ACCOUNT}:user/alice", "alice", now)

    limits, role_id = engine.limits(), engine.role_id()
    assert session_may([limits], role_id, ERIN, now, end - SECOND)
    assert not session_may([limits], role_id, ERIN, now, end)

    engine.service.flush(5)
    [told] = [t for t in engine.texts("/response/U0ERIN") if "granted" in t]
    assert f"IAM Identity Center session as `{ERIN}`" in told and "at most one hour" in told
    # The session names it hands over are the ones the trust accepts.
    cli = re.search(r"--role-session-name ([\w+=,.@-]+)", told).group(1)
    profile = re.search(r"role_session_name = ([\w+=,.@-]+)", told).group(1)
    for name in (cli, profile):
        assert can_assume_from_role(trust, OPERATOR_ROLE, "AROAOPERATOR0000001", ERIN, name, now)

    assert slots["ec2-admin"] > 0

    engine.clock.advance(minutes=30)
    engine.service.sweep()
    assert engine.stored(erin.id).state is State.EXPIRED
    assert engine.stored(alice.id).state is State.ACTIVE
    trust = engine.trust()
    assert not can_assume_from_role(trust, OPERATOR_ROLE, "AROAOPERATOR0000001", ERIN, ERIN, end)
    assert can_assume(trust, f"arn:aws:iam::{ACCOUNT}:user/alice", "alice", engine.clock.now)
    assert engine.service.sweep().drift == []


def cut_ledger(engine) -> str:
    from tests.support.engine_kit import role_arn

    text, _ = engine.service.store.read_cut_ledger(role_arn("ec2-admin"))
    return (text or "").lower()


def test_revoking_an_identity_center_grant_removes_its_trust_and_cuts_its_sessions(
    engine,
) -> None:
    erin = engine.grant("U0ERIN", duration="1h")
    alice = engine.grant("U0ALICE", duration="1h")
    issued = engine.clock.now
    assert can_assume_from_role(
        engine.trust(), OPERATOR_ROLE, "AROAOPERATOR0000001", ERIN, ERIN, issued
    )

    engine.clock.advance(minutes=10)
    now = engine.clock.now
    revoked = engine.service.revoke(erin.id, "U0ERIN")
    assert revoked.state is State.REVOKED and engine.stored(alice.id).state is State.ACTIVE

    # No statement lets her session in any more; alice's grant is untouched.
    trust = engine.trust()
    tag = engine.service.writer.tag
    assert [s["Sid"][18] for s in trust["Statement"] if is_ours(s, tag)] == ["A"]
    assert not can_assume_from_role(trust, OPERATOR_ROLE, "AROAOPERATOR0000001", ERIN, ERIN, now)
    assert can_assume(trust, f"arn:aws:iam::{ACCOUNT}:user/alice", "alice", now)

    # The cut: the session she already holds is denied from now on, and so is any session
    # STS might still issue her (IAM propagation); alice's sessions go on.
    limits, role_id = engine.limits(), engine.role_id()
    assert not session_may([limits], role_id, ERIN, issued, now)
    assert not session_may([limits], role_id, ERIN.upper(), issued, now)
    assert not session_may([limits], role_id, ERIN, now, now + SECOND)
    assert session_may([limits], role_id, "alice", issued, now)
    assert ERIN in cut_ledger(engine)
    assert engine.service.sweep().drift == []


def test_an_expired_identity_center_grant_stays_cut_until_its_sessions_cannot_live(
    engine,
) -> None:
    erin = engine.grant("U0ERIN", duration="30m")
    issued, end = engine.clock.now, erin.ends()
    engine.clock.advance(minutes=30)
    engine.service.sweep()
    assert engine.stored(erin.id).state is State.EXPIRED

    trust = engine.trust()
    after = end + timedelta(minutes=5)
    assert not can_assume_from_role(trust, OPERATOR_ROLE, "AROAOPERATOR0000001", ERIN, ERIN, after)
    limits, role_id = engine.limits(), engine.role_id()
    assert not session_may([limits], role_id, ERIN, issued, after)
    assert not session_may([limits], role_id, ERIN, issued, end + timedelta(hours=11))
    assert ERIN in cut_ledger(engine)

    # Once no session of hers can still live (12 hours past the last moment trust could have
    # let her in), the sweep drops the cut; nothing of hers is left in IAM.
    engine.clock.advance(hours=13)
    engine.service.sweep()
    limits = engine.limits()
    assert ERIN not in json.dumps(limits or {}).lower()
    assert engine.service.sweep().drift == []
