"""Activity reports: what each grant was used for, read from CloudTrail once it has caught up.

A report is owed like a message is: a small record (``owe_report``, on the table's due index)
says which grant is owed one and when. It is written right after the change that owes it,
by this module listening to the unit of work: when a grant becomes ACTIVE (due at its end plus
``SWITCHBACK_ACTIVITY_DELAY``; a break-glass grant's first hourly report sooner), and again
when it ends early (revoked, failed), which moves the due time forward. Not in the change's
own transaction: the store writes a request with its outbox messages, and a role step writes
many requests in shared batches; a record that a crash left unwritten is re-derived instead:
every sweep pass owes a report to each ACTIVE grant that has none (one Query of each), and
a grant ended by a revoke whose record still says the original end is reported then, late
but not lost (the window is always worked out from the grant as it is, so it is right).

The sweep (``run``) produces the reports that are due: it reads the grant, works out the
window again (an extension moves it later: the record follows), reads CloudTrail, keeps the
report (the page and ``tools.admin activity`` show it), and announces
``access.activity_reported`` once per report (the outbox sends it to Slack and EventBridge),
and only then settles the record. A crash anywhere in between repeats the report at the next
pass; the ``once`` key keeps its messages from going out twice. CloudTrail throttling or an
outage (AwsUnavailable) keeps the record for the next pass; a missing permission (AwsRefused)
too, and is logged as an error every pass until fixed.

Time: CloudTrail serves two LookupEvents a second per account and region, 50 events each, so
a report at the 5,000-event cap takes about 50 s. A pass starts no report after
``PASS_BUDGET_SECONDS``: at most one large report runs past it, and the sweep stays well
within its function's 120 s; the rest wait for the next pass, soonest first.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime

from chalicelib import telemetry
from chalicelib.core import events
from chalicelib.core.activity import produce_report
from chalicelib.core.activity_model import ActivityReport
from chalicelib.core.activity_schedule import WINDOW_SLACK, ReportWindow, grant_span, next_report
from chalicelib.core.errors import AwsRefused, AwsUnavailable
from chalicelib.core.events import Event
from chalicelib.core.model import AccessRequest, State, iso
from chalicelib.usecases.context import BROKER, Context
from chalicelib.usecases.unit_of_work import UnitOfWork

PASS_BUDGET_SECONDS = 20.0  # no report is started after this much of a pass
LATEST = "9999"  # sorts after every ISO time: all the owed reports
_ENDS = (events.EXPIRED, events.REVOKED, events.GRANT_FAILED, events.FLAGGED)
_log = logging.getLogger("switchback")


class ActivityReports:
    def __init__(
        self,
        context: Context,
        uow: UnitOfWork,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._c = context
        self._uow = uow
        self._monotonic = monotonic

    # -- owing: right after the change (a unit of work listener) ---------------------------
    def committed(self, event: Event, was: AccessRequest | None) -> None:
        """A grant became ACTIVE or ended: it is owed a report (the record says when)."""
        request = event.request
        if request is None or event.name not in (events.GRANTED, *_ENDS):
            return
        if event.name != events.GRANTED and (
            request.state is State.ACTIVE or (was is not None and was.state is not State.ACTIVE)
        ):
            return  # not an end of an active grant (a flag on one already ended)
        try:
            self.owe(request)
        except Exception:  # the change is written; the next sweep owes it instead
            _log.warning("activity.owe_failed %s", request.id, exc_info=True)

    def owe(self, grant: AccessRequest, reported: int = 0) -> bool:
        """Record the next report ``grant`` is owed; False if it is owed none."""
        role = self._c.catalog.role(grant.role)
        window = next_report(grant, self._c.activity_delay, reported, role)
        if window is None:
            return False
        self._c.store.records.owe_report(grant.id, iso(window.due_at), reported)
        return True

    def rederive(self) -> int:
        """Owe a report to each ACTIVE grant without one (a crash right after its grant)."""
        owed = {rid for rid, _, _ in self._c.store.records.owed_reports(LATEST)}
        added = 0
        for grant in self._c.store.requests_in(State.ACTIVE):
            if grant.id not in owed and self.owe(grant):
                added += 1
        return added

    # -- producing: the sweep ----------------------------------------------------------------
    def run(self, now: datetime, errors: list[str]) -> int:
        """Produce the reports due at ``now`` (a sweep step), within the pass budget; each
        failure is added to ``errors`` and its record kept. Returns how many were made."""
        c = self._c
        try:
            self.rederive()
        except AwsUnavailable as error:
            errors.append(f"activity: {error}")
        if c.cloudtrail is None:
            return 0
        started = self._monotonic()
        made = 0
        for request_id, _, reported in c.store.records.owed_reports(iso(now)):
            if self._monotonic() - started > PASS_BUDGET_SECONDS:
                break  # the rest at the next pass
            try:
                made += self._produce(request_id, reported, now)
            except AwsRefused as error:
                errors.append(f"activity {request_id}: {error}")
                telemetry.event(
                    "activity.refused", logging.ERROR, request_id=request_id, error=str(error)
                )
            except AwsUnavailable as error:
                errors.append(f"activity {request_id}: {error}")
                telemetry.event(
                    "activity.retry", logging.WARNING, request_id=request_id, error=str(error)
                )
            except Exception as error:  # one broken report must not stop the others
                _log.exception("activity.crashed %s", request_id)
                errors.append(f"activity {request_id}: {type(error).__name__}: {error}")
        return made

    def _produce(self, request_id: str, reported: int, now: datetime) -> int:
        c = self._c
        records = c.store.records
        grant = c.store.get_request(request_id)
        role = c.catalog.role(grant.role) if grant else None
        window = next_report(grant, c.activity_delay, reported, role) if grant else None
        if grant is None or window is None:
            records.report_made(request_id)  # nothing to report (opted out, never active)
            return 0
        if window.due_at > now:  # extended since: later
            records.owe_report(request_id, iso(window.due_at), reported)
            return 0
        if window.final and grant.state in (State.ACTIVE, State.APPROVED):
            return 0  # ended, but not expired yet: the next pass, after the role is settled
        report = produce_report(grant, role, c.cloudtrail, now, window, c.activity_delay)
        records.keep_report(request_id, json.dumps(report.to_dict()))
        once = f"{request_id}-activity-{'final' if window.final else window.sequence}"
        self._uow.announce(
            c.event(events.ACTIVITY_REPORTED, grant, BROKER, report=report, once=once)
        )
        telemetry.event(
            "activity.reported",
            logging.INFO,
            request_id=request_id,
            calls=report.total,
            writes=report.write_count,
            denied=report.denied_count,
            truncated=report.truncated,
        )
        if window.final:
            records.report_made(request_id)
        else:
            self.owe(grant, reported + 1)
        return 1

    # -- reading: the page and the CLI -------------------------------------------------------
    def kept(self, request_id: str) -> ActivityReport | None:
        """The last report produced for ``request_id``, if any."""
        found = self._c.store.records.kept_report(request_id)
        return ActivityReport.from_dict(json.loads(found)) if found else None

    def on_demand(self, grant: AccessRequest, now: datetime) -> ActivityReport | None:
        """The kept report, else one read now, of the whole grant so far (a break-glass grant
        too); None if the grant was never active. Nothing is stored or sent."""
        kept = self.kept(grant.id)
        if kept is not None:
            return kept
        if grant_span(grant) is None:
            return None
        if self._c.cloudtrail is None:
            raise AwsUnavailable("CloudTrail is not configured here")
        start, end = grant_span(grant)
        ended = grant.state is not State.ACTIVE
        whole = ReportWindow(start - WINDOW_SLACK, min(end, now) + WINDOW_SLACK, now, ended, 0)
        return produce_report(
            grant, self._c.catalog.role(grant.role), self._c.cloudtrail, now, whole
        )
