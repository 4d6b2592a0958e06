"""Nothing lost under faults: throttling and 5xx from IAM, crashes between any two writes of a
grant or a revoke, and random schedules of all of it — against a real moto server, with the
faults injected into the service's real boto3 clients (tests/support/faults.py)."""

from __future__ import annotations

import tempfile
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chalicelib.core import session_limits
from chalicelib.core.decisions import Refused
from chalicelib.core.model import State
from chalicelib.core.trust import PLACEHOLDER_SID, is_ours
from tests.support.engine_kit import ROLES, Engine, built_engine
from tests.support.faults import Crash
from tests.support.iam_eval import session_may

EC2 = "ec2-admin"
SECOND = timedelta(seconds=1)


@pytest.fixture
def engine(aws, slack, monkeypatch, tmp_path):
    with built_engine(slack, monkeypatch, tmp_path) as built:
        yield built


def sessions_end_at(engine: Engine, name: str, issued, end, role: str = EC2) -> bool:
    """A session issued at ``issued`` still works a second before ``end``, and no longer at
    ``end`` (read by the independent evaluator in tests/support/iam_eval.py)."""
    policies, role_id = [engine.limits(role)], engine.role_id(role)
    return session_may(policies, role_id, name, issued, end - SECOND) and not session_may(
        policies, role_id, name, issued, end
    )


def granted_correctly(engine: Engine, request_id: str) -> bool:
    request = engine.stored(request_id)
    return (
        request.state is State.ACTIVE
        and "alice" in engine.trusted_names()
        and sessions_end_at(engine, "alice", engine.clock.now, request.ends())
    )


def revoked_correctly(engine: Engine, request_id: str, issued) -> bool:
    request = engine.stored(request_id)
    now = engine.clock.now
    return (
        request.state is State.REVOKED
        and "alice" not in engine.trusted_names()
        and not session_may([engine.limits()], engine.role_id(), "alice", issued, now)
        # a session STS issued after the revoke, IAM still propagating, is denied too
        and not session_may([engine.limits()], engine.role_id(), "alice", now, now + SECOND)
    )


# -- throttling and 5xx: retried by botocore, bounded ------------------------------------------
def test_a_grant_completes_through_throttling_and_5xx(engine) -> None:
    faults = engine.faults()
    faults.throttle("iam.GetRole", 2).server_error("iam.UpdateAssumeRolePolicy", 1, 500)
    faults.throttle("iam.PutRolePolicy", 1).server_error("iam.GetRolePolicy", 1, 503)
    counter = engine.counter()
    request = engine.grant("U0ALICE")
    assert request.state is State.ACTIVE and granted_correctly(engine, request.id)
    assert len(faults.injected) == 5
    assert counter.attempts["iam.GetRole"] == counter.calls["iam.GetRole"] + 2


def test_a_revoke_completes_through_throttling_and_5xx(engine) -> None:
    request = engine.grant("U0ALICE", duration="2h")
    issued = engine.clock.now
    engine.clock.advance(minutes=5)
    faults = engine.faults()
    faults.server_error("iam.GetRole", 1, 503).throttle("iam.UpdateAssumeRolePolicy", 2)
    faults.server_error("iam.PutRolePolicy", 1, 500)
    engine.service.revoke(request.id, "U0ALICE")
    assert len(faults.injected) == 4
    assert revoked_correctly(engine, request.id, issued)


def test_aws_failing_past_the_retry_budget_leaves_the_grant_for_the_next_sweep(engine) -> None:
    faults = engine.faults().server_error("iam.GetRole", 6)  # 1 attempt + 5 retries, all 503
    request = engine.grant("U0ALICE")
    assert len(faults.injected) == 6
    assert request.state is State.APPROVED
    assert engine.trust_sids() == ["EC2Service"] and engine.limits() is None
    report = engine.service.sweep()
    assert report.granted == 1 and granted_correctly(engine, request.id)


# -- crashes between the writes of a grant and of a revoke --------------------------------------
def is_request_put(state: State):
    """A write of a request in ``state``: a PutItem, or the TransactWriteItems that stores it
    with its messages."""

    def matches(params: dict) -> bool:
        items = [params.get("Item", {})] + [
            t.get("Put", {}).get("Item", {}) for t in params.get("TransactItems", [])
        ]
        return any(
            item.get("pk", {}).get("S", "").startswith("REQ#")
            and item.get("state", {}).get("S") == state.value
            for item in items
        )

    return matches


GRANT_CRASHES = {
    "before any write": ("iam.UpdateAssumeRolePolicy", lambda _: True, False),
    "trust written, limit not, store not": ("iam.UpdateAssumeRolePolicy", lambda _: True, True),
    "IAM written, store not": ("iam.PutRolePolicy", lambda _: True, True),
    "store written, lock and messages not": (
        "dynamodb.TransactWriteItems",
        is_request_put(State.ACTIVE),
        True,
    ),
}


