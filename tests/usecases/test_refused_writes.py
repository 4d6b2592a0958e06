"""IAM refusing or stalling a write never wedges a role, nor lands a write under someone
else's lock (fault injection on the real clients against moto, tests/faults.py):

- the session-limit write refused for good (LimitExceeded, MalformedPolicyDocument,
  AccessDenied) during a revoke still removes the trust, and says exactly which part was not
  written (LimitsWriteFailed);
- a write retried on throttling is never sent after the step's lease on the role's lock ran
  out (another process may hold the lock by then)."""

from __future__ import annotations

import time
from contextlib import contextmanager

import pytest

from chalicelib import telemetry
from chalicelib.aws.grants import Lease, LimitsWriteFailed, TrustWriteFailed
from chalicelib.core import roleplan
from chalicelib.core.errors import PolicyRejected
from chalicelib.core.model import State, transition
from tests.support.engine_kit import built_engine, role_arn
from tests.support.iam_eval import session_may

EC2 = "ec2-admin"
REFUSALS = [
    ("LimitExceeded", "Maximum policy size of 10240 bytes exceeded for role AWSEC2FULLACCESS"),
    ("MalformedPolicyDocument", "Syntax errors in policy."),
    ("AccessDenied", "User is not authorized to perform: iam:PutRolePolicy"),
]


@pytest.fixture
def engine(aws, slack, monkeypatch, tmp_path):
    with built_engine(slack, monkeypatch, tmp_path) as built:
        yield built


@contextmanager
def revoke_step(engine, request_id: str):
    """The locked step a revoke runs, at the adapter: view, plan, write."""
    writer = engine.service.writer
    arn = role_arn(EC2)
    revoked = transition(
        engine.stored(request_id), State.REVOKED, "U0BOB", "revoked", engine.clock.now
    )
    with writer.locked(arn) as lease:
        view = writer.view(arn)
        plan = roleplan.plan(view, [revoked], engine.clock.now, writer.trust_quota(arn))
        assert plan.trust_changed(view) and plan.limits_changed(view)
        yield view, plan, lease


@pytest.mark.parametrize("code, message", REFUSALS)
def test_a_refused_cut_still_removes_the_trust_and_says_so(engine, code, message) -> None:
    grant = engine.grant("U0ALICE")
    limits_before = engine.limits()
    faults = engine.faults()
    with revoke_step(engine, grant.id) as (view, plan, lease):
        faults.reject("iam.PutRolePolicy", code, message)
        with pytest.raises(LimitsWriteFailed) as failed:
            engine.service.writer.write(view, plan, lease)
    error = failed.value
    assert error.written.trust and not error.written.limits
    assert code in str(error) and "session-limit policy" in str(error)
    assert "trust removed" in str(error)
    assert engine.trusted_names() == []  # no new session of hers from now on
    assert engine.limits() == limits_before  # the cut IAM refused is not pretended


def test_a_refused_cut_during_a_revoke_is_no_500_and_the_sweep_finishes_it(engine) -> None:
    grant = engine.grant("U0ALICE")
    faults = engine.faults()
    faults.reject("iam.PutRolePolicy", *REFUSALS[0])
    revoked, outcome = engine.service.revoke_with_outcome(grant.id, "U0BOB")
    assert revoked.state is State.REVOKED
    assert engine.trusted_names() == []
    assert "not cut" in outcome and "session-limit policy" in outcome
    assert "trust is removed" in outcome
    # IAM takes it again: the next sweep writes the cut.
    faults.clear()
    assert engine.service.sweep().errors == []
    now = engine.clock.now
    userid_role = engine.role_id()
    assert not session_may([engine.limits()], userid_role, "alice", now, now)


