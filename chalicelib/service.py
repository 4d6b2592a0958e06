"""The service: one facade over the use cases (chalicelib/usecases/), so that the entry points
(app.py, entry/, tools/admin.py) and the tests call one object with stable names.

Each use case is a module of its own: requesting (submit, break-glass, extend), deciding
(approve, deny, cancel, review, revoke, record), the role engine (grant, settle a role), the
sweep and its reminders, and queries. They share one ``Context`` and write every state change
with the messages it owes through one ``UnitOfWork``. Nothing here decides anything: each
method hands over to the use case that does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib.core.activity_model import ActivityReport
from chalicelib.core.catalog import Catalog, Person, RoleSpec
from chalicelib.core.commands import ExtendCommand, RequestCommand
from chalicelib.core.groups import Members, no_groups
from chalicelib.core.model import AccessRequest, State
from chalicelib.usecases import narrowing
from chalicelib.usecases.activity import ActivityReports
from chalicelib.usecases.context import BROKER, Context, acting_as, system_clock
from chalicelib.usecases.deciding import Deciding
from chalicelib.usecases.engine import RoleEngine, Settled
from chalicelib.usecases.queries import Queries
from chalicelib.usecases.requesting import AlreadyPending, Requesting
from chalicelib.usecases.role_checks import RoleChecking
from chalicelib.usecases.suspensions import Suspensions
from chalicelib.usecases.sweep import REMINDER_LEAD, Sweep, SweepReport
from chalicelib.usecases.unit_of_work import CONFLICT_RETRIES, UnitOfWork

if TYPE_CHECKING:
    from chalicelib.aws.grants import RoleWriter
    from chalicelib.aws.store import Store
    from chalicelib.notify.port import Notifications
    from chalicelib.ports import RoleChecks

__all__ = [
    "BROKER",
    "CONFLICT_RETRIES",
    "REMINDER_LEAD",
    "AlreadyPending",
    "Settled",
    "Switchback",
    "SweepReport",
    "system_clock",
]


class Switchback:
    def __init__(
        self,
        catalog: Catalog,
        store: Store,
        writer: RoleWriter,
        notifier: Notifications,
        clock: Callable[[], datetime] = system_clock,
        base_url: str = "",
        groups: Members = no_groups,
        role_checks: RoleChecks | None = None,
        time_zone: Callable[[str], str | None] | None = None,
    ):
        self.context = Context(
            catalog, store, writer, notifier, clock, base_url, groups, role_checks=role_checks
        )
        if time_zone is not None:  # a person's Slack time zone, for scheduled windows
            self.context.time_zone = time_zone
        self.clock = clock  # also the writer's and the port's
        self.unit_of_work = UnitOfWork(self.context)
        self.activity = ActivityReports(self.context, self.unit_of_work)
        self.unit_of_work.listeners.append(self.activity)  # owes a grant its activity report
        self.engine = RoleEngine(self.context, self.unit_of_work)
        self.requesting = Requesting(self.context, self.unit_of_work, self.engine)
        self.deciding = Deciding(self.context, self.unit_of_work, self.engine)
        self.sweeper = Sweep(self.context, self.unit_of_work, self.engine)
        self.queries = Queries(self.context)
        self.suspensions = Suspensions(self.context, self.unit_of_work)

    # -- what the use cases share (tests swap the catalog, move the clock) ---------------------
    @property
    def catalog(self) -> Catalog:
        return self.context.catalog

    @catalog.setter
    def catalog(self, catalog: Catalog) -> None:
        self.context.catalog = catalog

    @property
    def store(self) -> Store:
        return self.context.store

    @store.setter
    def store(self, store: Store) -> None:
        self.context.store = store

    @property
    def writer(self) -> RoleWriter:
        return self.context.writer

    @writer.setter
    def writer(self, writer: RoleWriter) -> None:
        self.context.writer = writer

    @property
    def notify(self) -> Notifications:
        """The notification port: told what happened; its subscribers decide who hears it."""
        return self.context.notify

    @notify.setter
    def notify(self, notify: Notifications) -> None:
        self.context.notify = notify

    @property
    def groups(self) -> Members:
        return self.context.groups

    @groups.setter
    def groups(self, groups: Members) -> None:
        self.context.groups = groups

    @property
    def base_url(self) -> str:
        return self.context.base_url

    @base_url.setter
    def base_url(self, base_url: str) -> None:
        self.context.base_url = base_url

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.context.clock

    @clock.setter
    def clock(self, clock: Callable[[], datetime]) -> None:
        # One clock for the whole service, so tests can move time for all of it at once.
        self.context.clock = self.writer.clock = self.notify.clock = clock

    def flush(self, seconds: float) -> None:
        """Send what this thread stored, within ``seconds``; the sweep sends the rest."""
        self.notify.flush(seconds)

    # -- requesting ----------------------------------------------------------------------------
    def submit(
        self, requester: str, command: RequestCommand, response_url: str | None
    ) -> AccessRequest:
        return self.requesting.submit(requester, command, response_url)

    def break_glass(
        self, requester: str, command: RequestCommand, response_url: str | None
    ) -> AccessRequest:
        return self.requesting.break_glass(requester, command, response_url)

    def extend(
        self, requester: str, command: ExtendCommand, response_url: str | None
    ) -> AccessRequest:
        return self.requesting.extend(requester, command, response_url)

    def arrived(self, key: str, forget_at: int) -> tuple[bool, str | None]:
        return self.requesting.arrived(key, forget_at)

    def answered(self, key: str, answer: str, forget_at: int) -> None:
        self.requesting.answered(key, answer, forget_at)

    # -- deciding ------------------------------------------------------------------------------
    def approve(
        self, request_id: str, approver: str, known: AccessRequest | None = None
    ) -> AccessRequest:
        return self.deciding.approve(request_id, approver, known)

    def deny(self, request_id: str, approver: str, reason: str = "") -> AccessRequest:
        return self.deciding.deny(request_id, approver, reason)

    def narrow(self, request_id: str, approver: str, scope: str) -> AccessRequest:
        return narrowing.narrow(self.deciding, request_id, approver, scope)

    def cancel(self, request_id: str, requester: str) -> AccessRequest:
        return self.deciding.cancel(request_id, requester)

    def review(self, request_id: str, actor: str, verdict: str, why: str = "") -> AccessRequest:
        return self.deciding.review(request_id, actor, verdict, why)

    def unsuspend(self, actor: str, person: str, role: str) -> tuple[str, str | None]:
        """Lift a person's break-glass suspension on a role (the role's approvers only)."""
        return self.suspensions.unsuspend(actor, person, role)

    def break_glass_suspension(self, person: str, role: str) -> str | None:
        return self.suspensions.suspension(person, role)

    def may_lift_suspension(self, flagged: AccessRequest, person: str) -> bool:
        return self.suspensions.may_lift(flagged, person)

    def revoke(self, request_id: str, actor: str, operator: bool = False) -> AccessRequest:
        return self.deciding.revoke_with_outcome(request_id, actor, operator)[0]

    def revoke_with_outcome(
        self, request_id: str, actor: str, operator: bool = False
    ) -> tuple[AccessRequest, str]:
        return self.deciding.revoke_with_outcome(request_id, actor, operator)

    def record(self, request_id: str, actor: str, action: str, detail: str = "") -> AccessRequest:
        return self.deciding.record(request_id, actor, action, detail)

    # -- the role engine -----------------------------------------------------------------------
    def grant(self, request: AccessRequest) -> AccessRequest:
        return self.engine.grant(request)

    def settle_role(
        self,
        role_arn: str,
        known: list[AccessRequest] | None = None,
        also: Iterable[str] = (),
        lock_first: bool = True,
        hand_over: str | None = None,
    ) -> Settled:
        return self.engine.settle_role(role_arn, known, also, lock_first, hand_over)

    # -- the sweep -----------------------------------------------------------------------------
    def sweep(
        self, time_left: Callable[[], float] | None = None, actor: str = BROKER
    ) -> SweepReport:
        """One sweep pass; ``actor``: who started it (an operator's ``aws:<ARN>``), named in
        the audit entries of what it does."""
        with acting_as(actor):
            return self.sweeper.sweep(time_left)

    def role_changed(self, event: dict, broker_arns: Iterable[str] = ()) -> str | None:
        return RoleChecking(self.context, self.engine).role_changed(event, broker_arns)

    def remind_ending(self, now: datetime) -> int:
        return self.sweeper.remind_ending(now)

    def remind_approvers(self, now: datetime) -> int:
        return self.sweeper.remind_approvers(now)

    def remind_unreviewed(self, now: datetime) -> int:
        return self.sweeper.remind_unreviewed(now)

    # -- queries -------------------------------------------------------------------------------
    def time_zone(self, person: str) -> str | None:
        """The person's Slack time zone (cached), None when Slack does not say."""
        return self.context.time_zone(person)

    def get(self, request_id: str) -> AccessRequest | None:
        return self.queries.get(request_id)

    def requests_of(self, person: str) -> list[AccessRequest]:
        return self.queries.requests_of(person)

    def requests_in(self, states: Iterable[State]) -> list[AccessRequest]:
        return self.queries.requests_in(states)

    def awaiting(self, approver: str, now: datetime) -> list[AccessRequest]:
        return self.queries.awaiting(approver, now)

    def unreviewed(self, approver: str) -> list[AccessRequest]:
        return self.queries.unreviewed(approver)

    def history(self, role: str | None = None, since: str | None = None) -> list[AccessRequest]:
        return self.queries.history(role, since)

    def free_slots(self, person: Person | None, roles: list[RoleSpec]) -> dict[str, int | None]:
        return self.queries.free_slots(person, roles)

    def session_warnings(self, roles: list[RoleSpec]) -> list[str]:
        return self.queries.session_warnings(roles)

    @property
    def _grant_slots(self):
        return self.queries.grant_slots

    def what_approving_writes(
        self, request: AccessRequest, now: datetime
    ) -> list[tuple[str, dict]]:
        return self.queries.what_approving_writes(request, now)

    # -- activity reports ----------------------------------------------------------------------
    def activity_report(self, request_id: str) -> ActivityReport | None:
        """The last activity report produced for ``request_id`` (None: none yet)."""
        return self.activity.kept(request_id)

    def activity_on_demand(self, request: AccessRequest) -> ActivityReport | None:
        """The kept report, else one read from CloudTrail now (not stored, not sent)."""
        return self.activity.on_demand(request, self.clock())
