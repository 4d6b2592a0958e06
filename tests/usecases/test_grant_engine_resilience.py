"""The grant engine's promises against a real moto server: two deployments on one role,
infrastructure-as-code rewriting the trust policy, a revoke whose trust write IAM refuses,
people removed from the policies, a deleted session-limit policy, DynamoDB throttling.
Documents are read by the independent evaluator in tests/support/iam_eval.py."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from chalicelib import wiring
from chalicelib.core.model import State
from chalicelib.core.trust import deployment_tag, is_ours
from chalicelib.policies import load_catalog
from tests.support.engine_kit import ACCOUNT, ROLES, Engine, built_engine
from tests.support.iam_eval import can_assume, session_may

SECOND = timedelta(seconds=1)


@pytest.fixture
def engine(aws, slack, monkeypatch, tmp_path):
    with built_engine(slack, monkeypatch, tmp_path) as built:
        yield built


def arn(user: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{user}"


def may_act(engine: Engine, user: str, issued, at, action: str = "ec2:RunInstances") -> bool:
    return session_may([engine.limits()], engine.role_id(), user, issued, at, action)


@pytest.fixture
def second(engine, monkeypatch, tmp_path) -> Engine:
    """A second deployment (say ``dev``) on the same roles and moto server: its own table."""
    from tools.local_stack import ensure_aws_resources

    monkeypatch.setenv("SWITCHBACK_TABLE", "switchback-dev")
    ensure_aws_resources(engine.service.catalog, "switchback-dev")
    wiring.reset()
    service = wiring.service()
    service.clock = engine.clock  # one clock for both
    return Engine(service, engine.clock, engine.slack)


# -- two deployments on one role ----------
def test_two_deployments_on_one_role_never_touch_each_others_grants(engine, second) -> None:
    assert engine.service.writer.tag != second.service.writer.tag
    assert engine.service.writer.limits_policy != second.service.writer.limits_policy
    prod = engine.grant("U0ALICE", duration="30m")
    dev = second.grant("U0CAROL", duration="2h")
    assert prod.state is State.ACTIVE and dev.state is State.ACTIVE
    assert engine.trusted_names() == ["alice"] and second.trusted_names() == ["carol"]
    for _ in range(2):  # each sweep sees the other's statements as foreign
        assert engine.service.sweep().drift == [] and second.service.sweep().drift == []
    engine.clock.advance(minutes=31)
    assert engine.service.sweep().expired == 1
    assert second.service.sweep().expired == 0
    assert engine.trusted_names() == [] and second.trusted_names() == ["carol"]
    trust = engine.trust()
    assert can_assume(trust, arn("carol"), "carol", engine.clock.now)
    assert not can_assume(trust, arn("alice"), "alice", engine.clock.now)
    # each keeps its own session limits: prod's cut of alice, dev's live cut of carol
    assert not may_act(engine, "alice", engine.clock.now, engine.clock.now)
    assert session_may(
        [engine.limits(), second.limits()],
        engine.role_id(),
        "carol",
        engine.clock.now,
        dev.ends() - SECOND,
    )
    second.service.revoke(dev.id, "U0CAROL")
    assert second.trusted_names() == [] and engine.limits() is not None


def test_two_deployments_writing_at_once_converge_by_the_next_sweeps(engine, second) -> None:
    """No shared lock and no version check on the trust policy: a write can lose the other
    deployment's statement. It is never a cut that is lost (each deployment has its own
    session-limit policy), and the loser's next sweep writes its statement again."""
    requests = [engine.request("U0ALICE"), second.request("U0CAROL")]
    threads = [
        threading.Thread(target=engine.service.approve, args=(requests[0], "U0BOB")),
        threading.Thread(target=second.service.approve, args=(requests[1], "U0BOB")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Each deployment's rule sees the other's write (another broker role) and marks the role.
    engine.iam_changed("UpdateAssumeRolePolicy")
    second.iam_changed("UpdateAssumeRolePolicy")
    engine.service.sweep()
    second.service.sweep()
    assert engine.trusted_names() == ["alice"] and second.trusted_names() == ["carol"]
    now = engine.clock.now
    trust = engine.trust()
    assert can_assume(trust, arn("alice"), "alice", now) and can_assume(
        trust, arn("carol"), "carol", now
    )


# -- infrastructure as code ----------
def test_an_iac_apply_that_rewrites_the_trust_policy_is_repaired_by_the_next_sweep(engine) -> None:
    grant = engine.grant("U0ALICE", duration="1h")
    applied = {  # what `terraform apply` writes without ignore_changes: its own document
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EC2Service",
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            },
            {
                "Sid": "SwitchbackBreakGlassAdmins",
                "Effect": "Allow",
                "Principal": {"AWS": arn("oncall")},
                "Action": "sts:AssumeRole",
            },
        ],
    }
    engine.set_trust(applied)
    assert not can_assume(engine.trust(), arn("alice"), "alice", engine.clock.now)
    report = engine.service.sweep()
    assert any("wrote the missing trust" in d for d in report.drift)
    trust = engine.trust()
    assert trust["Statement"][:2] == applied["Statement"]  # foreign statements untouched
    assert can_assume(trust, arn("alice"), "alice", engine.clock.now)
    assert engine.stored(grant.id).state is State.ACTIVE


