"""The grant engine: exact ends, session limits, revoke, the sweep, drift. Each test runs on
fakes and on a real moto server (tests/support/fast_engine.py); those that count AWS calls on
the service's real clients (not estimated), fault botocore or change IAM with boto3 run on
moto alone (``moto_only``)."""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from chalicelib import telemetry
from chalicelib.core.decisions import Refused
from chalicelib.core.model import State, iso, transition
from chalicelib.core.sweep_plan import IDLE_EVERY
from chalicelib.core.trust import SESSION_NAME_PIN
from tests.support.engine_kit import ACCOUNT, Engine, role_arn
from tests.support.fast_engine import moto_only
from tests.support.iam_eval import can_assume, session_may

EC2 = "ec2-admin"


def userid(engine: Engine, name: str, role: str = EC2) -> str:
    return f"{engine.role_id(role)}:{name}"


def alive(engine: Engine, name: str, issued, at, role: str = EC2) -> bool:
    """Would IAM let a session of ``name`` issued at ``issued`` act at ``at``? (read by the
    independent evaluator in tests/support/iam_eval.py)"""
    return session_may([engine.limits(role)], engine.role_id(role), name, issued, at)


def assumable(engine: Engine, name: str, at, role: str = EC2) -> bool:
    arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    return can_assume(engine.trust(role), arn, name, at, mfa=True)


# -- exact end, for new and live sessions -------------------------------------------------------
@moto_only
def test_a_grant_writes_its_trust_statement_and_session_limit_in_one_step(engine) -> None:
    counter = engine.counter()
    request = engine.grant("U0ALICE")
    assert request.state is State.ACTIVE
    [_, statement] = engine.trust()["Statement"]
    tag = engine.service.writer.tag
    assert statement == {
        "Sid": f"Switchback{tag}A{request.ends():%Y%m%d%H%M%S}",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"},
        "Action": "sts:AssumeRole",
        "Condition": {
            "DateLessThan": {"aws:CurrentTime": request.ends_at},
            "StringEquals": {"sts:RoleSessionName": SESSION_NAME_PIN},
        },
    }
    [limit, chaining] = engine.limits()["Statement"]
    assert limit == {
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {
            "StringEqualsIgnoreCase": {"aws:userid": userid(engine, "alice")},
            "DateGreaterThanEquals": {"aws:CurrentTime": request.ends_at},
        },
    }
    assert chaining["Action"][0] == "sts:AssumeRole"
    # one read of the role (and the quota, once per account; under the lock, the list of its
    # inline policies, whose sizes share IAM's quota), one write of each policy
    assert counter.of("iam") == {
        "GetRole": 1,
        "GetRolePolicy": 1,
        "ListRolePolicies": 1,
        "GetAccountSummary": 1,
        "UpdateAssumeRolePolicy": 1,
        "PutRolePolicy": 1,
    }
    ends = request.ends()
    assert alive(engine, "alice", engine.clock.now, ends - timedelta(seconds=1))
    assert not alive(engine, "alice", engine.clock.now, ends)
    assert assumable(engine, "alice", ends - timedelta(seconds=1))
    assert not assumable(engine, "alice", ends)


def test_roles_that_require_mfa_get_the_mfa_condition(engine) -> None:
    engine.grant("U0ALICE", "db-admin")
    [_, statement] = engine.trust("db-admin")["Statement"]
    assert statement["Condition"]["Bool"] == {"aws:MultiFactorAuthPresent": "true"}
    assert statement["Sid"].startswith(f"Switchback{engine.service.writer.tag}M")


