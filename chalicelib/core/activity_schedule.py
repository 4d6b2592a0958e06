"""When activity reports are owed, and the settings that say where and when to read.

Pure: a report is due ``delay`` (``SWITCHBACK_ACTIVITY_DELAY``, CloudTrail's delivery lag) after
the grant ends; a break-glass grant also gets one for each hour while active. The regions read
are the role's ``activity_regions``, else the deployment's region and us-east-1. The report
itself is built in chalicelib/core/activity.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.core.catalog import RoleSpec
from chalicelib.core.model import AccessRequest, State, parse_iso

DEFAULT_DELAY = timedelta(seconds=900)  # SWITCHBACK_ACTIVITY_DELAY: CloudTrail's delivery lag
BREAK_GLASS_EVERY = timedelta(hours=1)  # a break-glass grant is reported on while active
WINDOW_SLACK = timedelta(minutes=5)  # read this much before and after the window (clock skew)
GLOBAL_REGION = "us-east-1"  # where CloudTrail records global services (IAM, STS's global endpoint)


class ActivityError(ValueError):
    """A setting for activity reports is wrong (the message names it)."""


def parse_delay(text: str | None) -> timedelta:
    """``SWITCHBACK_ACTIVITY_DELAY`` (whole seconds, 0 or more); unset or empty: 900."""
    if text is None or not text.strip():
        return DEFAULT_DELAY
    try:
        seconds = int(text.strip())
    except ValueError:
        seconds = -1
    if seconds < 0:
        raise ActivityError(
            f"SWITCHBACK_ACTIVITY_DELAY must be whole seconds (e.g. 900), not {text!r}"
        )
    return timedelta(seconds=seconds)


def default_regions(home_region: str) -> tuple[str, ...]:
    """The deployment's region, and us-east-1 where global services' calls are recorded."""
    return tuple(dict.fromkeys(r for r in (home_region, GLOBAL_REGION) if r))


def regions_for(role: RoleSpec | None, home_region: str) -> tuple[str, ...]:
    """The regions to read for ``role``: its ``activity_regions``, else the default."""
    listed = role.activity_regions if role is not None else None
    return tuple(listed) if listed else default_regions(home_region)


# -- the schedule ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportWindow:
    """One report owed for a grant: the time it covers, and when it may be produced."""

    start: datetime  # the first moment read (the grant's start, less the slack)
    end: datetime  # the last moment read (the slice's or grant's end, plus the slack)
    due_at: datetime  # end of what it covers + the delay: CloudTrail has it by then
    final: bool  # the report of the whole grant (False: a break-glass grant's hourly one)
    sequence: int  # hourly reports already made before this one (0 for most grants)


def grant_span(grant: AccessRequest) -> tuple[datetime, datetime] | None:
    """When the grant was in force: from its ACTIVE transition to its end (``ends_at``, or the
    revoke or failure that ended it sooner). None if it never became ACTIVE."""
    active = next((e for e in grant.audit if e.state is State.ACTIVE), None)
    if active is None or not grant.ends_at:
        return None
    start = parse_iso(active.at)
    end = grant.ends()
    if grant.state in (State.REVOKED, State.FAILED, State.EXPIRED):
        closed = next(
            (e for e in grant.audit if e.state is grant.state and parse_iso(e.at) >= start), None
        )
        if closed is not None:
            end = min(end, parse_iso(closed.at))
    return start, max(start, end)


def next_report(
    grant: AccessRequest,
    delay: timedelta = DEFAULT_DELAY,
    reported: int = 0,
    role: RoleSpec | None = None,
) -> ReportWindow | None:
    """The next report owed for ``grant``, given ``reported`` hourly (break-glass) reports
    already made; None when none is owed (never active, or the role opted out)."""
    if role is not None and not role.activity_report:
        return None
    span = grant_span(grant)
    if span is None:
        return None
    start, end = span
    if grant.break_glass and grant.state is State.ACTIVE:
        boundary = start + BREAK_GLASS_EVERY * (reported + 1)
        if boundary < end:
            slice_start = start + BREAK_GLASS_EVERY * reported
            return ReportWindow(
                start=slice_start - WINDOW_SLACK,
                end=boundary + WINDOW_SLACK,
                due_at=boundary + delay,
                final=False,
                sequence=reported,
            )
    return ReportWindow(
        start=start - WINDOW_SLACK,
        end=end + WINDOW_SLACK,
        due_at=end + delay,
        final=True,
        sequence=reported,
    )


def report_due(
    grant: AccessRequest,
    now: datetime,
    delay: timedelta = DEFAULT_DELAY,
    reported: int = 0,
    role: RoleSpec | None = None,
) -> ReportWindow | None:
    """The report to produce now, or None (none owed, or not yet: CloudTrail lags)."""
    # Worked out from the grant as it is now: an extension that moved ends_at moves it too.
    window = next_report(grant, delay, reported, role)
    if window is None or now < window.due_at:
        return None
    return window
