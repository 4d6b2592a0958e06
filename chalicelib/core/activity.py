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

The report's data is in chalicelib/core/activity_model.py, when one is owed in
chalicelib/core/activity_schedule.py, its text for people in chalicelib/core/activity_text.py.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from chalicelib.core.activity_model import ActionCount, ActivityReport, ChainAttempt, SignIn
from chalicelib.core.activity_schedule import (
    DEFAULT_DELAY,
    ActivityError,
    ReportWindow,
    next_report,
    regions_for,
)
from chalicelib.core.catalog import RoleSpec
from chalicelib.core.model import AccessRequest, iso, parse_iso, utc

EVENT_CAP = 5000  # events read for one report at most; beyond, the report says it is truncated
RESOURCES_SHOWN = 3  # resource names kept per action


# errorCode values that mean "not allowed" (services spell it differently).
_DENIED_MARKS = ("accessdenied", "unauthorized", "forbidden")
_SIGNIN_SOURCE = "signin.amazonaws.com"
_STS_SOURCE = "sts.amazonaws.com"
# Names of read-only calls, when a record does not say (``readOnly`` missing).
_READ_PREFIXES = ("Get", "List", "Describe", "Head", "Lookup", "Search")


# -- reading the records --------------------------------------------------------------------------
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
