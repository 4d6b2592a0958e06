"""Deciding on requests: approve (extensions too), deny, cancel, review a break-glass grant,
revoke a grant, note an operator's look.

Each decision reads the request, decides by the rules (chalicelib/core/decisions.py,
breakglass.py, extensions.py) and commits the change with what it owes through the unit of
work; a lost race reads and decides again (``UnitOfWork.retrying``). What IAM must then
change is the role engine's (engine.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from chalicelib import telemetry
from chalicelib.aws.grants import LimitsWriteFailed, TrustWriteFailed
from chalicelib.core import events
from chalicelib.core.breakglass import FLAGGED, check_reviewer, reviewed
from chalicelib.core.decisions import (
    Refusal,
    Refused,
    approve,
    check_decider,
    check_revoker,
    deny,
)
from chalicelib.core.errors import AwsUnavailable, LockBusy
from chalicelib.core.events import Event
from chalicelib.core.extensions import extended, extended_end
from chalicelib.core.model import AccessRequest, State, TransitionError, iso, note, transition
from chalicelib.core.texts import (
    REVOKED_IN_FULL,
    utc_text,
)
from chalicelib.notify.telemetry import about
from chalicelib.usecases.context import Context
from chalicelib.usecases.engine import RoleEngine
from chalicelib.usecases.starting import call_off
from chalicelib.usecases.suspensions import SUSPENDED, Suspensions, suspended_words
from chalicelib.usecases.through import noted_through
from chalicelib.usecases.unit_of_work import Change, UnitOfWork

# How a decision changes a request read now; what the change announces.
Decide = Callable[[AccessRequest, datetime], AccessRequest]
Says = Callable[[AccessRequest], Iterable[Event]]
# What a revoke whose writes all landed says (anything else: what is still owed in IAM).


class Deciding:
    def __init__(self, context: Context, uow: UnitOfWork, engine: RoleEngine):
        self._c = context
        self._uow = uow
        self._engine = engine

    def approve(
        self, request_id: str, approver: str, known: AccessRequest | None = None
    ) -> AccessRequest:
        """Count an approval; the one that reaches the quorum grants the request at once.
        ``known``: the request as the caller just read it (the review page did, to show it);
        the write's version condition catches any change since."""
        c = self._c
        found = known if known is not None else c.store.get_request(request_id)
        if found is not None and found.extends:
            return self._approve_extension(request_id, approver)

        def decide(current: AccessRequest, now: datetime) -> AccessRequest:
            role = check_decider(c.catalog, current, approver, now, members=c.groups)
            approved = approve(current, approver, now, role, c.groups)
            return noted_through(approved, role.approvers, approver, c.groups)

        request = self._change(
            request_id, decide, lambda r: [self._approval(r, approver)], known=found
        )
        if request.state is State.APPROVED:
            request = self._engine.grant(request)
        return request

    def deny(self, request_id: str, approver: str, reason: str = "") -> AccessRequest:
        c = self._c

        def decide(current: AccessRequest, now: datetime) -> AccessRequest:
            check_decider(c.catalog, current, approver, now, approving=False, members=c.groups)
            return deny(current, approver, now, reason)

        return self._change(
            request_id, decide, lambda r: [c.event(events.DENIED, r, approver, reason)]
        )

    def cancel(self, request_id: str, requester: str) -> AccessRequest:
        def cancel(current: AccessRequest, now: datetime) -> AccessRequest:
            if current.requester != requester:
                raise Refused(Refusal.NOT_A_REQUESTER, "Only the requester can cancel a request.")
            if current.state is not State.PENDING and current.state is not State.SCHEDULED:
                raise Refused(
                    Refusal.NOT_PENDING,
                    f"Request {current.id} is "
                    f"{current.state.value.lower()}; only pending requests can be "
                    "cancelled.",
                )
            return transition(current, State.CANCELLED, requester, "cancelled", now)

        return self._change(
            request_id, cancel, lambda r: [self._c.event(events.CANCELLED, r, requester)]
        )

    def record(self, request_id: str, actor: str, action: str, detail: str = "") -> AccessRequest:
        """Add an entry to the request's audit trail without changing its state (an operator
        looked at it)."""
        return self._change(
            request_id,
            lambda current, now: note(current, actor, action, now, detail),
            lambda _: [],  # a note owes nobody a message
        )

    def _change(
        self, request_id: str, decide: Decide, says: Says, known: AccessRequest | None = None
    ) -> AccessRequest:
        """Read, decide, commit with what the change ``says``; on a lost race read again and
        decide again. ``known``: the request as the caller just read it, used for the first
        try instead of a second read (the write's version condition catches any change)."""

        def attempt(n: int) -> AccessRequest:
            current = known if n == 0 and known else self._c.store.get_request(request_id)
            if current is None:
                raise Refused(Refusal.NOT_PENDING, f"There is no request {request_id}.")
            try:
                changed = decide(current, self._c.clock())
            except TransitionError as error:
                raise Refused(Refusal.NOT_PENDING, str(error)) from error
            [saved] = self._uow.commit(Change(changed, tuple(says(changed)), was=current))
            return saved

        return self._uow.retrying(attempt, request_id)

    def _approval(self, request: AccessRequest, approver: str) -> Event:
        """An approval counted: the request is approved, or waits for more."""
        if request.state is State.PENDING:
            return self._c.event(events.APPROVAL_COUNTED, request, approver)
        if request.state is State.SCHEDULED:  # approved ahead: granted at its start
            return self._c.event(events.SCHEDULED, request, approver)
        return self._c.event(events.APPROVED, request, approver)

    # -- extensions ----------------------------------------------------------------------------
    def _approve_extension(self, extension_id: str, approver: str) -> AccessRequest:
        """Count an approval of an extension; the one that reaches the quorum moves the
        grant's end, and records the extension EXTENDED, in one transaction; then trust and
        session limit move together in one locked step. If the grant is no longer active,
        or already ends as late as it may, the extension FAILS and the grant is untouched."""
        c = self._c

        def attempt(n: int) -> tuple[AccessRequest, AccessRequest | None]:
            current = c.store.get_request(extension_id)
            if current is None:
                raise Refused(Refusal.NOT_PENDING, f"There is no request {extension_id}.")
            now = c.clock()
            role = check_decider(c.catalog, current, approver, now, members=c.groups)
            counted = approve(current, approver, now, role, c.groups)
            if counted.state is State.PENDING:
                counted = noted_through(counted, role.approvers, approver, c.groups)
                said = self._approval(counted, approver)
                return self._uow.commit(Change(counted, (said,), was=current))[0], None
            grant = c.store.get_request(current.extends or "")
            new_end = None
            live = grant is not None and grant.state is State.ACTIVE and grant.ends() > now
            if grant is not None and live:
                new_end = extended_end(grant.ends(), current.duration, now, role.max_duration)
            if grant is None or new_end is None:
                why = (
                    f"the grant {current.extends} already ends as late as {role.name} allows "
                    f"({utc_text(grant.ends_at)})"
                    if grant is not None and live
                    else f"the grant {current.extends} is no longer active"
                )
                failed = transition(
                    current,
                    State.FAILED,
                    approver,
                    "approved",
                    now,
                    detail=why,
                    approvals=counted.approvals,
                    failure=why,
                )
                failed = noted_through(failed, role.approvers, approver, c.groups)
                said = c.event(events.EXTENSION_FAILED, failed, approver, failed.failure or "")
                return self._uow.commit(Change(failed, (said,), was=current))[0], None
            done = transition(
                current,
                State.EXTENDED,
                approver,
                "approved",
                now,
                detail=f"{grant.id} now ends {utc_text(iso(new_end))}",
                approvals=counted.approvals,
                ends_at=iso(new_end),
            )
            done = noted_through(done, role.approvers, approver, c.groups)
            moved = extended(grant, done, new_end, now)
            added = new_end - grant.ends()  # less than asked when the role's maximum cut it
            said = c.event(events.EXTENDED, moved, approver, related=done, added=added)
            done, moved = self._uow.commit(
                Change(done, was=current), Change(moved, (said,), was=grant)
            )
            return done, moved

        done, moved = self._uow.retrying(attempt, extension_id)
        if moved is not None:
            self._engine.settle_now(moved)
        return done

    # -- break-glass reviews -------------------------------------------------------------------
    def review(self, request_id: str, actor: str, verdict: str, why: str = "") -> AccessRequest:
        """An approver acknowledges or flags a break-glass grant; a flag revokes it if it is
        still active, and everyone hears."""
        c = self._c
        was_active: list[bool] = []

        def decide(current: AccessRequest, now: datetime) -> AccessRequest:
            check_reviewer(c.catalog, current, actor, c.groups)
            was_active[:] = [current.state is State.ACTIVE]
            if verdict == FLAGGED:  # suspended first: a crash never leaves a flag without it
                return suspended(reviewed(current, actor, verdict, now, why), now)
            return reviewed(current, actor, verdict, now, why)

        def suspended(flagged: AccessRequest, now: datetime) -> AccessRequest:
            Suspensions(c, self._uow).suspend(flagged)
            return note(flagged, actor, SUSPENDED, now, suspended_words(c.catalog, flagged))

        def says(r: AccessRequest) -> list[Event]:
            said = [c.event(name, r, actor, why)]
            if verdict == FLAGGED:
                words = suspended_words(c.catalog, r)
                said.append(c.event(events.BREAKGLASS_SUSPENDED, r, actor, words))
            return said

        name = events.FLAGGED if verdict == FLAGGED else events.ACKNOWLEDGED
        done = self._change(request_id, decide, says)
        c.store.reviewed(done.id)
        if verdict == FLAGGED and was_active == [True]:
            self._engine.settle_now(done)
        return done

    # -- revoking ------------------------------------------------------------------------------
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
        c = self._c
        if (scheduled := c.store.get_request(request_id)) and scheduled.state is State.SCHEDULED:
            return call_off(self, scheduled, actor, operator)

        def revoke(current: AccessRequest, now: datetime) -> AccessRequest:
            check_revoker(c.catalog, current, actor, c.groups, operator)
            # Before anything is written: a REVOKED grant is no sweep's due work, so a crash
            # after the record (IAM not yet changed) is found by this mark at the next pass.
            self._engine.owe_check(current.role_arn, "a revoke", now)
            return transition(
                current, State.REVOKED, actor, "revoked", now, detail="access ended early"
            )

        revoked = self._change(request_id, revoke, lambda r: [c.event(events.REVOKED, r, actor)])
        # Everybody hears of the revoke (committed with it, above); the revoker also hears
        # exactly what happened in IAM.
        outcome, complete = self._end_now(revoked)
        if not complete:  # what is still owed in IAM: everybody hears it, not only the revoker
            try:
                self._uow.announce(c.event(events.REVOKE_UNFINISHED, revoked, actor, outcome))
            except AwsUnavailable:  # the revoke is recorded and told; this follow-up is extra
                logging.getLogger("switchback").warning("revoke follow-up lost", exc_info=True)
        return revoked, outcome

    def _end_now(self, revoked: AccessRequest) -> tuple[str, bool]:
        """Write the revoke's cut and remove its trust; say exactly what happened, and
        whether all of it did."""
        try:
            self._engine.settle_role(revoked.role_arn, also={revoked.id})
        except TrustWriteFailed as error:
            telemetry.event(
                "revoke.partial", logging.WARNING, **about(revoked), error=str(error.error)
            )
            # A REVOKED grant is no sweep's due work: the mark brings its role up next pass.
            self._engine.owe_check(revoked.role_arn, f"unfinished revoke: {error.error}")
            outcome = (
                "Every session of theirs on this role is denied from now on (the session limit "
                f"is written), but IAM did not take the trust-policy change ({error.error}); "
                "the sweep retries it every minute, and any session taken meanwhile is denied."
            )
        except LimitsWriteFailed as error:
            outcome = self._cut_refused(revoked, error)
        except (AwsUnavailable, LockBusy) as error:
            telemetry.event("revoke.delayed", logging.WARNING, **about(revoked), error=str(error))
            self._engine.owe_check(revoked.role_arn, f"unfinished revoke: {error}")
            outcome = (
                f"AWS is slow right now and IAM could not be changed yet ({error}): sessions are "
                "not cut yet. The next sweep finishes it within a minute or two; the grant's own "
                "end still holds."
            )
        else:
            return REVOKED_IN_FULL, True
        return outcome, False

    def _cut_refused(self, revoked: AccessRequest, error: LimitsWriteFailed) -> str:
        """IAM refused the session cut for good: say what was written and what was not, and
        raise the grant-failure alarm (the sweep retries the cut every minute)."""
        telemetry.event("revoke.cut_refused", logging.ERROR, **about(revoked), error=str(error))
        telemetry.metric("failures")
        self._engine.owe_check(revoked.role_arn, f"unfinished revoke: {error}")
        trust = (
            "The trust is removed, so no new session of theirs can start"
            if error.written.trust
            else "The trust is not removed yet either"
        )
        return (
            f"{trust}; the session cut was refused by IAM ({error.error}): the session-limit "
            "policy is not written, so sessions already taken are not cut yet. The sweep "
            "retries it every minute; the grant's own end still holds."
        )