def test_overlapping_grants_of_one_person_never_cut_each_other_short(engine) -> None:
    start = engine.clock.now
    long = engine.grant("U0ALICE", duration="2h")
    short = engine.grant("U0ALICE", duration="30m")  # a second request while the first is on
    assert short.state is State.ACTIVE
    assert engine.trusted_names() == ["alice"]
    second = timedelta(seconds=1)
    assert alive(engine, "alice", start, long.ends() - second)  # the shorter grant cut nothing
    extension = engine.grant("U0ALICE", duration="3h")  # an extension moves the end later
    assert alive(engine, "alice", start, extension.ends() - second)
    assert not alive(engine, "alice", start, extension.ends())
    # revoking the longest one leaves the others' sessions alone, up to the later of them
    engine.service.revoke(extension.id, "U0ALICE")
    assert engine.trusted_names() == ["alice"]
    assert alive(engine, "alice", start, long.ends() - second)
    assert not alive(engine, "alice", start, long.ends())
    # the short one expires: still nothing cut while the long one runs
    engine.clock.advance(minutes=31)
    engine.service.sweep()
    assert engine.stored(short.id).state is State.EXPIRED
    assert engine.trusted_names() == ["alice"]
    assert alive(engine, "alice", start, long.ends() - second)


def test_other_people_on_the_role_are_not_affected(engine) -> None:
    start = engine.clock.now
    alice = engine.grant("U0ALICE", duration="1h")
    carol = engine.grant("U0CAROL", duration="2h")
    engine.clock.advance(minutes=1)
    engine.service.revoke(alice.id, "U0BOB")
    assert not alive(engine, "alice", start, engine.clock.now + timedelta(seconds=1))
    assert alive(engine, "carol", start, carol.ends() - timedelta(seconds=1))


def test_revoke_removes_trust_and_ends_live_sessions_now(engine) -> None:
    request = engine.grant("U0ALICE", duration="2h")
    issued = engine.clock.now
    engine.clock.advance(minutes=10)
    revoked = engine.service.revoke(request.id, "U0ALICE")
    assert revoked.state is State.REVOKED and engine.stored(request.id).state is State.REVOKED
    assert engine.trust_sids() == ["EC2Service"]
    now = engine.clock.now
    assert not alive(engine, "alice", issued, now)
    # IAM propagation: a session STS still issues a minute after the revoke is denied too
    assert not alive(engine, "alice", now + timedelta(seconds=60), now + timedelta(seconds=61))
    engine.service.flush(5)
    assert any("revoked" in t for t in engine.texts("/response/U0ALICE"))
    assert any("revoked" in t for t in engine.texts("/webhook/approvers"))


def test_an_approver_may_revoke_someone_else_may_not(engine) -> None:
    request = engine.grant("U0ALICE")
    with pytest.raises(Refused):
        engine.service.revoke(request.id, "U0DAVE")
    assert engine.stored(request.id).state is State.ACTIVE
    assert engine.trusted_names() == ["alice"]
    assert engine.service.revoke(request.id, "U0CAROL").state is State.REVOKED


def test_revoking_what_is_not_active_is_refused_and_changes_nothing(engine) -> None:
    pending = engine.request("U0DAVE")
    with pytest.raises(Refused, match="pending, not active"):
        engine.service.revoke(pending, "U0DAVE")
    request = engine.grant("U0ALICE")
    engine.service.revoke(request.id, "U0ALICE")
    before = (engine.trust(), engine.limits())
    with pytest.raises(Refused, match="revoked, not active"):
        engine.service.revoke(request.id, "U0ALICE")
    assert (engine.trust(), engine.limits()) == before


def test_a_new_grant_after_a_revoke_does_not_bring_revoked_sessions_back(engine) -> None:
    first = engine.grant("U0ALICE", duration="2h")
    old_session = engine.clock.now
    engine.clock.advance(minutes=5)
    engine.service.revoke(first.id, "U0ALICE")
    engine.clock.advance(minutes=5)
    second = engine.grant("U0ALICE", duration="1h")
    later = engine.clock.now + timedelta(minutes=1)
    assert not alive(engine, "alice", old_session, later)
    # a session issued after the revoke (propagation) but before the new grant stays dead
    assert not alive(engine, "alice", engine.clock.now - timedelta(minutes=4), later)
    assert alive(engine, "alice", engine.clock.now, second.ends() - timedelta(seconds=1))
    assert not alive(engine, "alice", engine.clock.now, second.ends())


