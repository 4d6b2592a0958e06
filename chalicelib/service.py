"""Use cases: request, approve, deny, cancel, revoke, grant and the sweep.

Each state change is one conditional write (StoreConflict means someone else moved first, so
we re-read and decide again), and the messages it owes are stored in that same write
(``_commit``): a process that dies after any write has either changed nothing or left the
change and its messages for the sweep to deliver. Every IAM change is one locked step per
role (``settle_role``): read the role, plan both policies from the store
(chalicelib/core/roleplan.py), write each at most once, record the state changes.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property

from chalicelib import telemetry
from chalicelib.aws.grants import Lease, RoleWriter, TrustWriteFailed, Written
from chalicelib.aws.slots import GrantSlots
from chalicelib.aws.store import Store
from chalicelib.core import deadline, events, roleplan, session_limits
from chalicelib.core.breakglass import FLAGGED, check_reviewer, reviewed
from chalicelib.core.catalog import Catalog, Person, RoleSpec
from chalicelib.core.commands import ExtendCommand, RequestCommand
from chalicelib.core.decisions import (
    Refusal,
    Refused,
    approve,
    check_decider,
    check_request,
    check_revoker,
    deny,
    is_approver,
    may_request,
)
from chalicelib.core.errors import (
    AwsUnavailable,
    LockBusy,
    LockHandedOver,
    PolicyRejected,
    RoleMissing,
    StoreConflict,
)
from chalicelib.core.events import Event
from chalicelib.core.extensions import check_extension, extended, extended_end
from chalicelib.core.groups import GroupsUnavailable, Members, no_groups
from chalicelib.core.model import (
    AccessRequest,
    State,
    TransitionError,
    is_request_id,
    iso,
    new_request_id,
    normalise_request_id,
    note,
    parse_iso,
    transition,
    utc,
)
from chalicelib.core.texts import extension_title, utc_text
from chalicelib.core.trust import Grant, statement_for
from chalicelib.notify.port import Notifications

BROKER = "switchback"
# What a state change owes: the events it announces (their messages are written with it).
Owes = Callable[[AccessRequest], Iterable[Event]]
CONFLICT_RETRIES = 8
REMINDER_LEAD = timedelta(minutes=10)  # requesters hear this long before their access ends


def _about(request: AccessRequest) -> dict:
    """What every event about a request carries: who, which role, until when."""
    return {
        "request_id": request.id,
        "role_arn": request.role_arn,
        "principal": request.principal_arn,
        "expires": request.ends_at,
    }


def system_clock() -> datetime:
    return utc(datetime.now(UTC))


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


@dataclass
class Settled:
    """What one settled role step changed in the store."""

    activated: list[AccessRequest] = field(default_factory=list)
    expired: list[AccessRequest] = field(default_factory=list)
    failed: list[AccessRequest] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)
    missing_role: bool = False
    written: Written | None = None

    def merge(self, other: Settled) -> None:
        """Add what a further step under the same lock changed."""
        self.activated += other.activated
        self.expired += other.expired
        self.failed += other.failed
        self.drift += other.drift
        self.missing_role = self.missing_role or other.missing_role
        self.written = other.written or self.written

    def ids(self) -> set[str]:
        return {r.id for r in self.activated + self.expired + self.failed}

    def find(self, request_id: str) -> AccessRequest | None:
        return next(
            (r for r in self.activated + self.expired + self.failed if r.id == request_id), None
        )


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
    ):
        self.catalog = catalog
        # Who is in a Slack user group (approvers and requesters may name one): asked at
        # every decision, answered from a cache at most five minutes old.
        self.groups = groups
        self.store = store
        self.writer = writer
        # The notification port: told what happened; its subscribers decide who hears it.
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
        if command.break_glass:
            return self.break_glass(requester, command, response_url)
        role, duration = check_request(
            self.catalog, requester, command.role, command.duration, command.reason, self.groups
        )
        now = self.clock()
        request = self._new_request(
            role,
            requester,
            duration,
            command.reason,
            response_url,
            now,
            approval_deadline=iso(now + role.approval_timeout),
        )
        request = self._commit(
            transition(request, State.PENDING, requester, "requested", now, detail=command.reason),
            lambda r: [self._event(events.REQUESTED, r, requester)],
            new=True,
        )
        telemetry.event(
            "access.requested",
            **_about(request),
            seconds=request.duration_seconds,
        )
        telemetry.metric("requests")
        return request

    def _new_request(
        self,
        role: RoleSpec,
        requester: str,
        duration: timedelta,
        reason: str,
        response_url: str | None,
        now: datetime,
        **fields,
    ) -> AccessRequest:
        """A request as ``requester`` makes it now, for the person the directory names."""
        person = self.catalog.people[requester]
        return AccessRequest(
            id=new_request_id(),
            role=role.name,
            role_arn=role.role_arn,
            requester=requester,
            requester_name=person.name,
            principal_arn=person.aws,
            duration_seconds=int(duration.total_seconds()),
            reason=reason,
            created_at=iso(now),
            approvals_required=role.approvals_required,
            require_mfa=role.require_mfa,
            response_url=response_url,
            told=self.notify.direct_recipients(role.name, requester),
            **fields,
        )

    # -- what the review page shows ---------------------------------------------------------
    def what_approving_writes(
        self, request: AccessRequest, now: datetime
    ) -> list[tuple[str, dict]]:
        """What a grant of ``request`` writes in IAM, exactly as the approver should see it:
        a title and a document for the trust statement and for the session limit."""
        role = self.catalog.role(request.role)
        ends = request.ends() or request.end_if_approved_at(now)
        if request.extends and request.ends_at is None:  # an extension: its grant, moved later
            grant_now = self.get(request.extends)
            if grant_now and grant_now.ends() and role:
                moved = extended_end(grant_now.ends(), request.duration, now, role.max_duration)
                ends = moved or grant_now.ends()
        grant = Grant.of(request, ends)
        deny_chaining = not (role and role.allow_role_chaining)
        limits = session_limits.grant_statements(grant.session_name, ends, deny_chaining)
        return [
            (
                "Trust policy statement (others whose access ends near the same time may share it)",
                statement_for(grant, self.writer.tag),
            ),
            (
                f"Session limit, in the role's inline policy {self.writer.limits_policy}",
                {"Statement": limits},
            ),
        ]

    # -- signed commands run once --------------------------------------------------------------
    def arrived(self, key: str, forget_at: int) -> tuple[bool, str | None]:
        """Record a signed command's arrival: (True, None) the first time, else (False, the
        answer kept for it, if any)."""
        return self.store.first_arrival(key, forget_at)

    def answered(self, key: str, answer: str, forget_at: int) -> None:
        """Keep the answer to a command for a copy of it that arrives later."""
        self.store.keep_answer(key, answer, forget_at)

    # -- reading, for the slash command -------------------------------------------------------
    def requests_of(self, person: str) -> list[AccessRequest]:
        """The person's latest requests, newest first (one Query of the by-person index)."""
        return self.store.requests_of(person)

    def awaiting(self, approver: str, now: datetime) -> list[AccessRequest]:
        """Pending requests ``approver`` may decide now, others' only: one Query per role they
        approve, so the cost does not grow with everyone else's requests."""
        theirs = sorted(
            {r.role_arn for r in self.catalog.roles.values() if approver in r.approvers}
        )
        return [
            r
            for role_arn in theirs
            for r in self.store.pending_of_role(role_arn)
            if r.requester != approver
            and approver not in r.approvals
            and parse_iso(r.approval_deadline) > now
            and (role := self.catalog.role(r.role))
            and self._approves(role, approver)
        ]

    def _approves(self, role: RoleSpec, person: str) -> bool:
        try:
            return is_approver(self.catalog, role, person, self.groups)
        except GroupsUnavailable:
            return False

    def free_slots(self, person: Person | None, roles: list[RoleSpec]) -> dict[str, int | None]:
        """For `/access roles`: how many more grants fit each role (None: IAM did not say in
        time); nothing for someone not in the directory."""
        return self._grant_slots.free(roles, person, self.clock()) if person else {}

    @cached_property
    def _grant_slots(self) -> GrantSlots:
        return GrantSlots(self.writer.iam)

    def get(self, request_id: str) -> AccessRequest | None:
        return self.store.get_request(request_id)

    # -- deciding ----------------------------------------------------------------------------
    def approve(
        self, request_id: str, approver: str, known: AccessRequest | None = None
    ) -> AccessRequest:
        """``known``: the request as the caller just read it (the review page did, to show
        it); the write's version condition catches any change since."""
        found = known if known is not None else self.store.get_request(request_id)
        if found is not None and found.extends:
            return self._approve_extension(request_id, approver)

        def decide(current: AccessRequest, now: datetime) -> AccessRequest:
            role = check_decider(self.catalog, current, approver, now, members=self.groups)
            return approve(current, approver, now, role, self.groups)

        request = self._change(
            request_id, decide, lambda r: [self._approval(r, approver)], known=found
        )
        telemetry.event(
            "access.approved",
            **_about(request),
            approver=approver,
            approvals=len(request.approvals),
            required=request.approvals_required,
        )
        telemetry.metric("approvals")
        if request.state is State.APPROVED:
            request = self.grant(request)
        return request

    def deny(self, request_id: str, approver: str, reason: str = "") -> AccessRequest:
        def decide(current: AccessRequest, now: datetime) -> AccessRequest:
            check_decider(
                self.catalog, current, approver, now, approving=False, members=self.groups
            )
            return deny(current, approver, now, reason)

        request = self._change(
            request_id, decide, lambda r: [self._event(events.DENIED, r, approver, reason)]
        )
        telemetry.event(
            "access.denied",
            **_about(request),
            approver=approver,
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

        request = self._change(
            request_id, cancel, lambda r: [self._event(events.CANCELLED, r, requester)]
        )
        telemetry.event(
            "access.cancelled",
            **_about(request),
        )
        return request

    def _change(
        self,
        request_id: str,
        decide: Callable[[AccessRequest, datetime], AccessRequest],
        owes: Owes,
        known: AccessRequest | None = None,
    ) -> AccessRequest:
        """Read, decide, conditionally write with the messages the change ``owes``; on a lost
        race read again and decide again. ``known``: the request as the caller just read it,
        used for the first try instead of a second read (the write's version condition
        catches any change since)."""
        for attempt in range(CONFLICT_RETRIES):
            current = known if attempt == 0 and known else self.store.get_request(request_id)
            if current is None:
                raise Refused(Refusal.NOT_PENDING, f"There is no request {request_id}.")
            try:
                return self._commit(decide(current, self.clock()), owes)
            except StoreConflict:
                # Full jitter: a burst of clicks spreads out instead of colliding again.
                time.sleep(random.uniform(0, min(0.25, 0.01 * 2**attempt)))
                continue
            except TransitionError as error:
                raise Refused(Refusal.NOT_PENDING, str(error)) from error
        raise LockBusy(f"request {request_id} is changing too fast; try again")

    def _commit(self, changed: AccessRequest, owes: Owes, new: bool = False) -> AccessRequest:
        """Write one state change and the messages its events owe (``owes(changed)`` says
        what happened) in one conditional write. Raises StoreConflict, AwsUnavailable
        (AwsUncertain: it may have been written)."""
        owed = self.notify.owes(owes(changed))
        write = self.store.create_request if new else self.store.save_request
        saved = write(changed, owed)
        self.notify.stored(owed)
        return saved

    def _event(
        self, name: str, request: AccessRequest, actor: str | None = None, detail: str = "", **more
    ) -> Event:
        """``name`` happened to ``request`` now, by ``actor``."""
        return Event(name, self.clock(), request, actor, detail, base_url=self.base_url, **more)

    def _approval(self, request: AccessRequest, approver: str) -> Event:
        """An approval counted: the request is approved, or waits for more."""
        if request.state is State.PENDING:
            return self._event(events.APPROVAL_COUNTED, request, approver)
        return self._event(events.APPROVED, request, approver)

    # -- granting and ending -------------------------------------------------------------------
    def grant(self, request: AccessRequest) -> AccessRequest:
        """Write the trust statement and session limit of an APPROVED request, then mark it
        ACTIVE (or FAILED with the reason, if it cannot be granted).

        Safe to repeat: the sweep settles every role with an APPROVED request again. If AWS or
        the lock is busy, the request stays APPROVED and the next sweep finishes it.
        """
        try:
            # A step already holding the role's lock is handed this request rather than waited
            # for: it grants it before letting go (a burst of clicks costs one step a role).
            settled = self.settle_role(request.role_arn, also={request.id}, hand_over=request.id)
        except LockHandedOver:
            # As this click left it: the holder grants it before letting go (no re-read, so
            # a burst of clicks on one role costs no more than the clicks themselves).
            return request
        except (AwsUnavailable, LockBusy) as error:
            telemetry.event(
                "grant.delayed",
                logging.WARNING,
                **_about(request),
                error=str(error),
            )
            return self._latest(request)
        return settled.find(request.id) or self._latest(request)

    def _latest(self, request: AccessRequest) -> AccessRequest:
        """``request`` as stored now; as we last wrote it if AWS cannot say (it was recorded:
        a caller must never hear that nothing changed)."""
        try:
            return self.store.get_request(request.id) or request
        except AwsUnavailable:
            return request

    def record(self, request_id: str, actor: str, action: str, detail: str = "") -> AccessRequest:
        """Add an entry to the request's audit trail without changing its state (an operator
        looked at it)."""
        return self._change(
            request_id,
            lambda current, now: note(current, actor, action, now, detail),
            lambda _: [],  # a note owes nobody a message
        )

    def revoke(self, request_id: str, actor: str, operator: bool = False) -> AccessRequest:
        return self.revoke_with_outcome(request_id, actor, operator)[0]

    def revoke_with_outcome(
        self, request_id: str, actor: str, operator: bool = False
    ) -> tuple[AccessRequest, str]:
        """End an ACTIVE grant now: recorded REVOKED first, then its trust statement removed
        and its holder's session limit moved to now (unless another grant of theirs on the role
        is still live), in one locked step.

        Recorded first so that a crash between the writes can only leave IAM behind the store,
        which the next sweep repairs; never an ACTIVE grant whose trust was already removed.

        ``operator``: the actor is an operator with AWS credentials on the table (the operator
        CLI, ``aws:<their ARN>``), who may end any grant; Slack users are checked as usual.

        Returns the request and, in words for the revoker, what happened in IAM (AWS slow or the
        role busy: the next sweep finishes it).
        """

        def revoke(current: AccessRequest, now: datetime) -> AccessRequest:
            check_revoker(self.catalog, current, actor, self.groups, operator)
            return transition(
                current, State.REVOKED, actor, "revoked", now, detail="access ended early"
            )

        revoked = self._change(
            request_id, revoke, lambda r: [self._event(events.REVOKED, r, actor)]
        )
        telemetry.event(
            "access.revoked",
            **_about(revoked),
            by=actor,
        )
        telemetry.metric("revokes")
        # Everybody hears of the revoke (committed with it, above); the revoker also hears
        # exactly what happened in IAM.
        outcome, complete = self._end_now(revoked)
        if not complete:  # what is still owed in IAM: everybody hears it, not only the revoker
            try:
                self.notify.publish(self._event(events.REVOKE_UNFINISHED, revoked, actor, outcome))
            except AwsUnavailable:  # the revoke is recorded and told; this follow-up is extra
                logging.getLogger("switchback").warning("revoke follow-up lost", exc_info=True)
        return revoked, outcome

    def _end_now(self, revoked: AccessRequest) -> tuple[str, bool]:
        """Write the revoke's cut and remove its trust; say exactly what happened, and
        whether all of it did."""
        try:
            self.settle_role(revoked.role_arn, also={revoked.id})
        except TrustWriteFailed as error:
            telemetry.event(
                "revoke.partial", logging.WARNING, **_about(revoked), error=str(error.error)
            )
            outcome = (
                "Every session of theirs on this role is denied from now on (the session limit "
                f"is written), but IAM did not take the trust-policy change ({error.error}); "
                "the sweep retries it every minute, and any session taken meanwhile is denied."
            )
        except (AwsUnavailable, LockBusy) as error:
            telemetry.event(
                "revoke.delayed",
                logging.WARNING,
                **_about(revoked),
                error=str(error),
            )
            outcome = (
                f"AWS is slow right now and IAM could not be changed yet ({error}): sessions are "
                "not cut yet. The next sweep finishes it within a minute or two; the grant's own "
                "end still holds."
            )
        else:
            return "The trust is removed and every session of theirs is denied from now on.", True
        return outcome, False

    def settle_role(
        self,
        role_arn: str,
        known: list[AccessRequest] | None = None,
        also: Iterable[str] = (),
        lock_first: bool = True,
        hand_over: str | None = None,
    ) -> Settled:
        """Make one role's IAM policies say what the store says, in one locked step: one read,
        at most one write of the ledger, the session limits and the trust policy, then the
        state changes, then the messages.

        ``known``: this role's APPROVED and ACTIVE requests as the caller found them (None:
        query them). ``also``: more request ids to look at. ``lock_first=False`` reads first
        without the lock and takes it only if there is something to change (idle roles in the
        sweep cost three reads and no writes). Raises AwsUnavailable, LockBusy, and
        TrustWriteFailed (the session limits are written, the trust policy is not).
        """
        if known is None and not lock_first:
            known = self.store.open_grants(role_arn)
        ids = {r.id for r in known or ()} | set(also)
        spec = self.catalog.role_by_arn(role_arn)
        chaining = bool(spec and spec.allow_role_chaining)
        if not lock_first:
            try:
                view = self.writer.view(role_arn)
            except RoleMissing:
                if not ids:
                    return Settled(missing_role=True)  # nothing to fail: no lock needed
                view = None
            if view is not None:
                # The index may lag; a plan on its data is good enough to see that nothing
                # needs doing, and anything that does is planned again under the lock.
                fresh = {r.id: r for r in known}
                plan = roleplan.plan(
                    view,
                    fresh.values(),
                    self.clock(),
                    self.writer.trust_quota(role_arn),
                    ineligible=self._ineligible(fresh.values()),
                    allow_chaining=chaining,
                )
                if not plan.changes_anything(view):
                    return Settled()
        with self.writer.locked(role_arn, hand_over) as lease:
            if known is None:
                # Read under the lock, by its holder only: a click that finds the lock held
                # hands its id over without this Query, and the holder sees every request
                # approved until it took the lock.
                ids |= {r.id for r in self.store.open_grants(role_arn)}
            settled = self._settle_locked(role_arn, ids | lease.inherited(), chaining, lease)
            # Clicks that found the lock held left their request ids with it: grant those too
            # before letting go, so none of them waits for the next sweep. Ids this step has
            # already recorded need no second look.
            while more := lease.take_pending():
                if more := more - settled.ids():
                    settled.merge(self._settle_locked(role_arn, more, chaining, lease))
        self._announce(role_arn, settled)
        return settled

    def _settle_locked(self, role_arn: str, ids: set[str], chaining: bool, lease: Lease) -> Settled:
        """One planned, written and recorded step on a role whose lock we hold."""
        now = self.clock()
        try:
            view = self.writer.view(role_arn)
        except RoleMissing:
            requests = self.store.get_requests(ids)
            expire, fail = roleplan.plan_role_missing(role_arn, requests, now)
            settled = self._record(roleplan.RolePlan({}, None, expire=expire, fail=fail))
            settled.missing_role = True
        else:
            # Also every grant the ledger says holds trust: ``known`` was read before the
            # lock, and a step that ran meanwhile may have granted more.
            requests = self.store.get_requests(ids | session_limits.held_by(view.ledger))
            quota = self.writer.trust_quota(role_arn)
            ineligible = self._ineligible(requests)

            def planned(view: roleplan.RoleView, rejected=None) -> roleplan.RolePlan:
                return roleplan.plan(
                    view,
                    requests,
                    now,
                    quota,
                    rejected=rejected,
                    ineligible=ineligible,
                    allow_chaining=chaining,
                )

            plan = planned(view)
            try:
                settled_written = self.writer.write(view, plan, lease)
            except (PolicyRejected, TrustWriteFailed) as error:
                cause = error.error if isinstance(error, TrustWriteFailed) else error
                # IAM refused what this step adds (its own size limit, a principal it no
                # longer knows): those grants fail, everything else is written.
                if not isinstance(cause, PolicyRejected) or not plan.added:
                    raise
                view = self.writer.view(role_arn)
                plan = planned(view, rejected=dict.fromkeys(plan.added, str(cause)))
                settled_written = self.writer.write(view, plan, lease)
            for note in plan.drift:
                telemetry.event("drift.repaired", logging.WARNING, role_arn=role_arn, what=note)
            settled = self._record(plan)
            settled.drift = list(plan.drift)
            settled.written = settled_written
        return settled

    def _ineligible(self, requests: Iterable[AccessRequest]) -> dict[str, str]:
        """Open grants whose requester the policies no longer allow on the role: removed from
        people.toml, from the role's requesters, or given another IAM user."""
        found: dict[str, str] = {}
        for request in requests:
            if request.state not in (State.ACTIVE, State.APPROVED):
                continue
            role = self.catalog.role(request.role)
            if role is None or role.role_arn != request.role_arn:
                continue  # a role dropped from the policies keeps its grants to their end
            person = self.catalog.person(request.requester)
            if person is None:
                found[request.id] = (
                    f"{request.requester_name} was removed from people.toml; access ended"
                )
            elif person.aws != request.principal_arn:
                found[request.id] = (
                    f"{request.requester_name}'s IAM user changed in people.toml; access ended"
                )
            elif not self._still_requester(request, role):
                found[request.id] = (
                    f"{request.requester_name} may no longer request {role.name}; access ended"
                )
        return found

    def _still_requester(self, request: AccessRequest, role) -> bool:
        """Whether the policies still let the holder of an open grant hold it (break-glass
        grants by ``break_glass_requesters``). A Slack user group that cannot be resolved
        now ends nothing: only what the policy files say does."""
        try:
            return may_request(
                self.catalog, request.requester, role, self.groups, request.break_glass
            )
        except GroupsUnavailable:
            return True

    def _record(self, plan: roleplan.RolePlan) -> Settled:
        """The state changes of a written plan, each with its messages, written together in
        as few transactions as fit (a step that granted ten requests writes them at once)."""
        now = self.clock()

        steps = [
            ("activated", r, State.ACTIVE, "granted", f"trusted until {r.ends_at}", {})
            for r in plan.activate
        ]
        steps += [
            ("expired", r, State.EXPIRED, "expired", "trust removed", {}) for r in plan.expire
        ]
        steps += [
            ("failed", r, State.FAILED, "grant failed", why, {"failure": why})
            for r, why in plan.fail
        ]
        owed_by: dict[str, Owes] = {
            "activated": lambda r: [self._event(events.GRANTED, r)],
            "expired": lambda r: [self._event(events.EXPIRED, r, BROKER)],
            "failed": lambda r: [self._event(events.GRANT_FAILED, r, BROKER, r.failure or "")],
        }
        kinds, changes = [], []
        for kind, request, to, action, detail, fields in steps:
            try:
                changed = transition(request, to, BROKER, action, now, detail=detail, **fields)
            except TransitionError:
                continue  # someone else moved it first (a revoke, a concurrent step)
            kinds.append(kind)
            changes.append((changed, owed_by[kind]))
        settled = Settled()
        for kind, saved in zip(kinds, self._commit_each(changes), strict=True):
            if saved is not None:  # None: someone else moved it first
                getattr(settled, kind).append(saved)
        return settled

    def _commit_each(self, changes: list[tuple[AccessRequest, Owes]]) -> list[AccessRequest | None]:
        """Like ``_commit`` for several changes at once: each change is written with the
        messages its events owe; one that lost a race is None and the others are still
        written."""
        batch = [(changed, self.notify.owes(owes(changed))) for changed, owes in changes]
        saved = self.store.save_requests(batch)
        for (_, owed), done in zip(batch, saved, strict=True):
            if done is not None:
                self.notify.stored(owed)
        return saved

    def _announce(self, role_arn: str, settled: Settled) -> None:
        """Telemetry for what a step recorded (its messages were stored with each change); the
        drift it repaired is published on its own (no state change carries it)."""
        for repaired in settled.drift:
            drift = Event(events.DRIFT_REPAIRED, self.clock(), actor=BROKER, detail=repaired)
            try:
                self.notify.publish(replace(drift, role_arn=role_arn))
            except AwsUnavailable:  # repaired and logged; only the notice is lost
                logging.getLogger("switchback").warning("drift notice lost", exc_info=True)
        for active in settled.activated:
            telemetry.event(
                "access.granted",
                **_about(active),
                break_glass=active.break_glass,
            )
            telemetry.metric("grants")
            if active.break_glass:
                telemetry.metric("breakglass")
        for done in settled.expired:
            telemetry.event(
                "access.expired",
                **_about(done),
            )
            telemetry.metric("expiries")
        for failed in settled.failed:
            telemetry.event(
                "grant.failed",
                logging.ERROR,
                **_about(failed),
                reason=failed.failure,
            )
            telemetry.metric("failures")

    # -- extending a grant -----------------------------------------------------------------------
    def extend(
        self, requester: str, command: ExtendCommand, response_url: str | None
    ) -> AccessRequest:
        """Ask to move an ACTIVE grant's end later: a request of its own (``extends``),
        approved like any other. The grant is not touched while it waits."""
        now = self.clock()
        grant_id = normalise_request_id(command.request_id)
        grant = self.store.get_request(grant_id) if is_request_id(grant_id) else None
        role = check_extension(self.catalog, grant, requester, command.duration, now, self.groups)
        extension = AccessRequest(
            id=new_request_id(),
            role=grant.role,
            role_arn=grant.role_arn,
            requester=requester,
            requester_name=grant.requester_name,
            principal_arn=grant.principal_arn,
            duration_seconds=int(command.duration.total_seconds()),
            reason=command.reason,
            created_at=iso(now),
            # Decided before the grant ends, or not at all: it lapses with the grant.
            approval_deadline=iso(min(now + role.approval_timeout, grant.ends())),
            approvals_required=role.approvals_required,
            require_mfa=grant.require_mfa,
            response_url=response_url,
            told=self.notify.direct_recipients(role.name, requester),
            extends=grant.id,
        )
        extension = self._commit(
            transition(
                extension,
                State.PENDING,
                requester,
                "extension requested",
                now,
                detail=f"{extension_title(extension)}: {command.reason}".rstrip(": "),
            ),
            lambda r: [self._event(events.EXTENSION_REQUESTED, r, requester, related=grant)],
            new=True,
        )
        telemetry.event(
            "access.extension_requested",
            **_about(extension),
            extends=grant.id,
            seconds=extension.duration_seconds,
        )
        return extension

    def _approve_extension(self, extension_id: str, approver: str) -> AccessRequest:
        """Count an approval of an extension; the one that reaches the quorum moves the
        grant's end, and records the extension EXTENDED, in one transaction; then trust and
        session limit move together in one locked step. If the grant is no longer active,
        or already ends as late as it may, the extension FAILS and the grant is untouched."""
        for attempt in range(CONFLICT_RETRIES):
            current = self.store.get_request(extension_id)
            if current is None:
                raise Refused(Refusal.NOT_PENDING, f"There is no request {extension_id}.")
            now = self.clock()
            role = check_decider(self.catalog, current, approver, now, members=self.groups)
            counted = approve(current, approver, now, role, self.groups)
            try:
                if counted.state is State.PENDING:
                    return self._commit(counted, lambda r: [self._approval(r, approver)])
                grant = self.store.get_request(current.extends or "")
                new_end = None
                if grant and grant.state is State.ACTIVE and grant.ends() > now:
                    new_end = extended_end(grant.ends(), current.duration, now, role.max_duration)
                if grant is None or new_end is None:
                    why = (
                        f"the grant {current.extends} already ends as late as {role.name} allows "
                        f"({utc_text(grant.ends_at)})"
                        if grant and grant.state is State.ACTIVE and grant.ends() > now
                        else f"the grant {current.extends} is no longer active"
                    )
                    failed = self._commit(
                        transition(
                            current,
                            State.FAILED,
                            approver,
                            "approved",
                            now,
                            detail=why,
                            approvals=counted.approvals,
                            failure=why,
                        ),
                        lambda r: [
                            self._event(events.EXTENSION_FAILED, r, approver, r.failure or "")
                        ],
                    )
                    return failed
                done = transition(
                    current,
                    State.EXTENDED,
                    approver,
                    "approved",
                    now,
                    detail=f"{grant.id} now ends {iso(new_end)}",
                    approvals=counted.approvals,
                    ends_at=iso(new_end),
                )
                moved = extended(grant, done, new_end, now)
                owed = self.notify.owes(
                    [self._event(events.EXTENDED, moved, approver, related=done)]
                )
                done, moved = self.store.save_pair(done, moved, owed)
                self.notify.stored(owed)
            except StoreConflict:
                time.sleep(random.uniform(0, min(0.25, 0.01 * 2**attempt)))
                continue
            telemetry.event(
                "access.extended",
                **_about(moved),
                extension=done.id,
                previous_end=grant.ends_at,
                by=approver,
            )
            telemetry.metric("extensions")
            self._settle_now(moved)
            return done
        raise LockBusy(f"request {extension_id} is changing too fast; try again")

    def _settle_now(self, request: AccessRequest) -> None:
        """Write the role's policies for ``request`` now (the sweep retries if AWS is busy)."""
        try:
            self.settle_role(request.role_arn, also={request.id})
        except (AwsUnavailable, LockBusy, TrustWriteFailed) as error:
            telemetry.event("settle.delayed", logging.WARNING, **_about(request), error=str(error))

    # -- break-glass -----------------------------------------------------------------------------
    def break_glass(
        self, requester: str, command: RequestCommand, response_url: str | None
    ) -> AccessRequest:
        """Grant at once, without approval, for at most the role's ``break_glass_max``; loud
        in the approvers' channel (and ``break_glass_webhook_url``); reviewed afterwards."""
        role, duration = check_request(
            self.catalog,
            requester,
            command.role,
            command.duration,
            command.reason,
            self.groups,
            break_glass=True,
        )
        now = self.clock()
        request = self._new_request(
            role,
            requester,
            duration,
            command.reason,
            response_url,
            now,
            approval_deadline=iso(now),
            break_glass=True,
        )
        pending = transition(
            request, State.PENDING, requester, "break-glass", now, detail=command.reason
        )
        approved = transition(
            pending,
            State.APPROVED,
            requester,
            "taken without approval",
            now,
            detail="granted without approval; approvers review it afterwards",
            ends_at=iso(now + duration),
        )
        # The review is awaited before the grant exists: a crash in between leaves a review
        # of nothing (dropped by the sweep), never a grant nobody is asked to review.
        self.store.await_review(request.id, iso(now + role.break_glass_review_within))
        approved = self._commit(
            approved,
            lambda r: [self._event(events.REQUESTED, r, requester)],
            new=True,
        )
        telemetry.event(
            "access.requested",
            **_about(approved),
            seconds=approved.duration_seconds,
            break_glass=True,
        )
        telemetry.metric("requests")
        return self.grant(approved)

    def review(self, request_id: str, actor: str, verdict: str, why: str = "") -> AccessRequest:
        """An approver acknowledges or flags a break-glass grant; a flag revokes it if it is
        still active, and everyone hears."""

        was_active: list[bool] = []

        def decide(current: AccessRequest, now: datetime) -> AccessRequest:
            check_reviewer(self.catalog, current, actor, self.groups)
            was_active[:] = [current.state is State.ACTIVE]
            return reviewed(current, actor, verdict, now, why)

        name = events.FLAGGED if verdict == FLAGGED else events.ACKNOWLEDGED
        done = self._change(request_id, decide, lambda r: [self._event(name, r, actor, why)])
        self.store.reviewed(done.id)
        telemetry.event(f"breakglass.{verdict}", **_about(done), by=actor, break_glass=True)
        if verdict == FLAGGED:
            telemetry.metric("breakglass_flagged")
            if was_active == [True]:
                telemetry.event("access.revoked", **_about(done), by=actor, break_glass=True)
                telemetry.metric("revokes")
                self._settle_now(done)
        return done

    def remind_unreviewed(self, now: datetime) -> int:
        """Remind the channel, once, of each break-glass grant still unreviewed past its
        role's ``break_glass_review_within``; count them in the ``breakglass_unreviewed``
        metric every sweep (an alarm watches it)."""
        overdue = 0
        for request_id in self.store.unreviewed(iso(now)):
            request = self.store.get_request(request_id)
            if request is None or request.review:
                self.store.reviewed(request_id)  # reviewed, or a grant that never was
                continue
            overdue += 1
            self.notify.publish(
                self._event(events.REVIEW_OVERDUE, request, once=f"{request.id}-review-reminder")
            )
        telemetry.metric("breakglass_unreviewed", overdue)
        return overdue

    # -- the sweep ---------------------------------------------------------------------------
    def sweep(self) -> SweepReport:
        """One pass: lapse undecided requests, settle every role (finish stuck grants, expire
        ended ones, cut and age out session limits, repair drift), resend undelivered messages.

        Every step is safe to repeat and to run twice at once; a role that fails is reported
        and the others go on.
        """
        report = SweepReport()
        now = self.clock()
        self._sweep_lapse_undecided(now, report)
        self._sweep_roles(now, report)
        report.reminded = self.remind_ending(self.clock())
        report.approvers_reminded = self.remind_approvers(self.clock())
        report.unreviewed = self.remind_unreviewed(self.clock())
        self._sweep_outbox(report)
        return report

    def _sweep_lapse_undecided(self, now: datetime, report: SweepReport) -> None:
        for request in self.store.due_requests(State.PENDING, iso(now)):
            try:
                self._commit(
                    transition(
                        request,
                        State.LAPSED,
                        BROKER,
                        "lapsed",
                        self.clock(),
                        detail="nobody decided in time",
                    ),
                    lambda r: [self._event(events.LAPSED, r, BROKER, "nobody decided in time")],
                )
            except (StoreConflict, TransitionError):
                continue
            except AwsUnavailable as error:  # the next sweep lapses it, with its messages
                report.errors.append(f"lapse {request.id}: {error}")
                continue
            report.lapsed += 1

    def _sweep_roles(self, now: datetime, report: SweepReport) -> None:
        """Settle each managed role, and any other role an open grant names: two Queries for
        all roles, then per role one IAM read and at most one write of each policy.

        A role whose lock is held (by a live step, or by a dead process until its lease
        lapses) is tried once and left for the end, so it delays only itself: every other role
        is settled first, then the held ones are waited for."""
        by_role: dict[str, list[AccessRequest]] = defaultdict(list)
        for state in (State.APPROVED, State.ACTIVE):
            for request in self.store.requests_in(state):
                by_role[request.role_arn].append(request)
        roles = sorted({r.role_arn for r in self.catalog.roles.values()} | set(by_role))
        held = []
        for role_arn in roles:
            with deadline.lock_patience(0.0):
                if not self._sweep_role(role_arn, by_role.get(role_arn, []), now, report, True):
                    held.append(role_arn)
        for role_arn in held:
            self._sweep_role(role_arn, by_role.get(role_arn, []), now, report, False)

    def _sweep_role(
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
            settled = self.settle_role(role_arn, known=known, lock_first=due)
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
        for request in self.store.due_requests(State.ACTIVE, iso(now + REMINDER_LEAD)):
            ends = request.ends()
            # A short grant gets its reminder in its last quarter, not at its start.
            lead = min(REMINDER_LEAD, request.duration / 4)
            if ends is None or ends <= now or ends - now > lead:
                continue
            reminder = Event(events.ENDING_SOON, now, request, once=f"{request.id}-reminder")
            if self.notify.publish(reminder):
                reminded += 1
        return reminded

    def remind_approvers(self, now: datetime) -> int:
        """Remind the approvers' channel, once, of a request still pending after its role's
        ``remind_approvers_after`` (a sweep step)."""
        reminded = 0
        for request in self.store.requests_in(State.PENDING):
            role = self.catalog.role(request.role)
            after = role.remind_approvers_after if role else None
            if after is None or now < parse_iso(request.created_at) + after:
                continue
            if now >= parse_iso(request.approval_deadline):
                continue  # lapsing, not reminding
            reminder = Event(
                events.AWAITING_DECISION,
                now,
                request,
                base_url=self.base_url,
                once=f"{request.id}-approvers-reminder",
            )
            if self.notify.publish(reminder):
                reminded += 1
        return reminded

    def _sweep_outbox(self, report: SweepReport) -> None:
        self.flush(20.0)
        report.messages_sent = self.notify.outbox.deliver_due(self.clock())
