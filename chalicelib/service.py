"""Use cases: request, approve, deny, cancel, revoke, grant and the sweep.

Each state change is one conditional write (StoreConflict means someone else moved first, so
we re-read and decide again). Every IAM write happens under the role's lock, as a
read-modify-write of the whole trust policy, because IAM has no version check of its own.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from . import messages
from .commands import RequestCommand
from .decisions import Refusal, Refused, approve, check_decider, check_request, deny
from .errors import AwsUnavailable, LockBusy, RoleMissing, StoreConflict
from .iam import IamGateway
from .model import (
    AccessRequest,
    State,
    TransitionError,
    iso,
    new_request_id,
    parse_iso,
    transition,
    utc,
)
from .outbox import Outbox
from .policies import Catalog, RoleSpec
from .store import OutboxMessage, Store
from .trust import Grant, QuotaExceeded, add_grants, check_quota, remove_grants

log = logging.getLogger("switchback")

BROKER = "switchback"
RESPONSE_URL_LIFETIME = timedelta(minutes=30)  # Slack's limit on a slash command's response_url
CONFLICT_RETRIES = 8


def system_clock() -> datetime:
    return utc(datetime.now(UTC))


@dataclass
class SweepReport:
    expired: int = 0
    lapsed: int = 0
    granted: int = 0
    messages_sent: int = 0
    errors: list[str] = field(default_factory=list)


class Switchback:
    def __init__(
        self,
        catalog: Catalog,
        store: Store,
        iam: IamGateway,
        outbox: Outbox,
        default_webhook: str | None,
        base_url: str = "",
        clock: Callable[[], datetime] = system_clock,
    ):
        self.catalog = catalog
        self.store = store
        self.iam = iam
        self.outbox = outbox
        self.default_webhook = default_webhook
        self.base_url = base_url
        self.clock = clock
        self._unsent: list[OutboxMessage | None] = []

    # -- messages ----------------------------------------------------------------------------
    def _approvers_channel(self, role_name: str) -> str | None:
        role = self.catalog.role(role_name)
        return (role.webhook_url if role and role.webhook_url else None) or self.default_webhook

    def _tell_approvers(self, request: AccessRequest, payload: dict, kind: str) -> None:
        self._unsent.append(
            self.outbox.enqueue(
                self._approvers_channel(request.role), payload, kind, request.id, self.clock()
            )
        )

    def _tell_requester(self, request: AccessRequest, text: str, kind: str) -> None:
        now = self.clock()
        fresh = request.response_url and now - parse_iso(request.created_at) < RESPONSE_URL_LIFETIME
        if fresh:
            url, payload = request.response_url, messages.to_requester(text)
        else:  # response_url expired: say it in the approvers' channel, mentioning them
            url = self._approvers_channel(request.role)
            payload = {
                "text": f"{messages.mention(request.requester)} {text}",
                "blocks": [messages.section(f"{messages.mention(request.requester)} {text}")],
            }
        self._unsent.append(self.outbox.enqueue(url, payload, kind, request.id, now))

    def flush(self, seconds: float) -> None:
        """Send what this call queued, within ``seconds``; the rest goes with the next sweep."""
        unsent, self._unsent = self._unsent, []
        self.outbox.send_now(unsent, self.clock(), time.monotonic() + seconds)

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
        log.info(
            "access.requested %s %s by %s for %ss",
            request.id,
            role.role_arn,
            requester,
            request.duration_seconds,
        )
        self._tell_approvers(
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
        log.info(
            "access.approved %s by %s (%d of %d)",
            request.id,
            approver,
            len(request.approvals),
            request.approvals_required,
        )
        if request.state is State.APPROVED:
            self._tell_approvers(
                request,
                messages.approvers_update(request, "approved", approver),
                "approvers.approved",
            )
            request = self.grant(request)
        return request

    def deny(self, request_id: str, approver: str, reason: str = "") -> AccessRequest:
        def decide(current: AccessRequest, now: datetime) -> AccessRequest:
            check_decider(self.catalog, current, approver, now)
            return deny(current, approver, now, reason)

        request = self._change(request_id, decide)
        log.info("access.denied %s by %s", request.id, approver)
        self._tell_approvers(
            request,
            messages.approvers_update(request, "denied", approver, reason),
            "approvers.denied",
        )
        self._tell_requester(
            request,
            messages.requester_update(request, "denied", approver, reason),
            "requester.denied",
        )
        return request

    def cancel(self, request_id: str, requester: str) -> AccessRequest:
        def cancel(r: AccessRequest, now: datetime) -> AccessRequest:
            if r.requester != requester:
                raise Refused(Refusal.NOT_A_REQUESTER, "Only the requester can cancel a request.")
            if r.state is not State.PENDING:
                raise Refused(
                    Refusal.NOT_PENDING,
                    f"Request {r.id} is {r.state.value.lower()}; "
                    "only pending requests can be cancelled.",
                )
            return transition(r, State.CANCELLED, requester, "cancelled", now)

        request = self._change(request_id, cancel)
        self._tell_approvers(
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
        grant = Grant(
            request_id=request.id,
            principal_arn=request.principal_arn,
            session_name=request.session_name,
            ends=request.ends(),
            require_mfa=request.require_mfa,
        )
        try:
            if grant.ends <= self.clock():
                raise _CannotGrant("the access window ended before the grant could be written")
            with self.store.lock(f"role:{request.role_arn}"):
                trust = self.iam.read(request.role_arn)
                now = self.clock()
                updated = add_grants(trust.trust_policy, [grant], now)
                check_quota(updated, self.iam.trust_quota())
                if updated != trust.trust_policy:
                    self.iam.write_trust(request.role_arn, updated)
        except (QuotaExceeded, RoleMissing, _CannotGrant) as error:
            return self._fail(request, str(error))
        except (AwsUnavailable, LockBusy) as error:
            log.warning("grant.delayed %s %s: %s", request.id, request.role_arn, error)
            return request  # stays APPROVED; the next sweep finishes it
        log.info(
            "trust.updated %s %s principal=%s until=%s",
            request.id,
            request.role_arn,
            request.principal_arn,
            request.ends_at,
        )
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
        role = self.catalog.role(request.role)
        self._tell_requester(active, messages.requester_granted(active, role), "requester.granted")
        self._tell_approvers(
            active,
            messages.approvers_update(active, "granted", None, f"until {active.ends_at}"),
            "approvers.granted",
        )
        return active

    def _fail(self, request: AccessRequest, reason: str) -> AccessRequest:
        log.error("grant.failed %s %s: %s", request.id, request.role_arn, reason)
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
        self._tell_requester(
            failed, messages.requester_update(failed, "failed", None, reason), "requester.failed"
        )
        self._tell_approvers(
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
            raise AwsUnavailable(
                "AWS did not answer; the grant still ends at its time. Try again in a minute."
            )
        return ended[0]

    def _end_grants(
        self, role_arn: str, requests: list[AccessRequest], to: State, actor: str
    ) -> list[AccessRequest]:
        """Remove these grants' statements in one write, then record each as ended."""
        with self.store.lock(f"role:{role_arn}"):
            now = self.clock()
            try:
                trust = self.iam.read(role_arn)
            except RoleMissing:
                trust = None  # nothing left to trust anyone; just record the end
            if trust is not None:
                updated = remove_grants(trust.trust_policy, {r.sid for r in requests}, now)
                if updated != trust.trust_policy:
                    self.iam.write_trust(role_arn, updated)
        what = "expired" if to is State.EXPIRED else "revoked"
        ended = []
        for request in requests:
            try:
                done = self.store.save_request(
                    transition(request, to, actor, what, self.clock(), detail="trust removed")
                )
            except (StoreConflict, TransitionError):
                continue  # someone else ended it meanwhile
            log.info("access.%s %s %s principal=%s", what, done.id, role_arn, done.principal_arn)
            self._tell_requester(
                done, messages.requester_update(done, what, actor), f"requester.{what}"
            )
            self._tell_approvers(
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
                log.warning("sweep.role_failed %s: %s", role_arn, error)
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
            self._tell_requester(
                lapsed,
                messages.requester_update(lapsed, "lapsed", None, "nobody decided in time"),
                "requester.lapsed",
            )
            self._tell_approvers(
                lapsed, messages.approvers_update(lapsed, "lapsed", None), "approvers.lapsed"
            )
        self.flush(20.0)
        report.messages_sent = self.outbox.deliver_due(self.clock())
        return report

    def role_spec(self, name: str) -> RoleSpec | None:
        return self.catalog.role(name)


class _CannotGrant(Exception):
    pass