# -- the sweep ----------------------------------------------------------------------------------
@moto_only
def test_one_sweep_expires_many_grants_with_one_read_and_two_writes_per_role(engine) -> None:
    grants = [
        engine.grant(user, role, "30m")
        for role in ("ec2-admin", "db-admin", "ops")
        for user in ("U0ALICE", "U0CAROL", "U0DAVE")
    ]
    engine.clock.advance(minutes=31)
    counter = engine.counter()
    report = engine.service.sweep()
    assert report.expired == 9 and report.errors == []
    assert all(engine.stored(g.id).state is State.EXPIRED for g in grants)
    # one write of each policy per role: trust loses them, their live cuts become closed ones
    assert counter.of("iam") == {
        "GetRole": 3,
        "GetRolePolicy": 3,
        "ListRolePolicies": 3,
        "UpdateAssumeRolePolicy": 3,
        "PutRolePolicy": 3,
    }
    for role in ("ec2-admin", "db-admin", "ops"):
        assert [s for s in engine.trust_sids(role) if s.startswith("Switchback")] == []
        # sessions issued during the grants end at their end; the cut stays for late sessions
        assert not alive(
            engine, "alice", grants[0].ends() - timedelta(minutes=1), engine.clock.now, role
        )


@moto_only
def test_an_idle_sweep_reads_each_role_once_and_writes_nothing(engine) -> None:
    engine.grant("U0ALICE")
    engine.service.flush(5)
    counter = engine.counter()
    # Idle roles are read once every IDLE_EVERY passes (chalicelib/core/sweep_plan.py): one
    # stagger of passes, a minute apart, reads each role once.
    for _ in range(IDLE_EVERY):
        report = engine.service.sweep()
        assert report.errors == [] and report.expired == 0
        engine.clock.advance(minutes=1)
    assert counter.of("iam") == {"GetRole": 3, "GetRolePolicy": 3}
    dynamodb = counter.of("dynamodb")
    # the role's cut ledger is read; no lock taken, never a Scan; the one write is the sweep's
    # idle cursor (UpdateItem), once a pass
    assert set(dynamodb) == {"Query", "GetItem", "UpdateItem"}
    assert dynamodb["UpdateItem"] == IDLE_EVERY


@moto_only
def test_cuts_outlive_12_hour_sessions_whatever_the_roles_max_session_duration(engine) -> None:
    engine.iam.update_role(RoleName="AWSEC2FULLACCESS", MaxSessionDuration=3600)
    request = engine.grant("U0ALICE", duration="30m")
    engine.iam.update_role(RoleName="AWSEC2FULLACCESS", MaxSessionDuration=43200)
    late_session = request.ends() - timedelta(seconds=1)  # a 12-hour session from the end
    engine.clock.advance(minutes=31)
    engine.service.sweep()
    engine.iam.update_role(RoleName="AWSEC2FULLACCESS", MaxSessionDuration=3600)
    engine.clock.now = request.ends() + timedelta(hours=12) - timedelta(seconds=1)
    engine.service.sweep()
    assert engine.limits() is not None  # a session issued before the end may still live
    assert not alive(engine, "alice", late_session, engine.clock.now)
    engine.clock.now = request.ends() + timedelta(hours=12)
    engine.service.sweep()
    assert engine.limits() is None


