"""The sweep's role step as a planned pass (chalicelib/core/sweep_plan.py): which roles this
pass reads from IAM, within its time, and what it leaves for the next one.

Every pass reads the roles with **due work** (a grant to write, an end passed, a holder the
policies no longer allow: ``sweep_plan.due_since`` over the open grants) and the **marked**
roles (an IAM change event, an unfinished revoke, a cut to age out, a check that failed), then
its share of the **idle** roles (each once every ``IDLE_EVERY`` passes, from the saved cursor),
oldest reason first, while the time left fits another check. A role whose check fails is
marked again, so the next pass retries it (and the failure is in the report, for the
sweep-errors alarm); the cursor is saved where the idle stream stopped; what the time did not
reach is counted in the report and stays owed (due work and marks stay in the store).

Without role checks (``Context.role_checks`` None) every role is read every pass.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime

from chalicelib import telemetry
from chalicelib.core import deadline, iam_changes, sweep_plan
from chalicelib.core.errors import AwsUnavailable
from chalicelib.core.model import AccessRequest, State
from chalicelib.usecases.context import Context
from chalicelib.usecases.engine import RoleEngine

# Seconds of the invocation kept for what the sweep does after its role checks (reminders, the
# outbox's flush of up to 20 s) and for ending cleanly.
AFTER_CHECKS_SECONDS = 25.0

# settle(role_arn, known, now, report, may_defer) -> False when the role's lock is held and
# ``may_defer``; a failure is added to ``report.errors`` (Sweep._settle_role).
SettleRole = Callable[[str, list[AccessRequest], datetime, object, bool], bool]


class CheckFailed(Exception):
    """A role's check ended in an error (already in the report)."""


def pass_time(
    time_left: Callable[[], float] | None,
    monotonic: Callable[[], float] = time.monotonic,
    budget: float = sweep_plan.PASS_BUDGET_SECONDS,
) -> Callable[[], float]:
    """Seconds left for role checks: the smaller of the pass budget and the invocation's time
    left (``time_left``, seconds; None locally) less what the sweep needs after them."""
    started = monotonic()

    def remaining() -> float:
        left = budget - (monotonic() - started)
        if time_left is not None:
            left = min(left, time_left() - AFTER_CHECKS_SECONDS)
        return left

    return remaining


class RoleChecking:
    def __init__(self, context: Context, engine: RoleEngine):
        self._c = context
        self._engine = engine

    def run(
        self,
        now: datetime,
        report,
        settle: SettleRole,
        time_left: Callable[[], float] | None = None,
    ) -> sweep_plan.PassOutcome:
        c = self._c
        checks = c.role_checks
        remaining = pass_time(time_left)
        by_role: dict[str, list[AccessRequest]] = defaultdict(list)
        for state in (State.APPROVED, State.ACTIVE):
            for request in c.store.requests_in(state):
                by_role[request.role_arn].append(request)
        requests = [r for found in by_role.values() for r in found]
        due = sweep_plan.due_since(requests, now, self._engine._ineligible(requests))
        # A role an open grant names stays managed while the grant lasts (dropped from the
        # policies, it keeps its grants to their end).
        managed = {r.role_arn for r in c.catalog.roles.values()} | set(by_role)
        if checks is None:
            marked, cursor, every = {}, None, 1  # every role, every pass
        else:
            marked, cursor, every = checks.due(now), checks.cursor(), sweep_plan.IDLE_EVERY
        plan = sweep_plan.plan_pass(
            managed, due, {a: m.due_at for a, m in marked.items()}, now, cursor, every
        )

        def check(item: sweep_plan.Check, may_defer: bool) -> bool:
            errors = len(report.errors)
            known = by_role.get(item.role_arn, [])
            if may_defer:
                with deadline.lock_patience(0.0):
                    done = settle(item.role_arn, known, now, report, True)
            else:
                done = settle(item.role_arn, known, now, report, False)
            if not done:
                return False
            if len(report.errors) > errors:
                raise CheckFailed(report.errors[-1])
            mark = marked.get(item.role_arn)
            if mark is not None and checks is not None:
                checks.clear(mark)  # False: marked again meanwhile, read at the next pass
            return True

        outcome = sweep_plan.run_pass(plan, check, remaining, time.monotonic)
        if checks is not None:
            for role_arn, error in outcome.failed.items():
                self._remark(checks, role_arn, now, error)
            checks.save_cursor(outcome.cursor)
        if outcome.left:
            telemetry.event(
                "sweep.roles_left",
                logging.WARNING,
                left=len(outcome.left),
                checked=len(outcome.checked),
            )
        telemetry.metric("sweep_roles_checked", len(outcome.checked))
        telemetry.metric("sweep_roles_left", len(outcome.left))
        return outcome

    def role_changed(self, event: dict, broker_arns: Iterable[str] = ()) -> str | None:
        """An IAM change event (EventBridge, from CloudTrail): mark the managed role it is
        about for the next pass, and say which (None: not ours, or the broker's own write)."""
        c = self._c
        managed = sorted({r.role_arn for r in c.catalog.roles.values()})
        ours = [*broker_arns, *sorted(set(c.catalog.managers().values()))]
        role_arn = iam_changes.changed_role(event, managed, ours, c.writer.limits_policy)
        if role_arn is None or c.role_checks is None:
            return None
        call = str((event.get("detail") or {}).get("eventName", "IAM change"))
        c.role_checks.mark(role_arn, c.clock(), call)
        telemetry.event("sweep.role_marked", logging.INFO, role_arn=role_arn, why=call)
        return role_arn

    @staticmethod
    def _remark(checks, role_arn: str, now: datetime, error: str) -> None:
        try:
            checks.mark(role_arn, now, f"the last check failed: {error}"[:200])
        except AwsUnavailable:  # its due work or its idle slot brings it back anyway
            logging.getLogger("switchback").warning("re-mark lost %s", role_arn, exc_info=True)
