"""What the slash command, the review page and the operator CLI read: a request, a person's
requests, what an approver may decide, requests in given states, free grant slots, and what
approving a request would write in IAM. Nothing here changes state.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cached_property

from chalicelib.aws.slots import GrantSlots
from chalicelib.core import breakglass, history, session_limits
from chalicelib.core.catalog import Person, RoleSpec
from chalicelib.core.decisions import is_approver
from chalicelib.core.extensions import extended_end
from chalicelib.core.groups import GroupsUnavailable
from chalicelib.core.model import AccessRequest, State, parse_iso
from chalicelib.core.session_length import max_session_warning
from chalicelib.core.trust import Grant, statement_for
from chalicelib.usecases.context import Context


class Queries:
    def __init__(self, context: Context):
        self._c = context

    def get(self, request_id: str) -> AccessRequest | None:
        return self._c.store.get_request(request_id)

    def requests_of(self, person: str) -> list[AccessRequest]:
        """The person's latest requests, newest first (one Query of the by-person index)."""
        return self._c.store.requests_of(person)

    def requests_in(self, states: Iterable[State]) -> list[AccessRequest]:
        """Every request in ``states``, state by state in the order given (one Query of the
        sparse index each; for the operator CLI)."""
        return [r for state in states for r in self._c.store.requests_in(state)]

    def awaiting(self, approver: str, now: datetime) -> list[AccessRequest]:
        """Pending requests ``approver`` may decide now, others' only: one Query per role they
        approve, so the cost does not grow with everyone else's requests."""
        c = self._c
        theirs = sorted({r.role_arn for r in c.catalog.roles.values() if approver in r.approvers})
        return [
            r
            for role_arn in theirs
            for r in c.store.pending_of_role(role_arn)
            if r.requester != approver
            and approver not in r.approvals
            and parse_iso(r.approval_deadline) > now
            and (role := c.catalog.role(r.role))
            and self._approves(role, approver)
        ]

    def unreviewed(self, approver: str) -> list[AccessRequest]:
        """Break-glass grants ``approver`` may review and nobody has yet, oldest first: one
        Query of the reviews still owed, then each request read."""
        c = self._c
        if not any(role.break_glass for role in c.catalog.roles.values()):
            return []  # no Query where nothing can be waiting
        owed = set(c.store.awaiting_review())
        requests = c.store.get_requests(owed) if owed else []
        return breakglass.awaiting_review(c.catalog, requests, approver, c.groups)

    def history(self, role: str | None = None, since: str | None = None) -> list[AccessRequest]:
        """Requests of every state, past ones too, of ``role`` if given, created at or after
        ``since`` (ISO), oldest first, whoever made them (people since removed from the
        directory too): one Scan of the table, for the operator's occasional question."""
        return history.select(self._c.store.every_request_since(since), role, since)

    def _approves(self, role: RoleSpec, person: str) -> bool:
        try:
            return is_approver(self._c.catalog, role, person, self._c.groups)
        except GroupsUnavailable:
            return False

    def free_slots(self, person: Person | None, roles: list[RoleSpec]) -> dict[str, int | None]:
        """For `/access roles`: how many more grants fit each role (None: IAM did not say in
        time); nothing for someone not in the directory."""
        return self.grant_slots.free(roles, person, self._c.clock()) if person else {}

    def session_warnings(self, roles: list[RoleSpec]) -> list[str]:
        """For `/access roles`: roles whose MaxSessionDuration (as read for the free slots)
        is longer than their max_duration: late credentials would outlive the grant."""
        found = []
        for role in roles:
            longest = self.grant_slots.max_session(role.role_arn)
            if longest is not None and (warning := max_session_warning(role, longest)):
                found.append(warning)
        return found

    @cached_property
    def grant_slots(self) -> GrantSlots:
        return GrantSlots(self._c.writer.iam)

    def _role_id(self, role_arn: str) -> str | None:
        """The role's id when IAM can tell (cached), so the preview shows the very cut."""
        try:
            return self.grant_slots.role_id(role_arn)
        except Exception:  # the preview form is shown instead
            return None

    def what_approving_writes(
        self, request: AccessRequest, now: datetime
    ) -> list[tuple[str, dict]]:
        """What a grant of ``request`` writes in IAM, exactly as the approver should see it:
        a title and a document for the trust statement and for the session limit."""
        c = self._c
        role = c.catalog.role(request.role)
        ends = request.ends() or request.end_if_approved_at(now)
        if request.extends and request.ends_at is None:  # an extension: its grant, moved later
            grant_now = self.get(request.extends)
            if grant_now and grant_now.ends() and role:
                moved = extended_end(grant_now.ends(), request.duration, now, role.max_duration)
                ends = moved or grant_now.ends()
        grant = Grant.of(request, ends)
        deny_chaining = not (role and role.allow_role_chaining)
        limits = session_limits.grant_statements(
            grant.session_name,
            ends,
            deny_chaining,
            scope_actions=request.scope_actions if request.scope else None,
            start=ends - request.duration,  # the window's start: scheduled, or the approval
            role_id=self._role_id(request.role_arn),
        )
        return [
            (
                "Trust policy statement (others whose access ends near the same time may share it)",
                statement_for(grant, c.writer.tag),
            ),
            (
                f"Session limit, in the role's inline policy {c.writer.limits_policy}",
                {"Statement": limits},
            ),
        ]
