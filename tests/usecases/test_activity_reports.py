"""Activity reports, owed like messages: recorded when a grant starts or ends, produced by the
sweep once CloudTrail has caught up, retried on throttling and errors, sent through the outbox,
kept for the page and the CLI."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

import pytest

from chalicelib import telemetry
from chalicelib.core import events
from chalicelib.core.activity import Lookup
from chalicelib.core.activity_schedule import DEFAULT_DELAY
from chalicelib.core.errors import AwsRefused, AwsUnavailable
from chalicelib.core.model import State, iso
from chalicelib.notify.eventbridge import EventPublisher
from chalicelib.usecases import activity as activity_module
from testkit.cloudtrail_standin import record, session_arn
from tests.support.engine_kit import Engine, built_engine, role_arn


class Trail:
    """A CloudTrail port: the records it was given, or the failures it was told to raise."""

    home_region = "us-east-1"

    def __init__(self) -> None:
        self.records: list[dict] = []
        self.failures: list[Exception] = []
        self.asked: list[tuple[str, str, datetime, datetime]] = []

    def add(self, name: str, at: datetime, session: str = "alice", **fields) -> None:
        arn = session_arn(role_arn("ec2-admin"), session)
        body = record(arn, "ec2", name, at, role_arn=role_arn("ec2-admin"), **fields)
        self.records.append({"EventId": body["eventID"], "CloudTrailEvent": json.dumps(body)})

    def lookup(self, role, session_name, start, end, regions) -> Lookup:
        self.asked.append((role, session_name, start, end))
        if self.failures:
            raise self.failures.pop(0)
        return Lookup(events=tuple(self.records), regions=regions, calls=1)


@pytest.fixture
def engine(aws, slack, monkeypatch, tmp_path):
    with built_engine(slack, monkeypatch, tmp_path) as built:
        yield built


@pytest.fixture
def trail(engine: Engine) -> Trail:
    found = Trail()
    engine.service.context.cloudtrail = found
    return found


def owed(engine: Engine) -> list[tuple[str, str, int]]:
    return engine.service.store.records.owed_reports("9999")


def test_a_grant_owes_a_report_the_delay_after_its_end_produced_then_sent(
    engine: Engine, trail: Trail
) -> None:
    grant = engine.grant("U0ALICE", duration="30m")
    assert owed(engine) == [(grant.id, iso(grant.ends() + DEFAULT_DELAY), 0)]
    trail.add("RunInstances", grant.ends() - timedelta(minutes=20), resources=["i-0abc"])
    trail.add("DescribeInstances", grant.ends() - timedelta(minutes=19))
    engine.clock.advance(minutes=31)
    engine.service.sweep()  # expired; CloudTrail has not caught up yet
    assert engine.stored(grant.id).state is State.EXPIRED
    assert trail.asked == [] and engine.service.activity_report(grant.id) is None
    engine.clock.advance(minutes=15)
    report = engine.service.sweep()
    assert report.activity_reports == 1 and owed(engine) == []
    kept = engine.service.activity_report(grant.id)
    assert (kept.total, kept.write_count, kept.writes[0].action) == (2, 1, "ec2:RunInstances")
    channel = engine.texts("/webhook/approvers")
    assert any(t.startswith("Activity report: alice used ec2-admin") for t in channel)
    # The response_url is past Slack's half hour: the requester is mentioned in the channel.
    assert any("<@U0ALICE>" in t and "ec2:RunInstances" in t for t in channel)
    # Nothing more is owed: the next passes read nothing and send nothing again.
    engine.clock.advance(minutes=5)
    engine.service.sweep()
    assert len(trail.asked) == 1
    assert sum(t.startswith("Activity report") for t in engine.texts("/webhook/approvers")) == 1


def test_a_revoke_moves_the_report_forward_to_the_revoke(engine: Engine, trail: Trail) -> None:
    grant = engine.grant("U0ALICE", duration="2h")
    engine.clock.advance(minutes=10)
    engine.service.revoke(grant.id, "U0BOB")
    assert owed(engine) == [(grant.id, iso(engine.clock.now + DEFAULT_DELAY), 0)]
    engine.clock.advance(minutes=15)
    assert engine.service.sweep().activity_reports == 1
    assert engine.service.activity_report(grant.id).window_end == iso(
        engine.clock.now - timedelta(minutes=15) + timedelta(minutes=5)
    )


def test_throttling_and_refusals_keep_the_record_until_it_works(
    engine: Engine, trail: Trail, monkeypatch
) -> None:
    logged: list[tuple[str, int]] = []
    monkeypatch.setattr(
        telemetry, "event", lambda name, level=20, **f: logged.append((name, level))
    )
    grant = engine.grant("U0ALICE", duration="30m")
    trail.failures = [AwsUnavailable("throttled"), AwsRefused("cloudtrail:LookupEvents denied")]
    engine.clock.advance(minutes=46)
    first = engine.service.sweep()
    assert first.activity_reports == 0 and any("throttled" in e for e in first.errors)
    assert ("activity.retry", logging.WARNING) in logged
    second = engine.service.sweep()
    assert second.activity_reports == 0 and ("activity.refused", logging.ERROR) in logged
    assert [rid for rid, _, _ in owed(engine)] == [grant.id]
    assert engine.service.sweep().activity_reports == 1 and owed(engine) == []


def test_a_crash_after_the_grant_is_repaired_by_the_sweep(engine: Engine, trail: Trail) -> None:
    grant = engine.grant("U0ALICE", duration="30m")
    engine.service.store.records.report_made(grant.id)  # as if the process died before owing
    engine.service.sweep()
    assert owed(engine) == [(grant.id, iso(grant.ends() + DEFAULT_DELAY), 0)]


def test_a_crash_after_the_announcement_sends_nothing_twice(
    engine: Engine, trail: Trail, monkeypatch
) -> None:
    grant = engine.grant("U0ALICE", duration="30m")
    engine.clock.advance(minutes=46)
    records = engine.service.store.records
    real = records.report_made
    monkeypatch.setattr(records, "report_made", lambda rid: (_ for _ in ()).throw(OSError("died")))
    engine.service.sweep()
    monkeypatch.setattr(records, "report_made", real)
    assert [rid for rid, _, _ in owed(engine)] == [grant.id]  # still owed: produced again
    engine.service.sweep()
    assert owed(engine) == [] and len(trail.asked) == 2
    assert sum(t.startswith("Activity report") for t in engine.texts("/webhook/approvers")) == 1


def test_break_glass_is_reported_every_hour_then_whole(engine: Engine, trail: Trail) -> None:
    from chalicelib.core.commands import RequestCommand
    from chalicelib.core.durations import parse_duration

    command = RequestCommand("ec2-admin", parse_duration("3h"), "INC-9 fire")
    context = engine.service.context
    roles = dict(context.catalog.roles)
    from dataclasses import replace

    roles["ec2-admin"] = replace(
        roles["ec2-admin"],
        break_glass=True,
        break_glass_max=timedelta(hours=4),
        break_glass_requesters=("U0ALICE",),
    )
    context.catalog = replace(context.catalog, roles=roles)
    grant = engine.service.break_glass("U0ALICE", command, None)
    assert engine.stored(grant.id).state is State.ACTIVE
    engine.clock.advance(minutes=76)
    assert engine.service.sweep().activity_reports == 1
    assert engine.service.activity_report(grant.id).final is False
    assert owed(engine)[0][2] == 1  # one hourly report made; the next is owed
    engine.clock.advance(minutes=60)
    assert engine.service.sweep().activity_reports == 1


def test_a_role_that_opted_out_owes_nothing(engine: Engine, trail: Trail) -> None:
    from dataclasses import replace

    context = engine.service.context
    roles = dict(context.catalog.roles)
    roles["ec2-admin"] = replace(roles["ec2-admin"], activity_report=False)
    context.catalog = replace(context.catalog, roles=roles)
    engine.grant("U0ALICE", duration="30m")
    assert owed(engine) == []


def test_a_pass_starts_no_report_past_its_budget(engine: Engine, trail: Trail) -> None:
    first = engine.grant("U0ALICE", duration="30m")
    engine.clock.advance(seconds=1)  # alice's report falls due first: soonest is made first
    grants = [first, engine.grant("U0DAVE", duration="30m")]
    engine.clock.advance(minutes=31)
    engine.service.sweep()
    engine.clock.advance(minutes=15)
    ticks = iter([0.0, 0.0, activity_module.PASS_BUDGET_SECONDS + 1])
    reports = activity_module.ActivityReports(
        engine.service.context, engine.service.unit_of_work, monotonic=lambda: next(ticks)
    )
    assert reports.run(engine.clock.now, []) == 1
    assert [rid for rid, _, _ in owed(engine)] == [grants[1].id]


def test_the_event_carries_the_reports_detail_with_one_id_per_report(engine: Engine) -> None:
    from chalicelib.core.activity_model import ActivityReport
    from chalicelib.core.events import Event

    report = ActivityReport(
        "R1", "alice", "alice", "ec2-admin", role_arn("ec2-admin"), "a", "b", ()
    )
    grant = engine.grant("U0ALICE", duration="30m")
    event = Event(events.ACTIVITY_REPORTED, engine.clock.now, grant, report=report, once="R1-x")
    [first] = EventPublisher("bus").owes(event)
    [again] = EventPublisher("bus").owes(event)
    detail = json.loads(json.loads(first.payload)["Detail"])
    assert first.id == again.id
    assert {k: detail[k] for k in ("event", "request_id", "counts", "truncated")} == {
        "event": "access.activity_reported",
        "request_id": "R1",
        "counts": report.detail()["counts"],
        "truncated": False,
    }


def test_only_the_end_of_an_active_grant_owes_again(engine: Engine, trail: Trail) -> None:
    from chalicelib.core.events import Event

    grant = engine.grant("U0ALICE", duration="30m")
    engine.clock.advance(minutes=46)
    engine.service.sweep()
    assert owed(engine) == []  # reported
    ended = engine.stored(grant.id)
    flagged = Event(events.FLAGGED, engine.clock.now, ended)
    engine.service.activity.committed(flagged, was=ended)  # a review after the end
    assert owed(engine) == []


def test_on_demand_reads_the_grant_so_far_without_keeping_or_sending(
    engine: Engine, trail: Trail
) -> None:
    grant = engine.grant("U0ALICE", duration="30m")
    trail.add("RunInstances", engine.clock.now + timedelta(minutes=1))
    engine.clock.advance(minutes=10)
    report = engine.service.activity_on_demand(grant)
    assert (report.write_count, report.final) == (1, False)
    [(_, _, start, end)] = trail.asked
    assert end == engine.clock.now + timedelta(minutes=5)  # up to now, not the planned end
    assert engine.service.activity_report(grant.id) is None
    assert not any("Activity report" in t for t in engine.texts("/webhook/approvers"))
    pending = engine.request("U0DAVE")
    assert engine.service.activity_on_demand(engine.stored(pending)) is None
