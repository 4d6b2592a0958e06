"""Scheduled windows: reading `at <time>` in the person's time zone, the role's limits, the
SCHEDULED state, the re-check at the start, and — read by the independent evaluator — a trust
statement that lets nobody in before its start even when written early."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chalicelib.aws.requests import request_item
from chalicelib.core import events, trust
from chalicelib.core.catalog import Catalog, Person, RoleSpec, Scope
from chalicelib.core.commands import BadCommand, parse_command
from chalicelib.core.decisions import Refusal, Refused, approve
from chalicelib.core.model import (
    LIVE_STATES,
    AccessRequest,
    State,
    TransitionError,
    iso,
    transition,
)
from chalicelib.core.roleplan import RoleView, plan
from chalicelib.core.schedule import (
    REMINDER_BEFORE,
    START_LEAD,
    ScheduleError,
    StartWords,
    approval_deadline,
    check_schedule,
    check_start,
    local_text,
    read_start,
    reminder_due,
    reminder_key,
    resolve_start,
    start_due,
    with_options,
)
from chalicelib.core.scopes import scoped
from chalicelib.policies import PolicyError, load_catalog
from tests.support.iam_eval import can_assume

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)  # 11:00 in Berlin, 05:00 in New York
ROLE_ARN = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"
TAG = trust.deployment_tag("switchback")
ALICE = "arn:aws:iam::123456789012:user/alice"
READ_ONLY = Scope("read-only", ("ec2:Describe*",))
ROLE = RoleSpec(
    name="ec2-admin",
    role_arn=ROLE_ARN,
    description="",
    max_duration=timedelta(hours=4),
    default_duration=timedelta(hours=1),
    requesters=("*",),
    approvers=("U0BOB", "U0CAROL"),
    scopes=(READ_ONLY,),
)
CATALOG = Catalog(
    people={
        "U0ALICE": Person("U0ALICE", "alice", ALICE),
        "U0BOB": Person("U0BOB", "bob", "arn:aws:iam::123456789012:user/bob"),
        "U0CAROL": Person("U0CAROL", "carol", "arn:aws:iam::123456789012:user/carol"),
    },
    roles={"ec2-admin": ROLE},
)


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def start(text: str) -> StartWords:
    found = read_start(text.split())
    assert found.value is not None, found
    return found.value


def pending(starts: datetime | None = at(12 * 60), minutes: int = 120) -> AccessRequest:
    made = AccessRequest(
        id="R000000001",
        role="ec2-admin",
        role_arn=ROLE_ARN,
        requester="U0ALICE",
        requester_name="alice",
        principal_arn=ALICE,
        duration_seconds=minutes * 60,
        reason="CHG-9 migration",
        created_at=iso(NOW),
        approval_deadline=iso(NOW + timedelta(hours=1)),
        approvals_required=1,
        starts_at=iso(starts) if starts else None,
    )
    return transition(made, State.PENDING, "U0ALICE", "requested", NOW)


def scheduled(starts: datetime = at(12 * 60), minutes: int = 120) -> AccessRequest:
    return approve(pending(starts, minutes), "U0BOB", NOW, ROLE)


# -- reading the words after `at` ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("words", "expected", "used"),
    [
        ("22:00 CHG-9", StartWords(None, "22:00"), 1),
        ("9:30 x", StartWords(None, "9:30"), 1),
        ("tomorrow 09:00 x", StartWords("tomorrow", "09:00"), 2),
        ("Today 23:59", StartWords("today", "23:59"), 2),
        ("2026-12-05 22:00 UTC x", StartWords("2026-12-05", "22:00", True), 3),
    ],
)
def test_start_forms(words, expected, used):
    assert read_start(words.split()) == (read := read_start(words.split()))
    assert (read.value, read.used, read.problem) == (expected, used, None)


@pytest.mark.parametrize("words", ["risk customers", "the standup", "", "noon"])
def test_at_before_a_word_is_the_reason(words):
    found = read_start(words.split())
    assert (found.value, found.problem) == (None, None)


@pytest.mark.parametrize(
    "words", ["10pm", "22", "25:00", "22h", "tomorrow", "tomorrow noon", "2026-12-05", "12/05"]
)
def test_time_like_words_that_are_no_start_are_refused(words):
    found = read_start(words.split())
    assert found.value is None and "is not a start time" in found.problem


def test_the_command_carries_the_start_and_refuses_one_for_break_glass():
    command = parse_command("request ec2-admin 2h at tomorrow 22:00 scope=read-only CHG-9 x")
    assert command.start == StartWords("tomorrow", "22:00")
    assert (command.scope, command.reason) == ("read-only", "CHG-9 x")
    assert parse_command("request ec2-admin at risk: db").reason == "at risk: db"
    refused = parse_command("breakglass ec2-admin at 22:00 INC-1")
    assert isinstance(refused, BadCommand) and "cannot be scheduled" in refused.problem
    assert isinstance(parse_command("request ec2-admin 2h at 10pm x"), BadCommand)


# -- in the person's time zone -----------------------------------------------------------------
def test_a_bare_time_is_today_in_the_persons_zone():
    assert resolve_start(start("22:00"), "Europe/Berlin", NOW) == datetime(
        2026, 11, 28, 21, 0, tzinfo=UTC
    )
    assert resolve_start(start("22:00"), "America/New_York", NOW) == datetime(
        2026, 11, 29, 3, 0, tzinfo=UTC
    )


def test_a_bare_time_that_has_passed_today_is_refused_with_the_tomorrow_form():
    with pytest.raises(ScheduleError) as caught:
        resolve_start(start("09:00"), "Europe/Berlin", NOW)
    assert str(caught.value) == (
        "09:00 has passed today (it is 11:00 in Europe/Berlin). "
        "For tomorrow, say `at tomorrow 09:00`."
    )


def test_tomorrow_a_date_and_utc():
    assert resolve_start(start("tomorrow 09:00"), "Europe/Berlin", NOW) == datetime(
        2026, 11, 29, 8, 0, tzinfo=UTC
    )
    assert resolve_start(start("2026-12-05 22:00"), "Asia/Kolkata", NOW) == datetime(
        2026, 12, 5, 16, 30, tzinfo=UTC
    )
    assert resolve_start(start("2026-12-05 22:00 UTC"), "Asia/Kolkata", NOW) == datetime(
        2026, 12, 5, 22, 0, tzinfo=UTC
    )


def test_an_unknown_or_missing_zone_reads_utc():
    for zone in (None, "", "Mars/Olympus_Mons", "../etc/passwd"):
        assert resolve_start(start("22:00"), zone, NOW) == datetime(2026, 11, 28, 22, 0, tzinfo=UTC)


def test_a_time_the_clocks_skip_is_refused_and_one_they_pass_twice_is_the_earlier():
    spring = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    with pytest.raises(ScheduleError, match="does not exist in Europe/Berlin"):
        resolve_start(start("tomorrow 02:30"), "Europe/Berlin", spring)
    autumn = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)
    assert resolve_start(start("tomorrow 02:30"), "Europe/Berlin", autumn) == datetime(
        2026,
        10,
        25,
        0,
        30,
        tzinfo=UTC,  # 02:30 CEST, the first of the two
    )


def test_a_date_that_does_not_exist_is_refused():
    with pytest.raises(ScheduleError, match="2026-02-30 is not a date"):
        resolve_start(start("2026-02-30 10:00"), "UTC", NOW)


def test_the_start_is_shown_in_local_time_and_utc():
    moment = datetime(2026, 12, 5, 21, 0, tzinfo=UTC)
    assert local_text(moment, "Europe/Berlin") == "2026-12-05 22:00 Europe/Berlin (21:00 UTC)"
    assert local_text(moment, "Asia/Tokyo") == (
        "2026-12-06 06:00 Asia/Tokyo (2026-12-05 21:00 UTC)"
    )
    assert local_text(moment, None) == local_text(moment, "UTC") == "2026-12-05 21:00 UTC"
    assert local_text(moment, "Mars/Olympus_Mons") == (
        "2026-12-05 21:00 UTC (time zone Mars/Olympus_Mons unknown here: read as UTC)"
    )


# -- the role's limits ---------------------------------------------------------------------------
def test_a_start_in_the_past_is_refused():
    with pytest.raises(Refused) as caught:
        check_schedule(ROLE, NOW, NOW)
    assert caught.value.reason is Refusal.START_IN_PAST


def test_a_start_beyond_max_schedule_ahead_is_refused_naming_the_limit():
    check_schedule(ROLE, NOW + timedelta(days=7), NOW)  # exactly the limit is fine
    with pytest.raises(Refused) as caught:
        check_schedule(ROLE, NOW + timedelta(days=7, seconds=60), NOW)
    assert caught.value.reason is Refusal.START_TOO_FAR
    assert "at most 7d ahead (max_schedule_ahead)" in str(caught.value)
    short = replace(ROLE, max_schedule_ahead=timedelta(hours=12))
    with pytest.raises(Refused, match="at most 12h ahead"):
        check_schedule(short, at(13 * 60), NOW)


PEOPLE = '[people.U0ALICE]\nname = "alice"\naws = "arn:aws:iam::123456789012:user/alice"\n'
ROLE_FILE = (
    'role_arn = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"\nmax_duration = "4h"\n'
    'requesters = ["*"]\napprovers = ["U0ALICE"]\napprovals_required = 1\n'
)


def load(tmp_path: Path, extra: str):
    (tmp_path / "people.toml").write_text(PEOPLE)
    (tmp_path / "roles").mkdir(exist_ok=True)
    (tmp_path / "roles" / "ec2-admin.toml").write_text(ROLE_FILE + extra)
    return load_catalog(tmp_path)


def test_max_schedule_ahead_is_read_and_bounded(tmp_path):
    assert load(tmp_path, 'max_schedule_ahead = "2d"\n').role("ec2-admin").max_schedule_ahead == (
        timedelta(days=2)
    )
    with pytest.raises(PolicyError) as caught:
        load(tmp_path, 'max_schedule_ahead = "91d"\n')
    [problem] = caught.value.problems
    assert "ec2-admin.toml: max_schedule_ahead: 91d is over 90d" in problem
    with pytest.raises(PolicyError, match="max_schedule_ahead: 'soon' is not a duration"):
        load(tmp_path, 'max_schedule_ahead = "soon"\n')


# -- the lifecycle ------------------------------------------------------------------------------
def test_approved_ahead_it_is_scheduled_with_its_end_from_its_start():
    request = scheduled()
    assert request.state is State.SCHEDULED
    assert request.ends() == at(12 * 60 + 120)
    assert request.audit[-1].detail == "scheduled to start at 2026-11-28T22:00:00Z"
    assert State.SCHEDULED in LIVE_STATES
    assert events.SCHEDULED in events.LIFECYCLE


def test_approved_after_its_start_it_is_approved_and_keeps_its_end():
    late = approve(pending(starts=NOW - timedelta(minutes=30)), "U0BOB", NOW, ROLE)
    assert late.state is State.APPROVED
    assert late.ends() == NOW + timedelta(minutes=90)


def test_a_scheduled_window_can_be_called_off_and_only_started_through_approved():
    request = scheduled()
    assert transition(request, State.CANCELLED, "U0ALICE", "cancelled", NOW).state is (
        State.CANCELLED
    )
    with pytest.raises(TransitionError):
        transition(request, State.ACTIVE, "switchback", "granted", NOW)
    with pytest.raises(TransitionError):
        transition(request, State.REVOKED, "U0BOB", "revoked", NOW)


def test_the_approvers_have_until_the_start_to_decide():
    assert approval_deadline(NOW, timedelta(hours=1), None) == at(60)
    assert approval_deadline(NOW, timedelta(hours=1), at(600)) == at(600)
    assert approval_deadline(NOW, timedelta(hours=1), at(20)) == at(60)


def test_the_sweep_starts_it_a_minute_ahead_and_reminds_before():
    request = scheduled(starts=at(60))
    assert not start_due(request, at(60) - START_LEAD - timedelta(seconds=1))
    assert start_due(request, at(60) - START_LEAD)
    assert not start_due(pending(starts=at(60)), at(60))  # not approved: nothing to start
    assert not reminder_due(request, at(60) - REMINDER_BEFORE - timedelta(seconds=1))
    assert reminder_due(request, at(60) - REMINDER_BEFORE)
    assert not reminder_due(request, at(60))
    assert reminder_key(request) == "start-reminder:R000000001"
    # Scheduled less than REMINDER_BEFORE ahead: the scheduled message said it all.
    soon = scheduled(starts=at(10))
    assert not any(reminder_due(soon, at(m)) for m in range(0, 11))


def test_the_store_indexes_a_scheduled_window_by_its_start():
    item = request_item(scheduled())
    assert (item["due_pk"], item["due_at"]) == ("STATE#SCHEDULED", "2026-11-28T22:00:00Z")
    assert item["live_sk"].startswith("SCHEDULED#")


def test_published_events_carry_the_start():
    request = scheduled()
    body = events.published_detail(events.Event(events.SCHEDULED, NOW, request), "x", "id")
    assert (body["event"], body["state"], body["starts_at"]) == (
        "x",
        "SCHEDULED",
        "2026-11-28T22:00:00Z",
    )


# -- the re-check at the start -----------------------------------------------------------------
def test_at_the_start_an_eligible_window_may_start():
    assert check_start(scheduled(), CATALOG, lambda group: set(), at(12 * 60)) is None


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda c: replace(c, roles={}), "no longer in the policies"),
        (
            lambda c: replace(c, people={k: v for k, v in c.people.items() if k != "U0ALICE"}),
            "no longer in the people list",
        ),
        (
            lambda c: replace(c, roles={"ec2-admin": replace(ROLE, requesters=("U0CAROL",))}),
            "may no longer request ec2-admin",
        ),
        (
            lambda c: replace(c, roles={"ec2-admin": replace(ROLE, approvers=("U0CAROL",))}),
            "only 0 of the 1 approvals",
        ),
        (
            lambda c: replace(c, roles={"ec2-admin": replace(ROLE, approvals_required=2)}),
            "only 1 of the 2 approvals",
        ),
        (
            lambda c: replace(
                c, roles={"ec2-admin": replace(ROLE, max_duration=timedelta(hours=1))}
            ),
            "allows 1h at most",
        ),
        (
            lambda c: replace(c, roles={"ec2-admin": replace(ROLE, require_mfa=True)}),
            "now requires MFA",
        ),
    ],
)
def test_at_the_start_eligibility_approvers_and_quorum_are_asked_again(change, why):
    reason = check_start(scheduled(), change(CATALOG), lambda group: set(), at(12 * 60))
    assert reason is not None and why in reason


def test_at_the_start_a_removed_or_changed_scope_stops_it():
    request = scoped(scheduled(), READ_ONLY)
    assert check_start(request, CATALOG, lambda group: set(), at(12 * 60)) is None
    gone = replace(CATALOG, roles={"ec2-admin": replace(ROLE, scopes=())})
    assert "no longer has the scope read-only" in check_start(request, gone, None, at(720))
    wider = replace(ROLE, scopes=(Scope("read-only", ("ec2:*",)),))
    changed = replace(CATALOG, roles={"ec2-admin": wider})
    assert "changed since it was approved" in check_start(request, changed, None, at(720))


def test_a_window_already_over_does_not_start():
    reason = check_start(scheduled(minutes=60), CATALOG, None, at(12 * 60 + 60))
    assert reason == "the window ended before it could start"


# -- what the grant writes, read by the evaluator ----------------------------------------------
EC2 = {
    "Sid": "EC2Service",
    "Effect": "Allow",
    "Principal": {"Service": "ec2.amazonaws.com"},
    "Action": "sts:AssumeRole",
}
BASELINE = {"Version": "2012-10-17", "Statement": [EC2]}


def view(policy=None, planned=None) -> RoleView:
    """The role as IAM holds it: the baseline, or what ``planned`` wrote (``policy`` for
    the trust policy when given)."""
    limits = planned.limits if planned else None
    ledger = planned.ledger if planned else {}
    trust_policy = policy or (planned.trust if planned else BASELINE)
    return RoleView(ROLE_ARN, "AROAEXAMPLE", trust_policy, limits, timedelta(hours=1), ledger, TAG)


def started(request: AccessRequest) -> AccessRequest:
    """What the sweep does at the start, once check_start said yes."""
    return transition(request, State.APPROVED, "switchback", "started", NOW)


def test_a_plan_never_writes_a_window_more_than_a_minute_before_its_start():
    request = started(scheduled(starts=at(60)))
    early = plan(view(), [request], at(60) - START_LEAD - timedelta(seconds=1), 2048)
    assert (early.activate, early.fail, early.added) == ((), (), ())
    assert early.trust == view().trust and early.limits is None
    # A SCHEDULED request handed to a plan by mistake is not written either.
    assert plan(view(), [scheduled(starts=at(60))], at(60), 2048).activate == ()


def test_written_early_the_trust_lets_nobody_in_before_the_start():
    request = started(scheduled(starts=at(60)))
    written = at(60) - START_LEAD
    planned = plan(view(), [request], written, 2048)
    assert [r.id for r in planned.activate] == ["R000000001"]
    [_, statement] = planned.trust["Statement"]
    assert statement["Sid"] == f"Switchback{TAG}A20261128130000S20261128110000"
    assert statement["Condition"]["DateGreaterThan"] == {"aws:CurrentTime": "2026-11-28T11:00:00Z"}
    assert trust.is_ours(statement, TAG) and trust.sid_start(statement) == at(60)
    assert not can_assume(planned.trust, ALICE, "alice", written)
    assert not can_assume(planned.trust, ALICE, "alice", at(60))  # DateGreaterThan: after
    assert can_assume(planned.trust, ALICE, "alice", at(60) + timedelta(seconds=1))
    assert not can_assume(planned.trust, ALICE, "alice", at(180))  # its end
    # A step before the start keeps it as it is, and reports no drift.
    active = transition(request, State.ACTIVE, "switchback", "granted", written)
    again = plan(view(planned=planned), [active], at(59), 2048)
    assert again.trust == planned.trust and again.drift == ()


def test_once_started_the_holder_joins_the_shared_statements():
    request = started(scheduled(starts=at(60)))
    first = plan(view(), [request], at(59), 2048)
    active = transition(request, State.ACTIVE, "switchback", "granted", at(59))
    bob = replace(active, id="R000000002", principal_arn="arn:aws:iam::123456789012:user/bob")
    bob = replace(bob, starts_at=None)
    later = plan(view(planned=first), [active, bob], at(61), 2048)
    [_, statement] = later.trust["Statement"]
    assert "DateGreaterThan" not in statement["Condition"]
    assert trust.sid_start(statement) is None
    assert can_assume(later.trust, ALICE, "alice", at(62))


def test_a_hand_edit_removing_the_start_condition_is_repaired():
    request = started(scheduled(starts=at(60)))
    planned = plan(view(), [request], at(59), 2048)
    active = transition(request, State.ACTIVE, "switchback", "granted", at(59))
    [_, statement] = planned.trust["Statement"]
    edited = {**statement, "Condition": dict(statement["Condition"])}
    del edited["Condition"]["DateGreaterThan"]
    tampered = view({"Statement": [EC2, edited]}, planned)
    repaired = plan(tampered, [active], at(59), 2048)
    assert any("conditions or action were changed" in d for d in repaired.drift)
    assert not can_assume(repaired.trust, ALICE, "alice", at(59) + timedelta(seconds=30))


# -- the requesting use case's one call --------------------------------------------------------
def test_with_options_applies_scope_and_start_and_moves_the_deadline():
    made = pending(starts=None)
    shaped = with_options(made, ROLE, "read-only", start("tomorrow 09:00"), "Europe/Berlin", NOW)
    assert (shaped.scope, shaped.scope_actions) == ("read-only", ("ec2:Describe*",))
    assert shaped.starts_at == "2026-11-29T08:00:00Z"
    assert shaped.approval_deadline == "2026-11-29T08:00:00Z"
    assert with_options(made, ROLE, None, None, None, NOW) == made


@pytest.mark.parametrize(
    ("scope", "words", "reason"),
    [
        ("write-all", None, Refusal.UNKNOWN_SCOPE),
        (None, "09:00", Refusal.START_UNREADABLE),
        (None, "2026-11-01 09:00", Refusal.START_IN_PAST),
        (None, "2026-12-24 09:00", Refusal.START_TOO_FAR),
    ],
)
def test_with_options_refuses_what_cannot_be_asked(scope, words, reason):
    with pytest.raises(Refused) as caught:
        with_options(pending(starts=None), ROLE, scope, words and start(words), "UTC", NOW)
    assert caught.value.reason is reason
    assert str(caught.value).endswith("Nothing was requested.") or reason is Refusal.UNKNOWN_SCOPE
