"""Asking for access: a request, a break-glass grant, an extension of a grant.

All three are new requests made by one constructor (``new_request``), checked against the
policies first (chalicelib/core/decisions.py, extensions.py), and stored PENDING (break-glass:
APPROVED, then granted at once) with the messages they owe. A person has at most one request
for a role waiting for approvers: a second one is refused, pointing to the first, whoever
asks (the slash command or any other entry point).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.core import events
from chalicelib.core.catalog import RoleSpec
from chalicelib.core.commands import ExtendCommand, RequestCommand
from chalicelib.core.decisions import Refusal, Refused, check_request
from chalicelib.core.durations import format_duration
from chalicelib.core.extensions import check_extension, check_no_pending_extension
from chalicelib.core.model import (
    AccessRequest,
    State,
    is_request_id,
    iso,
    new_request_id,
    normalise_request_id,
    parse_iso,
    transition,
)
from chalicelib.core.texts import extension_title
from chalicelib.usecases.context import Context
from chalicelib.usecases.engine import RoleEngine
from chalicelib.usecases.unit_of_work import Change, UnitOfWork


class AlreadyPending(Refused):
    """The person's own request for the role still waits for approvers: nothing new was
    made. ``pending`` is that request (the slash command links to its review page)."""

    def __init__(self, message: str, pending: AccessRequest):
        super().__init__(Refusal.ALREADY_PENDING, message)
        self.pending = pending  # not a field: the exception stays writable, as raising needs


class Requesting:
    def __init__(self, context: Context, uow: UnitOfWork, engine: RoleEngine):
        self._c = context
        self._uow = uow
        self._engine = engine

    def submit(
        self, requester: str, command: RequestCommand, response_url: str | None
    ) -> AccessRequest:
        """Ask for ``command.role``: PENDING until enough approvers decide (break-glass:
        granted at once). Raises Refused, AlreadyPending."""
        if command.break_glass:
            return self.break_glass(requester, command, response_url)
        now = self._c.clock()
        role, duration = check_request(
            self._c.catalog,
            requester,
            command.role,
            command.duration,
            command.reason,
            self._c.groups,
        )
        # after the request's own checks: a wrong duration or reason is said even then
        self._refuse_a_second(requester, role.name, now)
        request = self.new_request(
            role,
            requester,
            duration,
            command.reason,
            response_url,
            now,
            approval_deadline=iso(now + role.approval_timeout),
        )
        pending = transition(
            request, State.PENDING, requester, "requested", now, detail=command.reason
        )
        [saved] = self._uow.commit(
            Change(pending, (self._c.event(events.REQUESTED, pending, requester),))
        )
        return saved

    def _refuse_a_second(self, requester: str, role: str, now: datetime) -> None:
        """One pending request per person and role: a second is refused, pointing to the
        first (an extension waiting is not a request for the role)."""
        pending = next(
            (
                r
                for r in self._c.store.requests_of(requester)
                if r.state is State.PENDING
                and r.role == role
                and r.requester == requester
                and not r.extends
                and parse_iso(r.approval_deadline) > now
            ),
            None,
        )
        if pending is not None:
            raise AlreadyPending(
                f"You already asked for `{pending.role}`: request `{pending.id}` "
                f"({format_duration(pending.duration)}) is waiting for approval, so nothing "
                "new was created.",
                pending,
            )

    def new_request(
        self,
        role: RoleSpec,
        requester: str,
        duration: timedelta,
        reason: str,
        response_url: str | None,
        now: datetime,
        extends: AccessRequest | None = None,
        **fields,
    ) -> AccessRequest:
        """A request as ``requester`` makes it now: for the person the directory names, or,
        to extend the grant ``extends``, for that grant's holder, role and IAM user."""
        if extends is None:
            person = self._c.catalog.people[requester]
            whose = {
                "role": role.name,
                "role_arn": role.role_arn,
                "requester_name": person.name,
                "principal_arn": person.aws,
                "require_mfa": role.require_mfa,
            }
        else:
            whose = {
                "role": extends.role,
                "role_arn": extends.role_arn,
                "requester_name": extends.requester_name,
                "principal_arn": extends.principal_arn,
                "require_mfa": extends.require_mfa,
                "extends": extends.id,
            }
        return AccessRequest(
            id=new_request_id(),
            requester=requester,
            duration_seconds=int(duration.total_seconds()),
            reason=reason,
            created_at=iso(now),
            approvals_required=role.approvals_required,
            response_url=response_url,
            told=self._c.notify.direct_recipients(role.name, requester),
            **whose,
            **fields,
        )

    def break_glass(
        self, requester: str, command: RequestCommand, response_url: str | None
    ) -> AccessRequest:
        """Grant at once, without approval, for at most the role's ``break_glass_max``; loud
        in the approvers' channel (and ``break_glass_webhook_url``); reviewed afterwards."""
        c = self._c
        role, duration = check_request(
            c.catalog,
            requester,
            command.role,
            command.duration,
            command.reason,
            c.groups,
            break_glass=True,
        )
        now = c.clock()
        request = self.new_request(
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
        c.store.await_review(request.id, iso(now + role.break_glass_review_within))
        [saved] = self._uow.commit(
            Change(approved, (c.event(events.REQUESTED, approved, requester),))
        )
        return self._engine.grant(saved)

    def extend(
        self, requester: str, command: ExtendCommand, response_url: str | None
    ) -> AccessRequest:
        """Ask to move an ACTIVE grant's end later: a request of its own (``extends``),
        approved like any other. The grant is not touched while it waits."""
        c = self._c
        now = c.clock()
        grant_id = normalise_request_id(command.request_id)
        grant = c.store.get_request(grant_id) if is_request_id(grant_id) else None
        role = check_extension(c.catalog, grant, requester, command.duration, now, c.groups)
        assert grant is not None  # check_extension refuses a missing grant
        check_no_pending_extension(grant, c.store.requests_of(requester), now)
        extension = self.new_request(
            role,
            requester,
            command.duration,
            command.reason,
            response_url,
            now,
            extends=grant,
            # Decided before the grant ends, or not at all: it lapses with the grant.
            approval_deadline=iso(min(now + role.approval_timeout, grant.ends())),
        )
        pending = transition(
            extension,
            State.PENDING,
            requester,
            "extension requested",
            now,
            detail=f"{extension_title(extension)}: {command.reason}".rstrip(": "),
        )
        said = c.event(events.EXTENSION_REQUESTED, pending, requester, related=grant)
        [saved] = self._uow.commit(Change(pending, (said,)))
        return saved

    # -- signed commands run once --------------------------------------------------------------
    def arrived(self, key: str, forget_at: int) -> tuple[bool, str | None]:
        """Record a signed command's arrival: (True, None) the first time, else (False, the
        answer kept for it, if any)."""
        return self._c.store.first_arrival(key, forget_at)

    def answered(self, key: str, answer: str, forget_at: int) -> None:
        """Keep the answer to a command for a copy of it that arrives later."""
        self._c.store.keep_answer(key, answer, forget_at)
