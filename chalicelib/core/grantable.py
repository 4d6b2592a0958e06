"""The last look before trust is written: may this APPROVED request be granted, as the store
holds it and as the policies say now? (pure)

The step that writes trust must not take an item's state on faith: an item marked APPROVED by
a hand edit of the table, with no approvals or a 30-day end, is refused and reported, never
granted. Everything is re-checked from the record itself (its approvals and its audit trail)
against the policies as they are now:

* the role still exists, under the same ARN;
* the requester is still in people.toml with the same IAM user, and may still request the
  role (break-glass grants: is still in ``break_glass_requesters``);
* enough approvals: each by someone who is still an approver of the role, never the
  requester, counted once, and recorded in the audit trail as an approval (an ``approvals``
  list edited by hand counts for nothing) — against the role's current
  ``approvals_required``; a break-glass grant instead needs the break-glass record (its
  ``break-glass`` entry by the requester) and a role that still allows break-glass;
* the window: its duration at most the role's ``max_duration`` (``break_glass_max`` for
  break-glass), and its end no later than that after its approval, nor after ``now``.

The grant step (today chalicelib/service.py ``_settle_locked``, feeding roleplan.plan's
``ineligible``) calls it for every APPROVED request; a reason fails the grant with it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.core.catalog import Catalog
from chalicelib.core.decisions import counted_approvals, may_request
from chalicelib.core.durations import format_duration
from chalicelib.core.groups import Members, no_groups
from chalicelib.core.model import AccessRequest, State, parse_iso, utc

# Audit actions that record an approval (chalicelib/core/decisions.approve) and a
# break-glass request (service.break_glass), as the lifecycle writes them.
APPROVAL_ACTIONS = frozenset({"approved", "approval recorded"})
BREAK_GLASS_ACTION = "break-glass"
# Clock differences between the processes that approved and that grant.
SLACK = timedelta(seconds=5)


def check_grantable(
    request: AccessRequest, catalog: Catalog, now: datetime, members: Members = no_groups
) -> str | None:
    """Why ``request`` (APPROVED) may not be granted now; None when it may.

    Raises GroupsUnavailable when the answer depends on a Slack group that cannot be resolved
    now (the caller leaves the request for the next step, as for an approval)."""
    now = utc(now)
    if request.state is not State.APPROVED:
        return f"it is {request.state.value.lower()}, not approved"
    if request.extends:
        return "an extension is applied to its grant, never granted on its own"
    role = catalog.role(request.role)
    if role is None or role.role_arn != request.role_arn:
        return f"the role {request.role} is no longer in the policies under {request.role_arn}"
    person = catalog.person(request.requester)
    if person is None:
        return f"{request.requester_name} is no longer in people.toml"
    if person.aws != request.principal_arn:
        return f"{request.requester_name}'s IAM user in people.toml is not {request.principal_arn}"
    if not may_request(catalog, request.requester, role, members, request.break_glass):
        which = "break-glass on " if request.break_glass else ""
        return f"{request.requester_name} may not request {which}{role.name}"

    if request.break_glass:
        if not role.break_glass:
            return f"{role.name} no longer allows break-glass"
        on_record = any(
            e.action == BREAK_GLASS_ACTION and e.actor == request.requester for e in request.audit
        )
        if not on_record:
            return "it is marked break-glass, but its record holds no break-glass request"
        longest = role.break_glass_max
    else:
        approved_on_record = {e.actor for e in request.audit if e.action in APPROVAL_ACTIONS} - {
            request.requester
        }
        counted = set(counted_approvals(request, role, members)) & approved_on_record
        if len(counted) < role.approvals_required:
            return (
                f"it has {len(counted)} of the {role.approvals_required} approvals "
                f"{role.name} needs from its current approvers"
            )
        longest = role.max_duration

    if request.duration > longest:
        return (
            f"it asks for {format_duration(request.duration)}, over the "
            f"{format_duration(longest)} {role.name} allows"
        )
    ends = request.ends()
    if ends is None:
        return "it has no end"
    approved_at = _approved_at(request)
    if approved_at is None:
        return "its record holds no approval time"
    # A scheduled window runs from its start, which may come after its approval.
    start = max(approved_at, request.starts() or approved_at)
    if ends > start + request.duration + SLACK or ends > max(now, start) + longest + SLACK:
        return (
            f"its end {request.ends_at} is later than its approval plus its duration "
            f"({format_duration(request.duration)}) allows"
        )
    return None


def _approved_at(request: AccessRequest) -> datetime | None:
    """When the request became APPROVED, from its audit trail (the latest such entry)."""
    moments = [parse_iso(e.at) for e in request.audit if e.state is State.APPROVED]
    return max(moments) if moments else None