# -- revoke never depends on the trust write ----------
def test_a_revoke_whose_trust_write_iam_refuses_still_cuts_and_says_so(engine) -> None:
    grant = engine.grant("U0ALICE", duration="2h")
    issued = engine.clock.now
    engine.clock.advance(minutes=5)
    faults = engine.faults().server_error("iam.UpdateAssumeRolePolicy", 6, 500)
    revoked, outcome = engine.service.revoke_with_outcome(grant.id, "U0BOB")
    assert revoked.state is State.REVOKED and len(faults.injected) == 6
    now = engine.clock.now
    assert "denied from now on" in outcome and "did not take the trust-policy change" in outcome
    assert "alice" in engine.trusted_names()  # IAM refused: trust still lists her
    assert not may_act(engine, "alice", issued, now)  # but every session is cut
    assert not may_act(engine, "alice", now + timedelta(seconds=60), now + timedelta(seconds=61))
    engine.service.flush(5)
    assert any("sweep retries" in t for t in engine.texts("/webhook/approvers"))
    faults.clear()
    engine.clock.advance(minutes=1)
    report = engine.service.sweep()
    assert report.errors == [] and report.drift == []
    assert engine.trusted_names() == []


def test_a_revoke_while_iam_is_down_is_told_honestly_and_finished_by_the_sweep(engine) -> None:
    grant = engine.grant("U0ALICE", duration="2h")
    engine.faults().server_error("iam.GetRole", 6, 503)
    _, outcome = engine.service.revoke_with_outcome(grant.id, "U0ALICE")
    assert "sessions are not cut yet" in outcome
    engine.service.sweep()
    assert engine.trusted_names() == []
    assert not may_act(engine, "alice", engine.clock.now, engine.clock.now)


# -- policy changes reach active grants ----------
def test_a_person_removed_from_the_requesters_loses_their_grant_at_the_next_sweep(
    engine, tmp_path
) -> None:
    alice = engine.grant("U0ALICE", duration="2h")
    carol = engine.grant("U0CAROL", duration="2h")
    catalog = engine.service.catalog
    role = catalog.role("ec2-admin")
    engine.service.catalog = replace(
        catalog, roles={**catalog.roles, "ec2-admin": replace(role, requesters=("U0CAROL",))}
    )
    engine.clock.advance(minutes=1)
    report = engine.service.sweep()
    assert report.failed == 1
    ended = engine.stored(alice.id)
    assert ended.state is State.FAILED and "may no longer request ec2-admin" in ended.failure
    assert engine.stored(carol.id).state is State.ACTIVE
    assert engine.trusted_names() == ["carol"]
    assert not may_act(engine, "alice", engine.clock.now, engine.clock.now)
    engine.service.flush(5)
    assert any("may no longer request" in t for t in engine.texts("/response/U0ALICE"))
    assert any("may no longer request" in t for t in engine.texts("/webhook/approvers"))


