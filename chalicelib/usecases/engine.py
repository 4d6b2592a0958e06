"""The role engine: every IAM change is one locked step per role.

``settle_role`` makes one role's IAM policies say what the store says: under the role's lock,
read the role once, plan both policies from the store (chalicelib/core/roleplan.py), write
each at most once, then record the state changes (ACTIVE, EXPIRED, FAILED) with the messages
they owe, as one batch of the unit of work. Safe to repeat: each step works out the whole
policy again, so a crash between any two writes is repaired by the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from chalicelib import telemetry
from chalicelib.aws.grants import Lease, TrustWriteFailed, Written
from chalicelib.core import events, roleplan, session_limits
from chalicelib.core.decisions import may_request
from chalicelib.core.errors import (
    AwsUnavailable,
    LockBusy,
    LockHandedOver,
    PolicyRejected,
    RoleMissing,
)
from chalicelib.core.events import Event
from chalicelib.core.grantable import check_grantable
from chalicelib.core.groups import GroupsUnavailable
from chalicelib.core.model import AccessRequest, State, TransitionError, transition
from chalicelib.notify.telemetry import about
from chalicelib.usecases.context import BROKER, Context, acting
from chalicelib.usecases.unit_of_work import Change, UnitOfWork


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


class RoleEngine:
    def __init__(self, context: Context, uow: UnitOfWork):
        self._c = context
        self._uow = uow

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
            telemetry.event("grant.delayed", logging.WARNING, **about(request), error=str(error))
            return self._latest(request)
        return settled.find(request.id) or self._latest(request)

    def settle_now(self, request: AccessRequest) -> None:
        """Write the role's policies for ``request`` now (the sweep retries if AWS is busy)."""
        try:
            self.settle_role(request.role_arn, also={request.id})
        except (AwsUnavailable, LockBusy, TrustWriteFailed) as error:
            telemetry.event("settle.delayed", logging.WARNING, **about(request), error=str(error))
            self.owe_check(request.role_arn, f"unfinished: {error}")

    def _latest(self, request: AccessRequest) -> AccessRequest:
        """``request`` as stored now; as we last wrote it if AWS cannot say (it was recorded:
        a caller must never hear that nothing changed)."""
        try:
            return self._c.store.get_request(request.id) or request
        except AwsUnavailable:
            return request

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
        c = self._c
        if known is None and not lock_first:
            known = c.store.open_grants(role_arn)
        ids = {r.id for r in known or ()} | set(also)
        spec = c.catalog.role_by_arn(role_arn)
        chaining = bool(spec and spec.allow_role_chaining)
        if not lock_first:
            try:
                view = c.writer.view(role_arn)
            except RoleMissing:
                if not ids:
                    return Settled(missing_role=True)  # nothing to fail: no lock needed
                view = None
            if view is not None:
                # The index may lag; a plan on its data is good enough to see that nothing
                # needs doing, and anything that does is planned again under the lock.
                fresh = {r.id: r for r in known or ()}
                plan = roleplan.plan(
                    view,
                    fresh.values(),
                    c.clock(),
                    c.writer.trust_quota(role_arn),
                    ineligible=self._ineligible(fresh.values()),
                    allow_chaining=chaining,
                )
                if not plan.changes_anything(view):
                    return Settled()
        with c.writer.locked(role_arn, hand_over) as lease:
            if known is None:
                # Read under the lock, by its holder only: a click that finds the lock held
                # hands its id over without this Query, and the holder sees every request
                # approved until it took the lock.
                ids |= {r.id for r in c.store.open_grants(role_arn)}
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
        c = self._c
        now = c.clock()
        try:
            view = c.writer.view(role_arn)
        except RoleMissing:
            requests = c.store.get_requests(ids)
            expire, fail = roleplan.plan_role_missing(role_arn, requests, now)
            settled = self._record(roleplan.RolePlan({}, None, expire=expire, fail=fail))
            settled.missing_role = True
            return settled
        # Also every grant the ledger says holds trust: ``known`` was read before the lock,
        # and a step that ran meanwhile may have granted more.
        requests = c.store.get_requests(ids | session_limits.held_by(view.ledger))
        quota = c.writer.trust_quota(role_arn)
        ineligible = self._ineligible(requests)
        requests = self._without_held(requests)

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
            written = c.writer.write(view, plan, lease)
        except (PolicyRejected, TrustWriteFailed) as error:
            cause = error.error if isinstance(error, TrustWriteFailed) else error
            # IAM refused what this step adds (its own size limit, a principal it no longer
            # knows): those grants fail, everything else is written.
            if not isinstance(cause, PolicyRejected) or not plan.added:
                raise
            view = c.writer.view(role_arn)
            plan = planned(view, rejected=dict.fromkeys(plan.added, str(cause)))
            written = c.writer.write(view, plan, lease)
        for note in plan.drift:
            telemetry.event("drift.repaired", logging.WARNING, role_arn=role_arn, what=note)
        if written.ledger and (ages := session_limits.next_aging(plan.ledger, now)):
            # Nothing else may bring the role up when its closed cut is to go: ask for it then.
            self.owe_check(role_arn, "a closed cut ages out", ages)
        settled = self._record(plan)
        settled.drift = list(plan.drift)
        settled.written = written
        return settled

    def owe_check(self, role_arn: str, why: str, at: datetime | None = None) -> None:
        """Ask the sweep to read ``role_arn`` at its first pass at or after ``at`` (now): a
        step left work behind that no due grant brings back (usecases/role_checks.py). Best
        effort: the role's idle slot reads it anyway, later."""
        checks = self._c.role_checks
        if checks is None:
            return
        try:
            checks.mark(role_arn, at or self._c.clock(), why[:200])
        except AwsUnavailable as error:
            telemetry.event("sweep.mark_lost", logging.WARNING, role_arn=role_arn, error=str(error))

    def _ineligible(self, requests: Iterable[AccessRequest]) -> dict[str, str]:
        """Open grants whose requester the policies no longer allow on the role: removed from
        people.toml, from the role's requesters, or given another IAM user."""
        found: dict[str, str] = {}
        for request in requests:
            if request.state not in (State.ACTIVE, State.APPROVED):
                continue
            role = self._c.catalog.role(request.role)
            if role is None or role.role_arn != request.role_arn:
                continue  # a role dropped from the policies keeps its grants to their end
            person = self._c.catalog.person(request.requester)
            who = request.requester_name
            if person is None:
                found[request.id] = f"{who} was removed from people.toml; access ended"
            elif person.aws != request.principal_arn:
                found[request.id] = f"{who}'s IAM user changed in people.toml; access ended"
            elif not self._still_requester(request, role):
                found[request.id] = f"{who} may no longer request {role.name}; access ended"
        for request_id, why in self._not_grantable(requests).items():
            found.setdefault(request_id, why)
        return found

    def _not_grantable(self, requests: Iterable[AccessRequest]) -> dict[str, str]:
        """APPROVED requests the grant step must refuse, as their own record and the policies
        say now (core/grantable.py): a hand edit of the table is never granted. One whose
        answer rests on a Slack group that cannot be resolved now is not refused here; the
        locked step leaves it APPROVED (``_without_held``)."""
        found: dict[str, str] = {}
        for request in requests:
            if request.state is not State.APPROVED:
                continue
            try:
                why = check_grantable(request, self._c.catalog, self._c.clock(), self._c.groups)
            except GroupsUnavailable:
                continue
            if why is not None:
                found[request.id] = f"not granted: {why}"
        return found

    def _without_held(self, requests: list[AccessRequest]) -> list[AccessRequest]:
        """``requests`` less the APPROVED ones whose grant check needs a Slack group that
        cannot be resolved now: they stay APPROVED for the next step."""
        kept = []
        for request in requests:
            if request.state is State.APPROVED:
                try:
                    check_grantable(request, self._c.catalog, self._c.clock(), self._c.groups)
                except GroupsUnavailable:
                    continue
            kept.append(request)
        return kept

    def _still_requester(self, request: AccessRequest, role) -> bool:
        """Whether the policies still let the holder of an open grant hold it (break-glass
        grants by ``break_glass_requesters``). A Slack user group that cannot be resolved
        now ends nothing: only what the policy files say does."""
        try:
            return may_request(
                self._c.catalog, request.requester, role, self._c.groups, request.break_glass
            )
        except GroupsUnavailable:
            return True

    def _record(self, plan: roleplan.RolePlan) -> Settled:
        """The state changes of a written plan, each with its messages, written together in
        as few transactions as fit (a step that granted ten requests writes them at once)."""
        c = self._c
        now = c.clock()
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
        kinds, changes = [], []
        for kind, request, to, action, detail, fields in steps:
            try:
                changed = transition(request, to, acting(), action, now, detail=detail, **fields)
            except TransitionError:
                continue  # someone else moved it first (a revoke, a concurrent step)
            if kind == "activated":
                said = c.event(events.GRANTED, changed)
            elif kind == "expired":
                said = c.event(events.EXPIRED, changed, BROKER)
            else:
                said = c.event(events.GRANT_FAILED, changed, BROKER, changed.failure or "")
            kinds.append(kind)
            changes.append(Change(changed, (said,), was=request))
        settled = Settled()
        for kind, saved in zip(kinds, self._uow.commit_each(changes), strict=True):
            if saved is not None:  # None: someone else moved it first
                getattr(settled, kind).append(saved)
        return settled

    def _announce(self, role_arn: str, settled: Settled) -> None:
        """The drift a step repaired is published on its own (no state change carries it);
        what it recorded was announced with each change."""
        for repaired in settled.drift:
            drift = Event(events.DRIFT_REPAIRED, self._c.clock(), actor=BROKER, detail=repaired)
            try:
                self._uow.announce(replace(drift, role_arn=role_arn))
            except AwsUnavailable:  # repaired and logged; only the notice is lost
                logging.getLogger("switchback").warning("drift notice lost", exc_info=True)