@pytest.mark.parametrize("point", list(GRANT_CRASHES))
def test_a_grant_that_crashes_after_any_write_is_finished_by_the_next_sweep(engine, point) -> None:
    request_id = engine.request("U0ALICE")
    engine.faults().crash(*GRANT_CRASHES[point])
    with pytest.raises(Crash):
        engine.service.approve(request_id, "U0BOB")
    engine.service.sweep()
    assert granted_correctly(engine, request_id)
    assert engine.service.sweep().granted == 0  # converged: a second pass has nothing to do
    # The messages were stored with the state change: whoever wrote it, they arrive once.
    engine.service.flush(5)
    engine.clock.advance(minutes=2)
    engine.service.sweep()
    assert sum("granted" in t for t in engine.texts("/response/U0ALICE")) == 1


REVOKE_CRASHES = {
    "store written, IAM not": (
        "dynamodb.TransactWriteItems",
        is_request_put(State.REVOKED),
        True,
    ),
    "trust removed, sessions not cut": ("iam.UpdateAssumeRolePolicy", lambda _: True, True),
    "IAM written, messages not": ("iam.PutRolePolicy", lambda _: True, True),
}


@pytest.mark.parametrize("point", list(REVOKE_CRASHES))
def test_a_revoke_that_crashes_after_any_write_is_finished_by_the_next_sweep(engine, point) -> None:
    request = engine.grant("U0ALICE", duration="2h")
    issued = engine.clock.now
    engine.clock.advance(minutes=5)
    engine.faults().crash(*REVOKE_CRASHES[point])
    with pytest.raises(Crash):
        engine.service.revoke(request.id, "U0ALICE")
    engine.clock.advance(seconds=30)
    engine.service.sweep()
    assert revoked_correctly(engine, request.id, issued)
    assert engine.trust_sids() == ["EC2Service"]


def test_an_expiry_that_crashes_between_iam_and_the_store_is_finished_by_the_next_sweep(
    engine,
) -> None:
    request = engine.grant("U0ALICE")
    engine.service.flush(5)
    engine.clock.advance(minutes=31)
    engine.faults().crash("iam.UpdateAssumeRolePolicy")
    with pytest.raises(Crash):
        engine.service.sweep()
    assert engine.stored(request.id).state is State.ACTIVE
    assert "alice" not in engine.trusted_names()
    assert engine.service.sweep().expired == 1
    assert engine.stored(request.id).state is State.EXPIRED
    engine.service.flush(5)
    assert sum("expired" in t for t in engine.slack.texts()) == 2  # requester and approvers


# -- random schedules ----------------------------------------------------------------------------
USERS = ["U0ALICE", "U0BOB", "U0CAROL", "U0DAVE"]


def not_a_lock(params: dict) -> bool:
    return not params.get("Item", {}).get("pk", {}).get("S", "").startswith("LOCK#")


# (operation, which calls, die right after it answered?). Dying with a role's lock held is
# left to test_a_lock_left_by_a_dead_process_lapses_and_the_next_sweep_converges: each such
# crash costs the lease's wall-clock time.
CRASH_POINTS = [
    ("iam.UpdateAssumeRolePolicy", None, True),
    ("iam.UpdateAssumeRolePolicy", None, False),
    ("iam.PutRolePolicy", None, True),
    ("iam.PutRolePolicy", None, False),
    ("dynamodb.PutItem", not_a_lock, True),  # an outbox message (or a counter) is written
    ("dynamodb.TransactWriteItems", None, True),  # a request and its messages are written
]
durations = st.sampled_from(["1m", "10m", "45m", "2h"])
new_request = st.tuples(st.sampled_from(USERS), st.sampled_from(list(ROLES)), durations)
# Each step may die at one point (a third of them do): (operation, right after it answered?).
crash_point = st.one_of(st.none(), st.none(), st.sampled_from(CRASH_POINTS))
operations = st.one_of(
    st.tuples(st.just("grant"), crash_point, new_request),  # requested and approved at once
    st.tuples(st.just("grant"), crash_point, new_request),
    st.tuples(st.just("request"), st.none(), new_request),  # left pending, maybe approved later
    st.tuples(st.just("approve"), crash_point, st.integers(0, 30)),
    st.tuples(
        st.just("revoke"),
        crash_point,
        st.integers(0, 30),
        st.sampled_from(["requester", "approver", "other"]),
    ),
    st.tuples(st.just("advance"), st.none(), st.integers(1, 90)),
    st.tuples(st.just("sweep"), crash_point),
)
FOREIGN = {
    "Sid": "Partner",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
    "Action": "sts:AssumeRole",
    "Condition": {"StringEquals": {"sts:ExternalId": "partner-7"}},
}