def test_a_person_removed_from_people_toml_loses_their_grant(engine) -> None:
    alice = engine.grant("U0ALICE", duration="2h")
    catalog = engine.service.catalog
    people = {k: v for k, v in catalog.people.items() if k != "U0ALICE"}
    engine.service.catalog = replace(catalog, people=people)
    engine.service.sweep()
    assert "removed from people.toml" in engine.stored(alice.id).failure


# -- tampering with the session limits ----------
def test_a_deleted_session_limit_policy_is_rebuilt_from_the_store_and_reported(engine) -> None:
    alice = engine.grant("U0ALICE", duration="2h")
    engine.grant("U0CAROL", duration="2h")
    issued = engine.clock.now
    engine.clock.advance(minutes=5)
    engine.service.revoke(alice.id, "U0ALICE")
    before = engine.limits()
    engine.iam.delete_role_policy(
        RoleName=ROLES["ec2-admin"], PolicyName=engine.service.writer.limits_policy
    )
    engine.iam_changed("DeleteRolePolicy", policyName=engine.service.writer.limits_policy)
    assert may_act(engine, "alice", issued, engine.clock.now)  # the cut is gone from IAM
    report = engine.service.sweep()
    assert engine.limits() == before
    assert not may_act(engine, "alice", issued, engine.clock.now)
    assert any("alice" in d and "rebuilt" in d for d in report.drift)


# -- DynamoDB and IAM throttling on the ledger's path ----------
def test_a_grant_completes_through_dynamodb_throttling_and_5xx(engine) -> None:
    faults = engine.faults()
    faults.throttle("dynamodb.GetItem", 2).server_error("dynamodb.BatchGetItem", 1, 500)
    request = engine.grant("U0ALICE")
    assert request.state is State.ACTIVE and len(faults.injected) == 3
    assert engine.trusted_names() == ["alice"]


def test_policies_reload_sees_identity_clashes(tmp_path) -> None:
    from tests.support.engine_kit import write_policies

    folder = write_policies(tmp_path / "p")
    people = folder / "people.toml"
    people.write_text(
        people.read_text()
        + '[people.U0EVE]\nname = "eve"\naws = "arn:aws:iam::210987654321:user/alice"\n'
    )
    with pytest.raises(ValueError, match="U0EVE.aws"):
        load_catalog(folder)


def test_the_tag_names_the_table() -> None:
    assert deployment_tag("switchback") != deployment_tag("switchback-dev")
    assert is_ours({"Sid": f"Switchback{deployment_tag('x')}A20260101000000"}, deployment_tag("x"))


# -- the lease ----------------------------------------------------------------------------------
def test_a_step_whose_lease_ran_out_writes_nothing_and_the_sweep_finishes_it(engine) -> None:
    engine.service.writer.lease_seconds = 0.001  # lapsed before the first write
    counter = engine.counter()
    request = engine.grant("U0ALICE")
    assert request.state is State.APPROVED
    assert "PutRolePolicy" not in counter.of("iam") and "UpdateAssumeRolePolicy" not in (
        counter.of("iam")
    )
    assert engine.trusted_names() == [] and engine.limits() is None
    engine.service.writer.lease_seconds = 45.0
    assert engine.service.sweep().granted == 1
    assert engine.trusted_names() == ["alice"]


# -- a step planned from a stale read --------
def test_a_step_whose_index_read_predates_a_grant_keeps_that_grant(engine) -> None:
    """The sweep reads a role's open grants (an index query) before it takes the role's lock;
    a grant made in between must not look like drift. Under the lock the ledger, read
    consistently, names every grant that holds trust."""
    granted = engine.grant("U0ALICE", duration="30m")
    settled = engine.service.settle_role(granted.role_arn, known=[])  # read before the grant
    assert settled.drift == [] and settled.expired == [] and settled.failed == []
    assert engine.trusted_names() == ["alice"]
    assert engine.service.get(granted.id).state is State.ACTIVE
    now = engine.clock.now
    assert can_assume(engine.trust(), arn("alice"), "alice", now)
    assert may_act(engine, "alice", now, now + SECOND)
