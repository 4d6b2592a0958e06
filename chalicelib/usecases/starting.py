"""Scheduled windows at their start (core/schedule.py): a sweep step, and calling one off.

The sweep asks for SCHEDULED requests due (the ``due`` index keys them on ``starts_at``) up to
``START_LEAD`` ahead. Each one due is checked again against the policies as they are now
(``check_start``): still good, it becomes APPROVED ("started"), and the same sweep's role step
writes it like any other approved grant (its trust statement opens at the start, to the
second); no longer good, it FAILS and both sides hear why; a Slack user group that cannot be
resolved now leaves it waiting for the next sweep. Before the start, the requester is
reminded once (``reminder_due``). Nothing is ever written to IAM for a SCHEDULED request.

Before its start a scheduled window is called off (cancelled) by its requester with
``cancel``, or by whoever may revoke a grant with ``revoke``: SCHEDULED -> CANCELLED.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib.core import events, schedule
from chalicelib.core.decisions import Refusal, Refused, check_revoker
from chalicelib.core.errors import AwsUnavailable, StoreConflict
from chalicelib.core.events import Event
from chalicelib.core.groups import GroupsUnavailable
from chalicelib.core.model import AccessRequest, State, TransitionError, iso, transition
from chalicelib.core.texts import NOTHING_WRITTEN
from chalicelib.usecases.context import BROKER, Context
from chalicelib.usecases.unit_of_work import Change, UnitOfWork

if TYPE_CHECKING:
    from chalicelib.usecases.deciding import Deciding
    from chalicelib.usecases.sweep import SweepReport


def start_windows(context: Context, uow: UnitOfWork, now: datetime, report: SweepReport) -> None:
    """The sweep's step: remind before the start, start what is due (APPROVED, for the role
    step that follows), fail what may not start."""
    due = context.store.due_requests(State.SCHEDULED, iso(now + schedule.REMINDER_BEFORE))
    for request in due:
        if schedule.reminder_due(request, now):
            once = schedule.reminder_key(request)
            uow.announce(Event(events.STARTING_SOON, now, request, once=once))
        if not schedule.start_due(request, now):
            continue
        try:
            why = schedule.check_start(request, context.catalog, context.groups, now)
        except GroupsUnavailable as error:  # the next sweep asks Slack again
            report.errors.append(f"start {request.id}: {error}")
            continue
        try:
            if why is None:
                started = transition(
                    request,
                    State.APPROVED,
                    BROKER,
                    "started",
                    now,
                    detail=f"the scheduled window starts at {request.starts_at}",
                )
                uow.commit(Change(started, was=request))
            else:
                failed = transition(
                    request, State.FAILED, BROKER, "start refused", now, detail=why, failure=why
                )
                said = context.event(events.GRANT_FAILED, failed, BROKER, why)
                uow.commit(Change(failed, (said,), was=request))
                report.failed += 1
        except (StoreConflict, TransitionError):  # cancelled or started meanwhile
            continue
        except AwsUnavailable as error:  # the next sweep starts it
            report.errors.append(f"start {request.id}: {error}")


def call_off(
    deciding: Deciding, request: AccessRequest, actor: str, operator: bool = False
) -> tuple[AccessRequest, str]:
    """``revoke`` of a window that has not started: whoever may revoke the grant (its
    requester, the role's approvers, an operator) cancels it. Nothing is in IAM to remove."""
    c = deciding._c

    def decide(current: AccessRequest, now: datetime) -> AccessRequest:
        # The one rule for ending a grant early, asked of the window as if it were running.
        check_revoker(c.catalog, replace(current, state=State.ACTIVE), actor, c.groups, operator)
        if current.state is not State.SCHEDULED:
            raise Refused(
                Refusal.NOT_PENDING,
                f"Request {current.id} is {current.state.value.lower()} now; try again.",
            )
        return transition(
            current, State.CANCELLED, actor, "called off", now, detail="before its start"
        )

    said = lambda r: [c.event(events.CANCELLED, r, actor, "before its start")]  # noqa: E731
    cancelled = deciding._change(request.id, decide, said, known=request)
    return cancelled, NOTHING_WRITTEN
