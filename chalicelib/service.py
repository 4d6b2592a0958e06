"""Use cases: request, approve, deny, cancel, revoke, grant and the sweep.

Each state change is one conditional write (StoreConflict means someone else moved first, so
we re-read and decide again). IAM changes go through RoleWriter, one locked write per role.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from . import messages, telemetry
from .commands import RequestCommand
from .decisions import Refusal, Refused, approve, check_decider, check_request, deny
from .errors import AwsUnavailable, LockBusy, RoleMissing, StoreConflict
from .grants import RoleWriter, grant_of
from .model import AccessRequest, State, TransitionError, iso, new_request_id, transition, utc
from .notify import Notifier
from .policies import Catalog
from .store import Store
from .trust import QuotaExceeded

BROKER = "switchback"
CONFLICT_RETRIES = 8
REMINDER_LEAD = timedelta(minutes=10)  # requesters hear this long before their access ends


def system_clock() -> datetime:
    return utc(datetime.now(UTC))


@dataclass
class SweepReport:
    expired: int = 0
    lapsed: int = 0
    granted: int = 0
    messages_sent: int = 0
    errors: list[str] = field(default_factory=list)
    reminded: int = 0


class Switchback:
    def __init__(
        self,
        catalog: Catalog,
        store: Store,
        writer: RoleWriter,
        notifier: Notifier,
        clock: Callable[[], datetime] = system_clock,
        base_url: str = "",
    ):
        self.catalog = catalog
        self.store = store
        self.writer = writer
        self.notify = notifier
        self.base_url = base_url
        self.clock = clock

    @property
    def clock(self) -> Callable[[], datetime]:
        return self._clock

    @clock.setter
    def clock(self, clock: Callable[[], datetime]) -> None:
        # One clock for the whole service, so tests can move time for all of it at once.
        self._clock = self.writer.clock = self.notify.clock = clock

    def flush(self, seconds: float) -> None:
        self.notify.flush(seconds)

    # -- requesting --------------------------------------------------------------------------
    def submit(
        self, requester: str, command: RequestCommand, response_url: str | None
    ) -> AccessRequest:
        role, duration = check_request(
            self.catalog, requester, command.role, command.duration, command.reason
        )
        person = self.catalog.people[requester]
        now = self.clock()
        request = AccessRequest(
            id=new_request_id(),
            role=role.name,
            role_arn=role.role_arn,
            requester=requester,
            requester_name=person.name,
            principal_arn=person.aws,
            duration_seconds=int(duration.total_seconds()),
            reason=command.reason,
            created_at=iso(now),
            approval_deadline=iso(now + role.approval_timeout),
            approvals_required=role.approvals_required,
            require_mfa=role.require_mfa,
            response_url=response_url,
        )
        request = self.store.create_request(
            transition(request, State.PENDING, requester, "requested", now, detail=command.reason)
        )
        telemetry.event(
            "access.requested",
            request_id=request.id,
            role_arn=role.role_arn,
            principal=person.aws,
            seconds=request.duration_seconds,
        )
        telemetry.metric("requests")
        self.notify.approvers(
            request, messages.approvers_new_request(request, role, self.base_url), "approvers.new"
        )
        return request

    def get(self, request_id: str) -> AccessRequest | None:
        return self.store.get_request(request_id)

    # -- deciding ----------------------------------------------------------------------------
    def approve(self, request_id: str, approver: str) -> AccessRequest:
        def decide(current: AccessRequest, now: datetime) -> AccessRequest:
            check_decider(self.catalog, current, approver, now)  # raises Refused
            return approve(current, approver, now)

        request = self._change(request_id, decide)
        telemetry.event(
            "access.approved",
            request_id=request.id,
            role_arn=request.role_arn,
            principal=request.principal_arn,
            approver=approver,
            approvals=len(request.approvals),
            required=request.approvals_required,
        )
        telemetry.metric("approvals")
        if request.state is State.APPROVED:
            self.notify.approvers(
                request,
                messages.approvers_update(request, "approved", approver),
                "approvers.approved",
            )
            request = self.grant(request)
        elif request.state is State.PENDING:  # counted; more approvals needed
            progress = messages.approval_progress(request)
            self.notify.approvers(
                request,
                messages.approvers_update(request, "approval", approver, progress),
                "approvers.approval",
            )
            self.notify.requester(
                request,
                messages.requester_update(request, "approval", approver, progress),
                "requester.approval",
            )
        return request

    def deny(self, request_id: str, approver: str, reason: str = "") -> AccessRequest:
        def decide(current: AccessRequest, now: datetime) -> AccessRequest:
            check_decider(self.catalog, current, approver, now, approving=False)
            return deny(current, approver, now, reason)

        request = self._change(request_id, decide)
        telemetry.event(
            "access.denied",
            request_id=request.id,
            role_arn=request.role_arn,
            principal=request.principal_arn,
            approver=approver,
        )
        self.notify.approvers(
            request,
            messages.approvers_update(request, "denied", approver, reason),
            "approvers.denied",
        )
        self.notify.requester(
            request,
            messages.requester_update(request, "denied", approver, reason),
            "requester.denied",
        )
        return request

    def cancel(self, request_id: str, requester: str) -> AccessRequest:
        def cancel(current: AccessRequest, now: datetime) -> AccessRequest:
            if current.requester != requester:
                raise Refused(Refusal.NOT_A_REQUESTER, "Only the requester can cancel a request.")
            if current.state is not State.PENDING:
                raise Refused(
                    Refusal.NOT_PENDING,
                    f"Request {current.id} is "
                    f"{current.state.value.lower()}; only pending requests can be "
                    "cancelled.",
                )
            return transition(current, State.CANCELLED, requester, "cancelled", now)

        request = self._change(request_id, cancel)
        telemetry.event(
            "access.cancelled",
            request_id=request.id,
            role_arn=request.role_arn,
            principal=request.principal_arn,
        )
        self.notify.approvers(
            request,
            messages.approvers_update(request, "cancelled", requester),
            "approvers.cancelled",
        )
        return request

    def _change(
        self, request_id: str, decide: Callable[[AccessRequest, datetime], AccessRequest]
    ) -> AccessRequest:
        """Read, decide, conditionally write; on a lost race read again and decide again."""
        for _ in range(CONFLICT_RETRIES):
            current = self.store.get_request(request_id)
            if current is None:
                raise Refused(Refusal.NOT_PENDING, f"There is no request {request_id}.")
            try:
                return self.store.save_request(decide(current, self.clock()))
            except StoreConflict:
                continue
            except TransitionError as error:
                raise Refused(Refusal.NOT_PENDING, str(error)) from error
        raise LockBusy(f"request {request_id} is changing too fast; try again")

    # -- granting ----------------------------------------------------------------------------
    def grant(self, request: AccessRequest) -> AccessRequest:
        """Write the trust statement of an APPROVED request, then mark it ACTIVE.

        Safe to repeat: the sweep calls it again for requests a crash left APPROVED.
        """
        try:
            if request.ends() <= self.clock():
                return self._fail(
                    request, "the access window ended before the grant could be written"
                )
            self.writer.apply(request.role_arn, add=[grant_of(request)])
        except (QuotaExceeded, RoleMissing) as error:
            return self._fail(request, str(error))
        except (AwsUnavailable, LockBusy) as error:
            telemetry.event(
                "grant.delayed",
                logging.WARNING,
                request_id=request.id,
                role_arn=request.role_arn,
                error=str(error),
            )
            return request  # stays APPROVED; the next sweep finishes it
        try:
            active = self.store.save_request(
                transition(
                    request,
                    State.ACTIVE,
                    BROKER,
                    "granted",
                    self.clock(),
                    detail=f"trusted until {request.ends_at}",
                )
            )
        except StoreConflict:
            return self.store.get_request(request.id) or request  # a concurrent sweep did it
        telemetry.event(
            "access.granted",
            request_id=active.id,
            role_arn=active.role_arn,
            principal=active.principal_arn,
            expires=active.ends_at,
        )
        telemetry.metric("grants")
        self.notify.requester(
            active,
            messages.requester_granted(active, self.catalog.role(active.role)),
            "requester.granted",
        )
        self.notify.approvers(
            active,
            messages.approvers_update(active, "granted", None, f"until {active.ends_at}"),
            "approvers.granted",
        )
        return active

    def _fail(self, request: AccessRequest, reason: str) -> AccessRequest:
        telemetry.event(
            "grant.failed",
            logging.ERROR,
            request_id=request.id,
            role_arn=request.role_arn,
            principal=request.principal_arn,
            reason=reason,
        )
        telemetry.metric("failures")
        try:
            failed = self.store.save_request(
                transition(
                    request,
                    State.FAILED,
                    BROKER,
                    "grant failed",
                    self.clock(),
                    detail=reason,
                    failure=reason,
                )
            )
        except StoreConflict:
            return self.store.get_request(request.id) or request
        self.notify.requester(
            failed, messages.requester_update(failed, "failed", None, reason), "requester.failed"
        )
        self.notify.approvers(
            failed, messages.approvers_update(failed, "failed", None, reason), "approvers.failed"
        )
        return failed

    # -- ending ------------------------------------------------------------------------------
    def revoke(self, request_id: str, actor: str) -> AccessRequest:
        request = self.store.get_request(request_id)
        if request is None:
            raise Refused(Refusal.NOT_PENDING, f"There is no request {request_id}.")
        role = self.catalog.role(request.role)
        if actor != request.requester and not (role and actor in role.approvers):
            raise Refused(
                Refusal.NOT_AN_APPROVER,
                f"Only the requester or an approver of {request.role} can revoke it.",
            )
        if request.state is not State.ACTIVE:
            raise Refused(
                Refusal.NOT_PENDING,
                f"Request {request.id} is {request.state.value.lower()}, not active.",
            )
        ended = self._end_grants(request.role_arn, [request], State.REVOKED, actor)
        if not ended:
            return self.store.get_request(request_id) or request
        return ended[0]

    def _end_grants(
        self, role_arn: str, requests: list[AccessRequest], to: State, actor: str
    ) -> list[AccessRequest]:
        """Remove these grants' statements in one write, then record each as ended."""
        try:
            self.writer.apply(role_arn, remove={r.sid for r in requests})
        except RoleMissing:
            pass  # nothing left that trusts anyone; just record the end
        what = "expired" if to is State.EXPIRED else "revoked"
        ended = []
        for request in requests:
            try:
                done = self.store.save_request(
                    transition(request, to, actor, what, self.clock(), detail="trust removed")
                )
            except (StoreConflict, TransitionError):
                continue  # someone else ended it meanwhile
            telemetry.event(
                f"access.{what}",
                request_id=done.id,
                role_arn=role_arn,
                principal=done.principal_arn,
                expires=done.ends_at,
            )
            telemetry.metric("expiries" if what == "expired" else "revokes")
            self.notify.requester(
                done, messages.requester_update(done, what, actor), f"requester.{what}"
            )
            self.notify.approvers(
                done, messages.approvers_update(done, what, actor), f"approvers.{what}"
            )
            ended.append(done)
        return ended

    # -- the sweep ---------------------------------------------------------------------------
    def sweep(self) -> SweepReport:
        """One pass: finish stuck grants, expire ended ones, lapse undecided ones, resend mail."""
        report = SweepReport()
        now = self.clock()
        for request in self.store.requests_in(State.APPROVED):
            if self.grant(request).state is State.ACTIVE:
                report.granted += 1
        by_role: dict[str, list[AccessRequest]] = defaultdict(list)
        for request in self.store.due_requests(State.ACTIVE, iso(now)):
            by_role[request.role_arn].append(request)
        for role_arn, requests in by_role.items():
            try:
                report.expired += len(self._end_grants(role_arn, requests, State.EXPIRED, BROKER))
            except (AwsUnavailable, LockBusy) as error:
                report.errors.append(f"{role_arn}: {error}")
                telemetry.event(
                    "sweep.role_failed", logging.WARNING, role_arn=role_arn, error=str(error)
                )
        for request in self.store.due_requests(State.PENDING, iso(now)):
            try:
                lapsed = self.store.save_request(
                    transition(
                        request,
                        State.LAPSED,
                        BROKER,
                        "lapsed",
                        self.clock(),
                        detail="nobody decided in time",
                    )
                )
            except StoreConflict:
                continue
            report.lapsed += 1
            self.notify.requester(
                lapsed,
                messages.requester_update(lapsed, "lapsed", None, "nobody decided in time"),
                "requester.lapsed",
            )
            self.notify.approvers(
                lapsed, messages.approvers_update(lapsed, "lapsed", None), "approvers.lapsed"
            )
        report.reminded = self.remind_ending(self.clock())
        self.flush(20.0)
        report.messages_sent = self.notify.outbox.deliver_due(self.clock())
        return report

    def remind_ending(self, now: datetime) -> int:
        """Tell each requester, once, shortly before their access ends (a sweep step)."""
        reminded = 0
        for request in self.store.due_requests(State.ACTIVE, iso(now + REMINDER_LEAD)):
            ends = request.ends()
            # A short grant gets its reminder in its last quarter, not at its start.
            lead = min(REMINDER_LEAD, request.duration / 4)
            if ends is None or ends <= now or ends - now > lead:
                continue
            if self.notify.requester(
                request,
                messages.requester_reminder(request, now),
                "requester.reminder",
                once=f"{request.id}-reminder",
            ):
                reminded += 1
        return reminded
