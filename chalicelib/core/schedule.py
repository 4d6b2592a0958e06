"""Scheduled windows (pure): ``request <role> 2h at 22:00 …`` asks for a window that starts later.

* **Reading the time.** ``at 22:00``, ``at today 22:00``, ``at tomorrow 09:00`` and
  ``at 2026-12-05 22:00`` are read in the person's time zone (Slack's ``users.info`` gives it
  as an IANA name, ``tz``; the slash command itself carries none), or in UTC with a trailing
  ``UTC``. The parser takes the zone's name and ``now``; it never looks at a clock. A time the
  clocks skip (a spring-forward gap) is refused; a time they pass twice is the earlier one.
  The answer always shows the start in UTC and in the person's local time.
* **Limits.** Not in the past (a bare ``22:00`` that has passed today is refused with the
  ``tomorrow`` form, never moved silently), and at most the role's ``max_schedule_ahead``
  ahead (7 days unless the role file says otherwise).
* **Lifecycle.** The approval that reaches the quorum before the start makes the request
  SCHEDULED (core/decisions.py ``approve``). Nothing is written to IAM then. The sweep finds
  it ``START_LEAD`` before its start (``start_due``), re-checks eligibility, approvers and
  quorum (``check_start``), and makes it APPROVED; the grant engine writes it like any other
  grant. Its trust statement carries ``DateGreaterThan aws:CurrentTime <start>``
  (core/trust.py), so written up to ``START_LEAD`` early it still lets nobody in before the
  start, to the second. The requester is reminded ``REMINDER_BEFORE`` the start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.core.catalog import Catalog, RoleSpec
from chalicelib.core.decisions import Refusal, Refused, counted_approvals, may_request
from chalicelib.core.durations import format_duration
from chalicelib.core.groups import Members
from chalicelib.core.model import AccessRequest, State, iso, parse_iso, utc
from chalicelib.core.scopes import check_scope, scoped

# The sweep runs every minute: a window due within the next minute is started now, and its
# trust statement's start condition keeps it shut until the second it starts.
START_LEAD = timedelta(minutes=1)
REMINDER_BEFORE = timedelta(minutes=15)

_CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
# What looks like a time but is not one we read: 22, 10pm, 22h, 22.00, 25:00, 2026-12-5.
_TIMEISH = re.compile(r"[0-9]{1,2}(?:[:.h][0-9]{0,2})?(?:am|pm|h)?|[0-9]{1,4}[-/.][0-9].*")
_DAYS = ("today", "tomorrow")
ACCEPTED_FORMS = (
    "Start times look like `at 22:00`, `at tomorrow 09:00` or `at 2026-12-05 22:00` (24-hour "
    "clock, your Slack time zone; add `UTC` for UTC)."
)


class ScheduleError(ValueError):
    """A start time that cannot be read or used; the message is meant for the person."""


@dataclass(frozen=True)
class StartWords:
    """A start as typed after ``at``: a day (``today``, ``tomorrow``, ``2026-12-05``, or None
    for a bare time: today), a 24-hour clock time, and whether ``UTC`` followed."""

    day: str | None
    clock: str
    in_utc: bool = False

    @property
    def typed(self) -> str:
        parts = [self.day, self.clock, "UTC" if self.in_utc else None]
        return " ".join(p for p in parts if p)


@dataclass(frozen=True)
class StartRead:
    """What the words after ``at`` say: a start (``value``, from the first ``used`` words),
    nothing time-like (``value`` None, ``problem`` None: ``at`` begins the reason), or
    something time-like that is not a start we read (``problem``)."""

    value: StartWords | None
    used: int
    problem: str | None = None


def read_start(words: list[str]) -> StartRead:
    """Read the start in ``words`` (the words right after ``at``)."""
    if not words:
        return StartRead(None, 0)
    first = words[0].lower()
    day: str | None = None
    at = 0
    if first in _DAYS or _DATE.fullmatch(first):
        day, at = first, 1
    elif not (_CLOCK.fullmatch(first) or _TIMEISH.fullmatch(first)):
        return StartRead(None, 0)  # `at risk customers …`: the reason
    clock = words[at].lower() if at < len(words) else ""
    if not _CLOCK.fullmatch(clock):
        shown = " ".join(w[:20] for w in words[: at + 1])
        return StartRead(None, 0, f"`at {shown}` is not a start time. {ACCEPTED_FORMS}")
    used = at + 1
    in_utc = used < len(words) and words[used].upper() in ("UTC", "Z")
    return StartRead(StartWords(day, clock, in_utc), used + in_utc)


def zone_of(tz_name: str | None) -> ZoneInfo | None:
    """The IANA zone called ``tz_name`` (as Slack's users.info gives it), None if unknown."""
    if not tz_name:
        return None
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def resolve_start(start: StartWords, tz_name: str | None, now: datetime) -> datetime:
    """The start in UTC: ``start`` read in the zone ``tz_name`` (UTC when it says ``UTC``, or
    when the zone is unknown: the answer then shows UTC only). Raises ScheduleError for a
    date that does not exist, a local time the clocks skip, or a bare time that has passed
    today."""
    zone = UTC if start.in_utc else (zone_of(tz_name) or UTC)
    local_now = utc(now).astimezone(zone)
    if start.day is None or start.day == "today":
        day = local_now.date()
    elif start.day == "tomorrow":
        day = local_now.date() + timedelta(days=1)
    else:
        year, month, number = (int(p) for p in _DATE.fullmatch(start.day).groups())
        try:
            day = date(year, month, number)
        except ValueError:
            raise ScheduleError(f"{start.day} is not a date. {ACCEPTED_FORMS}") from None
    hour, minute = (int(p) for p in _CLOCK.fullmatch(start.clock).groups())
    wall = datetime.combine(day, time(hour, minute))
    moment = wall.replace(tzinfo=zone)  # fold=0: of a time passed twice, the earlier
    if moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
        raise ScheduleError(
            f"{wall:%Y-%m-%d %H:%M} does not exist in {_zone_name(zone)}: the clocks skip it "
            "that day. Choose another time."
        )
    found = utc(moment)
    if start.day is None and found <= utc(now):
        raise ScheduleError(
            f"{start.clock} has passed today (it is {local_now:%H:%M} in {_zone_name(zone)}). "
            f"For tomorrow, say `at tomorrow {start.clock}`."
        )
    return found


def check_schedule(role: RoleSpec, start: datetime, now: datetime) -> None:
    """A start ``role`` accepts at ``now``: not past, at most ``max_schedule_ahead`` ahead."""
    if utc(start) <= utc(now):
        raise Refused(
            Refusal.START_IN_PAST,
            f"{iso(start)} is in the past; a window can only start later. Nothing was requested.",
        )
    if utc(start) - utc(now) > role.max_schedule_ahead:
        raise Refused(
            Refusal.START_TOO_FAR,
            f"{role.name} can be scheduled at most {format_duration(role.max_schedule_ahead)} "
            f"ahead (max_schedule_ahead), and {iso(start)} is "
            f"{format_duration(utc(start) - utc(now))} away. Nothing was requested.",
        )


def local_text(moment: datetime, tz_name: str | None) -> str:
    """``2026-12-05 22:00 Europe/Berlin (21:00 UTC)``: a start in the person's time and in
    UTC, always both (UTC alone when the zone is UTC or unknown)."""
    moment = utc(moment)
    zone = zone_of(tz_name)
    in_utc = f"{moment:%Y-%m-%d %H:%M} UTC"
    if zone is None and tz_name:
        # Say so: a time typed in that zone was read as UTC (resolve_start), never silently.
        return f"{in_utc} (time zone {tz_name[:40]} unknown here: read as UTC)"
    if zone is None or tz_name in ("UTC", "Etc/UTC"):
        return in_utc
    local = moment.astimezone(zone)
    same_day = local.date() == moment.date()
    shown_utc = f"{moment:%H:%M} UTC" if same_day else in_utc
    return f"{local:%Y-%m-%d %H:%M} {tz_name} ({shown_utc})"


def _zone_name(zone) -> str:
    return "UTC" if zone is UTC else str(zone)


def with_options(
    request: AccessRequest,
    role: RoleSpec,
    scope: str | None,
    start: StartWords | None,
    tz_name: str | None,
    now: datetime,
) -> AccessRequest:
    """A new request (as the requesting use case builds it, after check_request) with the
    command's ``scope=`` and ``at`` applied: the scope's actions copied in, the start read in
    ``tz_name`` (Slack's users.info ``tz``; None: UTC) and checked against the role, and the
    approval deadline moved to the start when that is later. Raises Refused (unknown scope,
    unreadable start, past, too far ahead); nothing is stored then."""
    if scope is not None:
        request = scoped(request, check_scope(role, scope))
    if start is not None:
        try:
            begins = resolve_start(start, tz_name, now)
        except ScheduleError as error:
            raise Refused(Refusal.START_UNREADABLE, f"{error} Nothing was requested.") from None
        check_schedule(role, begins, now)
        deadline = approval_deadline(parse_iso(request.created_at), role.approval_timeout, begins)
        request = replace(request, starts_at=iso(begins), approval_deadline=iso(deadline))
    return request


def approval_deadline(created: datetime, timeout: timedelta, start: datetime | None) -> datetime:
    """When a request lapses undecided: ``timeout`` after it was made, or for a scheduled
    window, at its start if that is later (approvers have until the window begins)."""
    deadline = utc(created) + timeout
    return max(deadline, utc(start)) if start else deadline


def start_due(request: AccessRequest, now: datetime) -> bool:
    """Whether the sweep starts this SCHEDULED window now (``START_LEAD`` early at most)."""
    start = request.starts()
    return request.state is State.SCHEDULED and start is not None and start - START_LEAD <= now


def reminder_due(request: AccessRequest, now: datetime) -> bool:
    """Whether the requester is reminded now that their window starts soon: from
    ``REMINDER_BEFORE`` the start, if it was scheduled before that (otherwise the scheduled
    message said it all). The sweep sends it once (the notify port's ``once`` key:
    ``reminder_key``)."""
    start = request.starts()
    if request.state is not State.SCHEDULED or start is None:
        return False
    scheduled = scheduled_at(request)
    remind = start - REMINDER_BEFORE
    return scheduled is not None and scheduled < remind <= utc(now) < start


def reminder_key(request: AccessRequest) -> str:
    return f"start-reminder:{request.id}"


def scheduled_at(request: AccessRequest) -> datetime | None:
    """When the request became SCHEDULED (its audit trail), None if it never did."""
    for entry in reversed(request.audit):
        if entry.state is State.SCHEDULED:
            return datetime.strptime(entry.at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return None


def check_start(
    request: AccessRequest, catalog: Catalog, members: Members, now: datetime
) -> str | None:
    """Why a SCHEDULED window may not start now, or None: eligibility, approvers and quorum
    are asked again against the policies as they are at the start, as at an approval.

    Raises GroupsUnavailable (core/groups.py) when the answer depends on a Slack user group
    Slack cannot resolve now: the sweep tries again at its next run, the window waiting."""
    role = catalog.role(request.role)
    if role is None or role.role_arn != request.role_arn:
        return f"the role {request.role} is no longer in the policies"
    person = catalog.person(request.requester)
    if person is None or person.aws != request.principal_arn:
        return "the requester is no longer in the people list with this IAM user"
    if not may_request(catalog, request.requester, role, members):
        return f"the requester may no longer request {role.name}"
    counted = counted_approvals(request, role, members)
    if len(counted) < role.approvals_required:
        return (
            f"only {len(counted)} of the {role.approvals_required} approvals {role.name} needs "
            "now are still from its approvers"
        )
    if request.duration > role.max_duration:
        return (
            f"{role.name} now allows {format_duration(role.max_duration)} at most, and this "
            f"window is {format_duration(request.duration)}"
        )
    if role.require_mfa and not request.require_mfa:
        return f"{role.name} now requires MFA, and this window was approved before that"
    if request.scope is not None:
        scope = role.scope(request.scope)
        if scope is None:
            return f"{role.name} no longer has the scope {request.scope}"
        if scope.actions != request.scope_actions:
            return f"the scope {request.scope} of {role.name} changed since it was approved"
    if request.ends() is not None and request.ends() <= utc(now):
        return "the window ended before it could start"
    return None
