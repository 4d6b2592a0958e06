"""What a person did with a grant: the activity report, built from CloudTrail's event records.

Pure: the records come in as CloudTrail's LookupEvents returns them (each with its
``CloudTrailEvent`` JSON string), the grant and the clock are passed in, and nothing here reads
AWS. The adapter that fetches the records is chalicelib/aws/cloudtrail.py.

Only the granted role's sessions count. Switchback pins the session name to the person's IAM
user name, so a lookup by that name also returns what the same name did elsewhere (the IAM
user's own calls, sessions of other roles, a namesake in another account): those are left out,
and counted as ``not_counted``. What stays is every call made as
``arn:aws:sts::<account>:assumed-role/<role name>/<session name>`` (IAM names compared without
regard to case, as IAM does) and the ``sts:AssumeRole`` into the role under that session name
(the person taking the role up: a sign-in).

The schedule is pure too: a report is due ``delay`` (``SWITCHBACK_ACTIVITY_DELAY``, CloudTrail's
delivery lag) after the grant ends; a break-glass grant also gets one for each hour while active.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from chalicelib.core.catalog import RoleSpec
from chalicelib.core.model import AccessRequest, State, iso, parse_iso, utc

DEFAULT_DELAY = timedelta(seconds=900)  # SWITCHBACK_ACTIVITY_DELAY: CloudTrail's delivery lag
BREAK_GLASS_EVERY = timedelta(hours=1)  # a break-glass grant is reported on while active
WINDOW_SLACK = timedelta(minutes=5)  # read this much before and after the window (clock skew)
EVENT_CAP = 5000  # events read for one report at most; beyond, the report says it is truncated
RESOURCES_SHOWN = 3  # resource names kept per action
GLOBAL_REGION = "us-east-1"  # where CloudTrail records global services (IAM, STS's global endpoint)

# errorCode values that mean "not allowed" (services spell it differently).
_DENIED_MARKS = ("accessdenied", "unauthorized", "forbidden")
_SIGNIN_SOURCE = "signin.amazonaws.com"
_STS_SOURCE = "sts.amazonaws.com"
# Names of read-only calls, when a record does not say (``readOnly`` missing).
_READ_PREFIXES = ("Get", "List", "Describe", "Head", "Lookup", "Search")


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


# -- the report -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ActionCount:
    """Calls of one ``service:Action``: how many, the first few resources, the error codes."""

    action: str
    count: int
    resources: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()  # errorCode values seen (denied and failed calls)

    def to_dict(self) -> dict:
        found = {"action": self.action, "count": self.count}
        if self.resources:
            found["resources"] = list(self.resources)
        if self.errors:
            found["errors"] = list(self.errors)
        return found

    @classmethod
    def from_dict(cls, data: dict) -> ActionCount:
        return cls(
            action=data["action"],
            count=int(data["count"]),
            resources=tuple(data.get("resources", ())),
            errors=tuple(data.get("errors", ())),
        )


@dataclass(frozen=True)
class SignIn:
    """The person taking the role up: an AssumeRole into it, or a console sign-in event."""

    at: str
    kind: str  # AssumeRole, SwitchRole, ConsoleLogin, GetSigninToken…
    region: str
    error: str = ""  # errorCode, or the console's "Failure"; empty when it worked
    source_ip: str = ""

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v}

    @classmethod
    def from_dict(cls, data: dict) -> SignIn:
        return cls(**{k: data.get(k, "") for k in ("at", "kind", "region", "error", "source_ip")})


@dataclass(frozen=True)
class ChainAttempt:
    """The granted session asking STS for another role (role chaining)."""

    at: str
    action: str  # sts:AssumeRole, sts:AssumeRoleWithSAML…
    target: str  # the role ARN it asked for
    error: str = ""

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v}

    @classmethod
    def from_dict(cls, data: dict) -> ChainAttempt:
        return cls(**{k: data.get(k, "") for k in ("at", "action", "target", "error")})


@dataclass(frozen=True)
class ActivityReport:
    request_id: str
    person: str  # the requester's name, as the policies give it
    session_name: str
    role: str  # policy name (ec2-admin)
    role_arn: str
    window_start: str  # what was read, ISO UTC
    window_end: str
    regions_read: tuple[str, ...]
    total: int = 0  # every call of the granted role's sessions in the window
    read_only: int = 0  # read-only calls that worked (counted, not listed)
    writes: tuple[ActionCount, ...] = ()  # calls that changed something, by action
    denied: tuple[ActionCount, ...] = ()  # AccessDenied and the like, by action
    errors: tuple[ActionCount, ...] = ()  # other failed calls, by action
    sign_ins: tuple[SignIn, ...] = ()
    chaining: tuple[ChainAttempt, ...] = ()
    regions: tuple[tuple[str, int], ...] = ()  # region -> calls, busiest first
    first_call: str | None = None
    last_call: str | None = None
    truncated: bool = False  # the event cap was reached: there is more than this
    not_counted: int = 0  # read, but not this grant's session (other roles, other people)
    final: bool = True  # False: an hourly report of a break-glass grant still active
    produced_at: str = ""

    @property
    def write_count(self) -> int:
        return sum(a.count for a in self.writes)

    @property
    def denied_count(self) -> int:
        return sum(a.count for a in self.denied)

    @property
    def error_count(self) -> int:
        return sum(a.count for a in self.errors)

    def to_dict(self) -> dict:
        """The report as JSON-ready data (``--json``, the event's detail, storage)."""
        return {
            "request_id": self.request_id,
            "person": self.person,
            "session_name": self.session_name,
            "role": self.role,
            "role_arn": self.role_arn,
            "window": {"start": self.window_start, "end": self.window_end},
            "regions_read": list(self.regions_read),
            "counts": {
                "calls": self.total,
                "read_only": self.read_only,
                "writes": self.write_count,
                "denied": self.denied_count,
                "errors": self.error_count,
                "sign_ins": len(self.sign_ins),
                "role_chaining": len(self.chaining),
                "not_counted": self.not_counted,
            },
            "write_actions": [a.to_dict() for a in self.writes],
            "denied_actions": [a.to_dict() for a in self.denied],
            "error_actions": [a.to_dict() for a in self.errors],
            "sign_ins": [s.to_dict() for s in self.sign_ins],
            "role_chaining": [c.to_dict() for c in self.chaining],
            "regions": dict(self.regions),
            "first_call": self.first_call,
            "last_call": self.last_call,
            "truncated": self.truncated,
            "final": self.final,
            "produced_at": self.produced_at,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ActivityReport:
        counts = data.get("counts", {})
        return cls(
            request_id=data["request_id"],
            person=data["person"],
            session_name=data["session_name"],
            role=data["role"],
            role_arn=data["role_arn"],
            window_start=data["window"]["start"],
            window_end=data["window"]["end"],
            regions_read=tuple(data.get("regions_read", ())),
            total=int(counts.get("calls", 0)),
            read_only=int(counts.get("read_only", 0)),
            writes=tuple(ActionCount.from_dict(a) for a in data.get("write_actions", ())),
            denied=tuple(ActionCount.from_dict(a) for a in data.get("denied_actions", ())),
            errors=tuple(ActionCount.from_dict(a) for a in data.get("error_actions", ())),
            sign_ins=tuple(SignIn.from_dict(s) for s in data.get("sign_ins", ())),
            chaining=tuple(ChainAttempt.from_dict(c) for c in data.get("role_chaining", ())),
            regions=tuple((r, int(n)) for r, n in data.get("regions", {}).items()),
            first_call=data.get("first_call"),
            last_call=data.get("last_call"),
            truncated=bool(data.get("truncated", False)),
            not_counted=int(counts.get("not_counted", 0)),
            final=bool(data.get("final", True)),
            produced_at=data.get("produced_at", ""),
        )

    def detail(self) -> dict:
        """What the ``access.activity_reported`` event carries: counts, write and denied
        actions, and whether the report is truncated."""
        found = self.to_dict()
        keep = ("request_id", "role", "role_arn", "window", "counts", "truncated", "final")
        return {
            **{k: found[k] for k in keep},
            "write_actions": found["write_actions"],
            "denied_actions": found["denied_actions"],
        }


@dataclass(frozen=True)
class Subject:
    """Whose calls count: one person's sessions of one role, in one account."""

    session_name: str
    role_arn: str

    @property
    def account(self) -> str:
        return self.role_arn.split(":")[4]

    @property
    def role_name(self) -> str:
        return self.role_arn.rsplit("/", 1)[1]

    def is_session(self, arn: object) -> bool:
        """``arn`` is an ``assumed-role/<role>/<session>`` ARN of this role and session."""
        if not isinstance(arn, str):
            return False
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[2] != "sts" or parts[4] != self.account:
            return False
        kind, _, rest = parts[5].partition("/")
        role, _, session = rest.partition("/")
        return (
            kind == "assumed-role"
            and role.lower() == self.role_name.lower()
            and session.lower() == self.session_name.lower()
        )

    def is_this_role(self, arn: object) -> bool:
        """``arn`` names this role (any path; the name compared as IAM does, without case)."""
        if not isinstance(arn, str):
            return False
        parts = arn.split(":", 5)
        return (
            len(parts) == 6
            and parts[2] == "iam"
            and parts[4] == self.account
            and parts[5].startswith("role/")
            and parts[5].rsplit("/", 1)[1].lower() == self.role_name.lower()
        )


def _record(event: dict) -> dict | None:
    raw = event.get("CloudTrailEvent")
    if isinstance(raw, dict):
        return raw
    try:
        record = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _at(event: dict, record: dict) -> datetime | None:
    text = record.get("eventTime")
    if isinstance(text, str):
        try:
            return parse_iso(text)
        except ValueError:
            pass
    value = event.get("EventTime")
    if isinstance(value, datetime):
        return utc(value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).replace(microsecond=0)
    return None


def _service(record: dict) -> str:
    source = record.get("eventSource")
    return source.split(".", 1)[0] if isinstance(source, str) and source else "unknown"


def _action(record: dict) -> str:
    return f"{_service(record)}:{record.get('eventName') or 'Unknown'}"


def _read_only(event: dict, record: dict) -> bool:
    flag = record.get("readOnly", event.get("ReadOnly"))
    if isinstance(flag, bool):
        return flag
    if isinstance(flag, str) and flag.lower() in ("true", "false"):
        return flag.lower() == "true"
    return str(record.get("eventName", "")).startswith(_READ_PREFIXES)


def _resources(event: dict, record: dict) -> list[str]:
    names = [
        r.get("ResourceName")
        for r in event.get("Resources") or ()
        if isinstance(r, dict) and r.get("ResourceName")
    ]
    if not names:
        names = [
            r.get("ARN")
            for r in record.get("resources") or ()
            if isinstance(r, dict) and r.get("ARN")
        ]
    return [str(n) for n in names]


def _error(record: dict) -> str:
    code = record.get("errorCode")
    if code:
        return str(code)
    # The console's sign-in events say "Failure" in responseElements instead.
    answer = record.get("responseElements")
    if isinstance(answer, dict):
        for value in answer.values():
            if value == "Failure":
                return "Failure"
    return ""


def is_denied(error_code: str) -> bool:
    lowered = error_code.lower()
    return any(mark in lowered for mark in _DENIED_MARKS)


class _Tally:
    """Counts and the first few resources (and errors) of each action, in the order seen."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.resources: dict[str, list[str]] = {}
        self.errors: dict[str, list[str]] = {}

    def add(self, action: str, resources: Iterable[str], error: str = "") -> None:
        self.counts[action] += 1
        kept = self.resources.setdefault(action, [])
        for name in resources:
            if len(kept) >= RESOURCES_SHOWN:
                break
            if name not in kept:
                kept.append(name)
        if error:
            codes = self.errors.setdefault(action, [])
            if error not in codes:
                codes.append(error)

    def rows(self) -> tuple[ActionCount, ...]:
        return tuple(
            ActionCount(
                action, count, tuple(self.resources[action]), tuple(self.errors.get(action, ()))
            )
            for action, count in sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        )


def build_report(
    events: Iterable[dict],
    grant: AccessRequest,
    window: ReportWindow,
    regions_read: Iterable[str],
    now: datetime,
    truncated: bool = False,
) -> ActivityReport:
    """The activity report of ``grant`` from LookupEvents ``events`` (any order, any region),
    counting only the granted role's sessions within ``window``."""
    subject = Subject(grant.session_name, grant.role_arn)
    writes, denied, failed = _Tally(), _Tally(), _Tally()
    sign_ins: list[SignIn] = []
    chaining: list[ChainAttempt] = []
    regions: Counter[str] = Counter()
    seen: set[str] = set()
    total = read_only = not_counted = 0
    first: datetime | None = None
    last: datetime | None = None
    for event in events:
        record = _record(event)
        event_id = str(event.get("EventId") or (record or {}).get("eventID") or "")
        if event_id and event_id in seen:
            continue  # the same event from two regions' histories is one call
        if event_id:
            seen.add(event_id)
        at = _at(event, record) if record is not None else None
        if record is None or at is None or not window.start <= at <= window.end:
            not_counted += 1
            continue
        identity = (
            record.get("userIdentity") if isinstance(record.get("userIdentity"), dict) else {}
        )
        params = record.get("requestParameters")
        params = params if isinstance(params, dict) else {}
        source, name = record.get("eventSource"), str(record.get("eventName") or "")
        error = _error(record)
        stamp = iso(at)
        region = str(record.get("awsRegion") or "")
        if subject.is_session(identity.get("arn")):
            pass
        elif (
            source == _STS_SOURCE
            and name.startswith("AssumeRole")
            and subject.is_this_role(params.get("roleArn"))
            and str(params.get("roleSessionName", "")).lower() == subject.session_name.lower()
        ):
            # The person taking the role up, under the pinned session name: a sign-in.
            sign_ins.append(
                SignIn(stamp, name, region, error, str(record.get("sourceIPAddress", "")))
            )
            total += 1
            regions[region] += 1
            first, last = min(first or at, at), max(last or at, at)
            if error:
                (denied if is_denied(error) else failed).add(_action(record), [], error)
            continue
        else:
            not_counted += 1
            continue
        total += 1
        regions[region] += 1
        first, last = min(first or at, at), max(last or at, at)
        action = _action(record)
        if source == _SIGNIN_SOURCE:
            sign_ins.append(
                SignIn(stamp, name, region, error, str(record.get("sourceIPAddress", "")))
            )
        elif source == _STS_SOURCE and name.startswith("AssumeRole"):
            chaining.append(ChainAttempt(stamp, action, str(params.get("roleArn", "")), error))
        if error:
            (denied if is_denied(error) else failed).add(action, _resources(event, record), error)
        elif source == _SIGNIN_SOURCE or (source == _STS_SOURCE and name.startswith("AssumeRole")):
            continue  # shown as sign-ins and role chaining, not as writes
        elif _read_only(event, record):
            read_only += 1
        else:
            writes.add(action, _resources(event, record))
    return ActivityReport(
        request_id=grant.id,
        person=grant.requester_name,
        session_name=grant.session_name,
        role=grant.role,
        role_arn=grant.role_arn,
        window_start=iso(window.start),
        window_end=iso(window.end),
        regions_read=tuple(regions_read),
        total=total,
        read_only=read_only,
        writes=writes.rows(),
        denied=denied.rows(),
        errors=failed.rows(),
        sign_ins=tuple(sorted(sign_ins, key=lambda s: s.at)),
        chaining=tuple(sorted(chaining, key=lambda c: c.at)),
        regions=tuple(sorted(regions.items(), key=lambda item: (-item[1], item[0]))),
        first_call=iso(first) if first else None,
        last_call=iso(last) if last else None,
        truncated=truncated,
        not_counted=not_counted,
        final=window.final,
        produced_at=iso(now),
    )


# -- producing one --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lookup:
    """What the CloudTrail port read for one report."""

    events: tuple[dict, ...]
    regions: tuple[str, ...]
    truncated: bool = False
    calls: int = 0  # LookupEvents requests sent (throttled retries included)
    throttled: int = 0
    by_region: dict[str, int] = field(default_factory=dict)  # requests per region


class CloudTrailPort(Protocol):
    home_region: str

    def lookup(
        self,
        role_arn: str,
        session_name: str,
        start: datetime,
        end: datetime,
        regions: tuple[str, ...],
    ) -> Lookup: ...


def produce_report(
    grant: AccessRequest,
    role: RoleSpec | None,
    cloudtrail: CloudTrailPort,
    now: datetime,
    window: ReportWindow | None = None,
    delay: timedelta = DEFAULT_DELAY,
) -> ActivityReport:
    """Read CloudTrail for ``grant`` (the next report owed, or ``window``) and build its report.
    The port's errors (chalicelib/core/errors.py) pass through: the caller retries later."""
    window = window or next_report(grant, delay)
    if window is None:
        raise ActivityError(f"request {grant.id} was never active: it has no activity to report")
    regions = regions_for(role, cloudtrail.home_region)
    found = cloudtrail.lookup(grant.role_arn, grant.session_name, window.start, window.end, regions)
    return build_report(found.events, grant, window, found.regions, now, found.truncated)


# -- for people -----------------------------------------------------------------------------------
def clip_name(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _hhmm(text: str | None) -> str:
    return parse_iso(text).strftime("%H:%M") if text else "—"


def _listed(rows: tuple[ActionCount, ...], limit: int, with_resources: bool) -> str:
    parts = []
    for row in rows[:limit]:
        part = f"{row.action} ×{row.count}"
        if with_resources and row.resources:
            part += f" ({', '.join(clip_name(r) for r in row.resources)})"
        parts.append(part)
    if len(rows) > limit:
        parts.append("…")
    return ", ".join(parts)


def summary_line(report: ActivityReport, actions_shown: int = 5) -> str:
    """One line for people, e.g. ``alice used ec2-admin 10:02–10:47 UTC — 214 calls, 9 writes:
    ec2:RunInstances ×2 (i-0abc…), …; 1 denied: iam:CreateUser``. Plain text: whoever shows
    it escapes it for its medium (CloudTrail fields are partly user-controlled)."""
    who = (
        f"{report.person} ({report.session_name})"
        if report.person != report.session_name
        else report.person
    )
    if report.total == 0:
        line = (
            f"{who} made no calls with {report.role} between {_hhmm(report.window_start)} and "
            f"{_hhmm(report.window_end)} UTC"
        )
    else:
        line = (
            f"{who} used {report.role} {_hhmm(report.first_call)}–{_hhmm(report.last_call)} UTC — "
            f"{report.total} {'call' if report.total == 1 else 'calls'}, "
            f"{report.write_count} {'write' if report.write_count == 1 else 'writes'}"
        )
        if report.writes:
            line += ": " + _listed(report.writes, actions_shown, with_resources=True)
    if report.denied:
        line += f"; {report.denied_count} denied: " + _listed(report.denied, actions_shown, False)
    if report.errors:
        line += f"; {report.error_count} failed: " + _listed(report.errors, actions_shown, False)
    if report.truncated:
        line += f" (truncated: more than {report.total + report.not_counted} events)"
    return line


def render_text(report: ActivityReport) -> str:
    """The whole report for a terminal or a page (plain text, several lines)."""
    title = "Activity report" if report.final else "Activity so far (break-glass, hourly)"
    lines = [
        f"{title} for request {report.request_id}",
        summary_line(report),
        f"window read: {report.window_start} – {report.window_end}, regions "
        f"{', '.join(report.regions_read) or '—'}",
        f"calls: {report.total} ({report.read_only} read-only, {report.write_count} writes, "
        f"{report.denied_count} denied, {report.error_count} failed)",
    ]
    for heading, rows in (
        ("writes", report.writes),
        ("denied", report.denied),
        ("failed", report.errors),
    ):
        for row in rows:
            extra = f"  [{', '.join(row.errors)}]" if row.errors else ""
            names = f"  {', '.join(row.resources)}" if row.resources else ""
            lines.append(f"  {heading:<7} {row.action} ×{row.count}{names}{extra}")
    for sign_in in report.sign_ins:
        outcome = f" — {sign_in.error}" if sign_in.error else ""
        lines.append(f"  sign-in {sign_in.at} {sign_in.kind} in {sign_in.region or '—'}{outcome}")
    for chain in report.chaining:
        outcome = f" — {chain.error}" if chain.error else " — allowed"
        lines.append(f"  chain   {chain.at} {chain.action} → {chain.target or '?'}{outcome}")
    if report.regions:
        lines.append("regions: " + ", ".join(f"{r or '—'} {n}" for r, n in report.regions))
    if report.not_counted:
        lines.append(
            f"not counted: {report.not_counted} events under the name {report.session_name} "
            "from other roles, people or times"
        )
    if report.truncated:
        lines.append("TRUNCATED: the event cap was reached; read CloudTrail for the rest")
    return "\n".join(lines)