@pytest.mark.parametrize("code, message", REFUSALS)
def test_a_revoke_whose_cut_iam_refused_says_exactly_that_and_raises_the_alarm(
    engine, monkeypatch, code, message
) -> None:
    metrics: list[str] = []
    monkeypatch.setattr(telemetry, "metric", lambda name, value=1, *_: metrics.append(name))
    grant = engine.grant("U0ALICE")
    faults = engine.faults()
    faults.reject("iam.PutRolePolicy", code, message)
    revoked, outcome = engine.service.revoke_with_outcome(grant.id, "U0BOB")
    assert revoked.state is State.REVOKED and engine.trusted_names() == []
    assert outcome.startswith("The trust is removed, so no new session of theirs can start; ")
    assert "the session cut was refused by IAM (IAM refused the " in outcome and code in outcome
    assert "the session-limit policy is not written" in outcome
    assert "The sweep retries it every minute" in outcome
    assert "denied from now on" not in outcome  # never claimed when the cut was not written
    assert "failures" in metrics  # the grant-failure alarm's metric
    engine.service.flush(5)
    told = " ".join(engine.texts("/webhook/approvers"))
    assert "session cut was refused by IAM" in told and "denied from now on" not in told


def test_a_grant_whose_cut_iam_denies_the_broker_fails_with_the_reason(engine) -> None:
    faults = engine.faults()
    faults.reject("iam.PutRolePolicy", *REFUSALS[2])
    request = engine.grant("U0ALICE")
    assert request.state is State.FAILED and "AccessDenied" in request.failure
    assert engine.trusted_names() == [] and engine.limits() is None


def test_access_denied_on_a_write_is_a_refusal_not_a_crash(engine) -> None:
    gateway = engine.service.writer.iam
    faults = engine.faults()
    faults.reject("iam.UpdateAssumeRolePolicy", *REFUSALS[2])
    with pytest.raises(PolicyRejected, match="AccessDenied"):
        gateway.write_trust(role_arn(EC2), engine.trust())


# -- writes bounded by the lease --------------------------------------------------------------
@contextmanager
def leases_seen(engine):
    """The leases the writer hands out, as they are (to read their deadline)."""
    writer = engine.service.writer
    seen: list[Lease] = []
    original = writer.locked

    @contextmanager
    def locked(role, hand_over=None):
        with original(role, hand_over) as lease:
            seen.append(lease)
            yield lease

    writer.locked = locked
    try:
        yield seen
    finally:
        writer.locked = original


def test_a_throttled_write_is_not_retried_past_the_lease(engine) -> None:
    iam_client = engine.service.writer.iam.client_for_role(role_arn(EC2))
    sent: list[float] = []
    iam_client.meta.events.register(
        "before-send.iam.PutRolePolicy", lambda **_: sent.append(time.monotonic())
    )
    engine.service.writer.lease_seconds = 2.0  # the step must be done within 1.5 s
    faults = engine.faults()
    faults.throttle("iam.PutRolePolicy", 5)  # every attempt botocore would make
    started = time.monotonic()
    with leases_seen(engine) as leases:
        request = engine.grant("U0ALICE")
    took = time.monotonic() - started
    deadline_at = leases[0].remaining() + time.monotonic()
    assert sent, "the write was tried"
    assert all(at <= deadline_at for at in sent), [round(at - started, 2) for at in sent]
    assert len(sent) < 5  # retries stopped at the lease, not at botocore's limit
    assert took < 5
    # Nothing landed: no trust without its cut; the grant waits for the next step.
    assert request.state is State.APPROVED
    assert engine.trusted_names() == [] and engine.limits() is None
    faults.clear()
    engine.service.writer.lease_seconds = 45.0
    engine.service.sweep()
    assert engine.stored(request.id).state is State.ACTIVE


def test_the_lease_is_checked_again_after_the_cut_and_its_retries(engine) -> None:
    """The session-limit call returned, but its retries ate the lease: the trust is not
    written under a lock someone else may now hold."""
    grant = engine.grant("U0ALICE")
    engine.clock.advance(minutes=1)
    with revoke_step(engine, grant.id) as (view, plan, lease):
        original = engine.service.writer.iam.write_inline_policy

        def slow_write(*args, **kwargs):
            original(*args, **kwargs)
            lease._deadline = time.monotonic() - 1  # the retries took the rest of the lease

        engine.service.writer.iam.write_inline_policy = slow_write
        with pytest.raises(TrustWriteFailed) as failed:
            engine.service.writer.write(view, plan, lease)
        assert failed.value.written.limits and not failed.value.written.trust
    assert engine.trusted_names() == ["alice"]  # the next step removes it, under its own lock
