"""The sweep: one pass, every minute, that keeps every promise made on time.

Lapse undecided requests, settle every role (finish stuck grants, expire ended ones, cut and
age out session limits, repair drift), remind requesters whose access ends soon, approvers of
requests still waiting and the channel of break-glass grants nobody reviewed, then resend
undelivered messages. Every step is safe to repeat and to run twice at once; a role that
fails is reported and the others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib import telemetry
from chalicelib.core import events
from chalicelib.core.errors import AwsUnavailable, LockBusy, StoreConflict
from chalicelib.core.events import Event
from chalicelib.core.model import AccessRequest, State, TransitionError, iso, parse_iso, transition
from chalicelib.usecases.activity import ActivityReports
from chalicelib.usecases.context import BROKER, Context, acting
from chalicelib.usecases.engine import RoleEngine
from chalicelib.usecases.role_checks import RoleChecking
from chalicelib.usecases.starting import start_windows
from chalicelib.usecases.unit_of_work import Change, UnitOfWork

REMINDER_LEAD = timedelta(minutes=10)  # requesters hear this long before their access ends


@dataclass
class SweepReport:
    expired: int = 0
    lapsed: int = 0
    granted: int = 0
    failed: int = 0
    messages_sent: int = 0
    drift: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    reminded: int = 0
    approvers_reminded: int = 0
    unreviewed: int = 0  # break-glass grants past their review deadline
    roles_left: int = 0  # roles this pass had no time for: the next pass reads them first
    activity_reports: int = 0  # activity reports produced


class Sweep:
    def __init__(self, context: Context, uow: UnitOfWork, engine: RoleEngine):
        self._c = context
        self._uow = uow
        self._engine = engine

    def sweep(self, time_left: Callable[[], float] | None = None) -> SweepReport:
        """One pass: lapse undecided requests, settle every role, remind, resend
        undelivered messages. ``time_left``: the invocation's seconds left (None locally)."""
        c = self._c
        report = SweepReport()
        now = c.clock()
        self._lapse_undecided(now, report)
        start_windows(c, self._uow, now, report)
        self._settle_roles(now, report, time_left)
        report.reminded = self.remind_ending(c.clock())
        report.approvers_reminded = self.remind_approvers(c.clock())
        report.unreviewed = self.remind_unreviewed(c.clock())
        report.activity_reports = ActivityReports(c, self._uow).run(c.clock(), report.errors)
        self._outbox(report)
        return report

    def _lapse_undecided(self, now: datetime, report: SweepReport) -> None:
        c = self._c
        for request in c.store.due_requests(State.PENDING, iso(now)):
            why = "nobody decided in time"
            try:
                by = acting()  # BROKER, or the operator who started this pass
                lapsed = transition(request, State.LAPSED, by, "lapsed", c.clock(), detail=why)
                said = c.event(events.LAPSED, lapsed, BROKER, why)
                self._uow.commit(Change(lapsed, (said,), was=request))
            except (StoreConflict, TransitionError):
                continue
            except AwsUnavailable as error:  # the next sweep lapses it, with its messages
                report.errors.append(f"lapse {request.id}: {error}")
                continue
            report.lapsed += 1

    def _settle_roles(
        self, now: datetime, report: SweepReport, time_left: Callable[[], float] | None = None
    ) -> None:
        """Settle the roles this pass owes (usecases/role_checks.py): every role with due work
        or a mark, and this pass's share of the idle ones, within the pass's time.

        A role whose lock is held (by a live step, or by a dead process until its lease
        lapses) is tried once and left for the end, so it delays only itself: every other role
        is settled first, then the held ones are waited for."""
        outcome = RoleChecking(self._c, self._engine).run(now, report, self._settle_role, time_left)
        report.roles_left = len(outcome.left)

    def _settle_role(
        self,
        role_arn: str,
        known: list[AccessRequest],
        now: datetime,
        report: SweepReport,
        may_defer: bool,
    ) -> bool:
        """Settle one role into ``report``; False if its lock is held and ``may_defer``."""
        due = any(r.state is State.APPROVED or r.ends() <= now for r in known)
        try:
            settled = self._engine.settle_role(role_arn, known=known, lock_first=due)
        except LockBusy as error:
            if may_defer:
                return False
            report.errors.append(f"{role_arn}: {error}")
            telemetry.event(
                "sweep.role_failed", logging.WARNING, role_arn=role_arn, error=str(error)
            )
            return True
        except AwsUnavailable as error:
            report.errors.append(f"{role_arn}: {error}")
            telemetry.event(
                "sweep.role_failed", logging.WARNING, role_arn=role_arn, error=str(error)
            )
            return True
        except Exception as error:  # one broken role must not stop the others
            logging.getLogger("switchback").exception("sweep.role_crashed %s", role_arn)
            report.errors.append(f"{role_arn}: {type(error).__name__}: {error}")
            return True
        report.granted += len(settled.activated)
        report.expired += len(settled.expired)
        report.failed += len(settled.failed)
        report.drift += [f"{role_arn}: {note}" for note in settled.drift]
        if settled.missing_role:
            report.errors.append(f"{role_arn}: the role does not exist")
        return True

    def remind_ending(self, now: datetime) -> int:
        """Tell each requester, once, shortly before their access ends (a sweep step)."""
        reminded = 0
        for request in self._c.store.due_requests(State.ACTIVE, iso(now + REMINDER_LEAD)):
            ends = request.ends()
            # A short grant gets its reminder in its last quarter, not at its start.
            lead = min(REMINDER_LEAD, request.duration / 4)
            if ends is None or ends <= now or ends - now > lead:
                continue
            reminder = Event(events.ENDING_SOON, now, request, once=f"{request.id}-reminder")
            if self._uow.announce(reminder):
                reminded += 1
        return reminded

    def remind_approvers(self, now: datetime) -> int:
        """Remind the approvers' channel, once, of a request still pending after its role's
        ``remind_approvers_after`` (a sweep step)."""
        reminded = 0
        for request in self._c.store.requests_in(State.PENDING):
            role = self._c.catalog.role(request.role)
            after = role.remind_approvers_after if role else None
            if after is None or now < parse_iso(request.created_at) + after:
                continue
            if now >= parse_iso(request.approval_deadline):
                continue  # lapsing, not reminding
            reminder = Event(
                events.AWAITING_DECISION,
                now,
                request,
                base_url=self._c.base_url,
                once=f"{request.id}-approvers-reminder",
            )
            if self._uow.announce(reminder):
                reminded += 1
        return reminded

    def remind_unreviewed(self, now: datetime) -> int:
        """Remind the channel, once, of each break-glass grant still unreviewed past its
        role's ``break_glass_review_within``; count them in the ``breakglass_unreviewed``
        metric every sweep (an alarm watches it)."""
        c = self._c
        overdue = 0
        for request_id in c.store.unreviewed(iso(now)):
            request = c.store.get_request(request_id)
            if request is None or request.review:
                c.store.reviewed(request_id)  # reviewed, or a grant that never was
                continue
            overdue += 1
            once = f"{request.id}-review-reminder"
            self._uow.announce(c.event(events.REVIEW_OVERDUE, request, once=once))
        telemetry.metric("breakglass_unreviewed", overdue)
        return overdue

    def _outbox(self, report: SweepReport) -> None:
        self._c.notify.flush(20.0)
        report.messages_sent = self._c.notify.outbox.deliver_due(self._c.clock())