@moto_only
def test_sweep_reads_are_queries_whose_cost_does_not_grow_with_history(engine) -> None:
    # Without role checks every pass reads every role: the two passes compared read the same
    # roles wherever they fall in the idle stagger (sweep_plan.py), so only history differs.
    engine.service.context.role_checks = None

    def sweep_calls() -> dict:
        counter = engine.counter()
        engine.service.sweep()
        counter.detach()
        return dict(counter.of("dynamodb"))

    due = [engine.grant(u) for u in ("U0ALICE", "U0CAROL")]
    engine.clock.advance(minutes=31)
    before_history = sweep_calls()
    store = engine.service.store
    for n in range(200):  # finished requests, as months of use leave them
        past = replace(due[0], id=f"HIST{n:06d}", version=0, audit=(), state=State.ACTIVE)
        store.create_request(
            transition(past, State.EXPIRED, "switchback", "expired", engine.clock.now)
        )
    more = [engine.grant(u) for u in ("U0ALICE", "U0CAROL")]
    engine.clock.advance(minutes=31)
    after_history = sweep_calls()
    assert all(engine.stored(g.id).state is State.EXPIRED for g in due + more)
    assert "Scan" not in before_history and "Scan" not in after_history
    # reads alike; writes at most alike (the ledger may already say what the second pass would)
    writes = ("PutItem", "DeleteItem")
    assert {k: v for k, v in after_history.items() if k not in writes} == {
        k: v for k, v in before_history.items() if k not in writes
    }
    assert all(after_history.get(k, 0) <= before_history.get(k, 0) for k in writes)


def test_undecided_requests_lapse_in_the_same_pass(engine) -> None:
    pending = engine.request("U0ALICE")
    engine.clock.advance(hours=1, seconds=1)
    assert engine.service.sweep().lapsed == 1
    assert engine.stored(pending).state is State.LAPSED


@moto_only
def test_a_role_that_fails_is_reported_and_the_others_go_on(engine) -> None:
    grants = {role: engine.grant("U0ALICE", role) for role in ("ec2-admin", "db-admin", "ops")}
    engine.clock.advance(minutes=31)
    engine.faults().reject("iam.GetRole", "AccessDenied", "not allowed", times=1)
    report = engine.service.sweep()
    assert len(report.errors) == 1 and "AccessDenied" in report.errors[0]
    assert report.expired == 2
    states = {role: engine.stored(g.id).state for role, g in grants.items()}
    assert sorted(states.values()) == [State.ACTIVE, State.EXPIRED, State.EXPIRED]
    assert engine.service.sweep().expired == 1  # the next pass finishes it


def test_two_sweeps_at_once_end_each_grant_exactly_once(engine) -> None:
    grants = [
        engine.grant(u, role) for u in ("U0ALICE", "U0CAROL") for role in ("ec2-admin", "ops")
    ]
    engine.clock.advance(minutes=31)
    reports = []
    threads = [
        threading.Thread(target=lambda: reports.append(engine.service.sweep())) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.expired for r in reports) == 4
    assert all(engine.stored(g.id).state is State.EXPIRED for g in grants)
    for grant in grants:
        expired_audit = [e for e in engine.stored(grant.id).audit if e.action == "expired"]
        assert len(expired_audit) == 1


@moto_only  # it waits out a real lease: the lock's own contract is in tests/contract/
def test_a_lock_left_by_a_dead_process_lapses_and_the_next_sweep_converges(engine) -> None:
    request_id = engine.request("U0ALICE")
    dead = engine.service.store.lock(f"role:{role_arn(EC2)}", lease_seconds=1)
    dead.__enter__()  # a process that died holding the role's lock never lets go
    engine.service.writer.wait_seconds = 0.2
    assert engine.service.approve(request_id, "U0BOB").state is State.APPROVED
    assert engine.trust_sids() == ["EC2Service"]
    engine.service.writer.wait_seconds = 5  # the sweep waits until the dead lease runs out
    report = engine.service.sweep()
    assert report.granted == 1 and report.errors == []
    assert engine.stored(request_id).state is State.ACTIVE
    assert engine.trusted_names() == ["alice"]


# -- drift --------------------------------------------------------------------------------------
_PLAIN_RECORD = frozenset(logging.makeLogRecord({}).__dict__)