def check_iam_matches_the_store(engine: Engine, ids: list[str], baselines: dict) -> None:
    """After a pass that was not interrupted: exactly the live grants are trusted, foreign
    statements are as they were, every live holder's sessions end at their latest end, and
    nobody else keeps a session past now."""
    now = engine.clock.now
    requests = [engine.stored(i) for i in ids]
    for role in ROLES:
        arn = f"arn:aws:iam::123456789012:role/{ROLES[role]}"
        mine = [r for r in requests if r.role_arn == arn]
        live = [r for r in mine if r.state is State.ACTIVE]
        assert all(r.ends() > now for r in live)
        assert not [r for r in mine if r.state is State.APPROVED]
        trust = engine.trust(role)["Statement"]
        tag = engine.service.writer.tag
        assert [
            s for s in trust if not is_ours(s, tag) and s.get("Sid") != PLACEHOLDER_SID
        ] == baselines[role]
        assert engine.trusted_names(role) == sorted({r.session_name for r in live})
        limits = engine.limits(role)
        role_id = engine.role_id(role)
        for name in {r.session_name for r in mine}:
            theirs = [r for r in live if r.session_name == name]
            if theirs:
                end = max(r.ends() for r in theirs)
                assert session_may([limits], role_id, name, now, end - SECOND)
                assert not session_may([limits], role_id, name, now, end)
                continue
            if any(e.action == "granted" for r in mine if r.session_name == name for e in r.audit):
                # ended within the last 12 hours: every session of theirs is denied
                assert not session_may([limits], role_id, name, now - SECOND, now + SECOND)
        cuts, _ = session_limits.read(limits)
        assert {n for n, c in cuts.items() if c.live_end} == {r.session_name for r in live}


def run_schedule(engine: Engine, schedule: list[tuple]) -> None:
    faults = engine.faults()
    ids: list[str] = []
    baselines = {}
    for role in ROLES:
        trust = engine.trust(role)
        if role != "ops":
            trust["Statement"].append(FOREIGN)
            engine.set_trust(trust, role)
        baselines[role] = trust["Statement"]
    for kind, crash, *step in schedule:
        if crash is not None:
            operation, when, after = crash
            faults.crash(operation, when or (lambda _: True), after=after)
        interrupted = False
        try:
            if kind in ("request", "grant"):
                ids.append(engine.request(*step[0]))
            if kind in ("approve", "grant") and ids:
                index = -1 if kind == "grant" else step[0] % len(ids)
                request = engine.stored(ids[index])
                approver = "U0CAROL" if request.requester == "U0BOB" else "U0BOB"
                engine.service.approve(request.id, approver)
            elif kind == "revoke" and ids:
                request = engine.stored(ids[step[0] % len(ids)])
                actor = {"requester": request.requester, "approver": "U0CAROL"}.get(
                    step[1], "U0DAVE" if request.requester != "U0DAVE" else "U0ALICE"
                )
                engine.service.revoke(request.id, actor)
            elif kind == "advance":
                engine.clock.advance(minutes=step[0])
            elif kind == "sweep":
                report = engine.service.sweep()
                assert report.errors == [], report.errors
        except Refused:
            pass
        except Crash:
            interrupted = True
        faults.clear()  # a crash that did not happen in its step is not carried over
        if kind == "sweep" and not interrupted:
            check_iam_matches_the_store(engine, ids, baselines)
    # What the schedule exercised (shown by --hypothesis-show-statistics).
    granted = sum(any(e.action == "granted" for e in engine.stored(i).audit) for i in ids)
    event(f"grants made: {min(granted, 4)}{'+' if granted >= 4 else ''}")
    event(f"crashes: {sum(f.startswith('crash') for f in faults.injected)}")
    # Past every end: one clean pass leaves no trust and no live session limit behind.
    faults.clear()
    engine.clock.advance(hours=5)
    assert engine.service.sweep().errors == []
    check_iam_matches_the_store(engine, ids, baselines)
    for role in ROLES:
        assert engine.trust(role)["Statement"] == baselines[role]
        cuts, chaining = session_limits.read(engine.limits(role))
        assert not chaining and all(c.live_end is None for c in cuts.values())
    assert all(engine.stored(i).state not in (State.ACTIVE, State.APPROVED) for i in ids)
    # And once no session from before the cuts can live (12 hours, the longest session, past
    # the last trust), the limits go too.
    engine.clock.advance(hours=12)
    engine.service.sweep()
    assert all(engine.limits(role) is None for role in ROLES)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(operations, min_size=1, max_size=25))
def test_random_schedules_with_crashes_converge(aws, slack, schedule) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{aws}/moto-api/reset", method="POST"))
    with pytest.MonkeyPatch.context() as monkeypatch, tempfile.TemporaryDirectory() as folder:
        with built_engine(slack, monkeypatch, Path(folder)) as engine:
            run_schedule(engine, schedule)