class Recorded(logging.Handler):
    """Records the lines of the logger telemetry writes events to."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # The event's name is the message; its fields ride on the record (telemetry's extra).
        fields = {k: v for k, v in record.__dict__.items() if k not in _PLAIN_RECORD}
        self.lines.append(f"{record.getMessage()} {fields}")


def test_a_managed_statement_with_no_active_grant_is_removed_and_logged(engine) -> None:
    engine.grant("U0CAROL")
    foreign = {
        "Sid": "Ops",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "sts:AssumeRole",
    }
    tag = engine.service.writer.tag
    stray = {
        "Sid": f"Switchback{tag}A20991231000000",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/mallory"},
        "Action": "sts:AssumeRole",
    }
    break_glass = {  # hand-written: not this deployment's Sid, so never touched
        "Sid": "SwitchbackBreakGlassAdmins",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/mallory"},
        "Action": "sts:AssumeRole",
    }
    trust = engine.trust()
    engine.set_trust(dict(trust, Statement=trust["Statement"] + [foreign, stray, break_glass]))
    recorded = Recorded()
    telemetry.logger().addHandler(recorded)
    try:
        report = engine.service.sweep()
    finally:
        telemetry.logger().removeHandler(recorded)
    assert stray["Sid"] not in engine.trust_sids()
    assert engine.trust()["Statement"] == [trust["Statement"][0], foreign, break_glass] + [
        trust["Statement"][1]
    ]
    assert any("mallory" in d for d in report.drift)
    assert any(line.startswith("drift.repaired") and "mallory" in line for line in recorded.lines)
    # mallory's sessions, if any were taken meanwhile, are cut
    assert not alive(engine, "mallory", engine.clock.now, engine.clock.now)


def test_a_missing_statement_of_an_active_grant_is_written_again(engine) -> None:
    request = engine.grant("U0ALICE")
    engine.set_trust({"Version": "2012-10-17", "Statement": [engine.trust()["Statement"][0]]})
    report = engine.service.sweep()
    assert engine.trusted_names() == ["alice"]
    assert any("wrote the missing trust" in d for d in report.drift)
    assert engine.stored(request.id).state is State.ACTIVE


def test_a_missing_statement_that_cannot_be_written_again_fails_loudly(engine) -> None:
    request = engine.grant("U0ALICE")
    big = {
        "Sid": "Padding",
        "Effect": "Deny",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": "x" * 1800}},
    }
    engine.set_trust({"Version": "2012-10-17", "Statement": [big]})
    report = engine.service.sweep()
    failed = engine.stored(request.id)
    assert failed.state is State.FAILED and "statement was missing" in failed.failure
    assert report.failed == 1
    engine.service.flush(5)
    assert any("could not be granted" in t for t in engine.texts("/response/U0ALICE"))


def test_a_deleted_users_unique_id_is_dropped_and_the_grant_failed(engine) -> None:
    alice = engine.grant("U0ALICE")
    carol = engine.grant("U0CAROL")
    trust = engine.trust()
    alice_arn = f"arn:aws:iam::{ACCOUNT}:user/alice"
    for statement in trust["Statement"]:  # what IAM shows once the user is deleted
        principals = statement["Principal"].get("AWS")
        if isinstance(principals, list) and alice_arn in principals:
            principals[principals.index(alice_arn)] = "AIDAJQABLZS4A3QDU576Q"
        elif principals == alice_arn:
            statement["Principal"]["AWS"] = "AIDAJQABLZS4A3QDU576Q"
    engine.set_trust(trust)
    issued = engine.clock.now
    engine.clock.advance(minutes=1)
    engine.service.sweep()
    assert engine.trusted_names() == ["carol"]
    failed = engine.stored(alice.id)
    assert failed.state is State.FAILED and "user was deleted" in failed.failure
    assert not alive(engine, "alice", issued, engine.clock.now + timedelta(seconds=1))
    assert alive(engine, "carol", issued, carol.ends() - timedelta(seconds=1))


@moto_only
def test_a_deleted_role_fails_its_grants_with_the_reason(engine) -> None:
    request = engine.grant("U0ALICE", "ops")
    engine.iam.delete_role_policy(RoleName="OPS", PolicyName=engine.service.writer.limits_policy)
    engine.iam.delete_role(RoleName="OPS")
    assert engine.iam_changed("DeleteRole", "ops") == role_arn("ops")
    report = engine.service.sweep()
    failed = engine.stored(request.id)
    assert failed.state is State.FAILED
    assert failed.failure == f"the IAM role {role_arn('ops')} no longer exists"
    assert any("OPS: the role does not exist" in e for e in report.errors)
    assert engine.stored(engine.grant("U0CAROL").id).state is State.ACTIVE  # others go on


# -- quota ----------------------------------------------------------------------------------------
@moto_only
def test_a_grant_that_would_overflow_the_trust_quota_fails_clearly_and_writes_nothing(
    engine,
) -> None:
    quota = engine.iam.get_account_summary()["SummaryMap"]["AssumeRolePolicySizeQuota"]
    assert quota == 2048
    padding = {
        "Sid": "Partner",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": "p" * 1700}},
    }
    engine.set_trust({"Version": "2012-10-17", "Statement": [padding]})
    before = engine.trust()
    counter = engine.counter()
    request = engine.grant("U0ALICE")
    assert request.state is State.FAILED
    assert "2048-character limit" in request.failure
    assert engine.trust() == before and engine.limits() is None
    assert counter.of("iam").get("UpdateAssumeRolePolicy", 0) == 0
    assert counter.of("iam").get("PutRolePolicy", 0) == 0
    engine.service.flush(5)
    [told] = [t for t in engine.texts("/response/U0ALICE") if "could not be granted" in t]
    assert "2048-character limit" in told
    assert any("failed" in t and "2048" in t for t in engine.texts("/webhook/approvers"))


@moto_only
def test_iam_refusing_the_session_limit_fails_the_grant_and_takes_its_trust_back(engine) -> None:
    engine.faults().reject(
        "iam.PutRolePolicy", "LimitExceeded", "Maximum policy size of 10240 bytes exceeded"
    )
    request = engine.grant("U0ALICE")
    assert request.state is State.FAILED and "10240" in request.failure
    assert engine.trust_sids() == ["EC2Service"] and engine.limits() is None


# -- requester hand-off ---------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["ec2-admin", "db-admin"])
def test_the_granted_message_hands_over_a_session_name_the_trust_accepts(engine, role) -> None:
    request = engine.grant("U0ALICE", role)
    engine.service.flush(5)
    [text] = [t for t in engine.texts("/response/U0ALICE") if "granted" in t]
    [statement] = engine.trust(role)["Statement"][1:]
    assert statement["Condition"]["StringEquals"]["sts:RoleSessionName"] == SESSION_NAME_PIN
    cli = re.search(r"--role-session-name ([\w+=,.@-]+)", text).group(1)
    profile = re.search(r"role_session_name = ([\w+=,.@-]+)", text).group(1)
    assert cli == profile == "alice"
    # IAM resolves the pin to the caller's user name: that session name, and only it, works
    arn = f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert can_assume(engine.trust(role), arn, cli, engine.clock.now, mfa=True)
    assert not can_assume(engine.trust(role), arn, "bob", engine.clock.now, mfa=True)
    assert f"--role-arn {role_arn(role)}" in text
    assert f"role_arn = {role_arn(role)}" in text
    assert f"roleName={role_arn(role).rsplit('/', 1)[1]}" in text and "displayName=" in text
    assert ("--serial-number" in text) == (role == "db-admin")
    assert ("mfa_serial" in text) == (role == "db-admin")
    assert iso(request.ends()) in text
