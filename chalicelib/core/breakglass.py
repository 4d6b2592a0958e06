"""Break-glass grants are reviewed afterwards: an approver of the role acknowledges or flags
each one (pure rules; the service writes them)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from chalicelib.core.catalog import Catalog, RoleSpec
from chalicelib.core.decisions import Refusal, Refused, _groups_refusal, is_approver
from chalicelib.core.groups import GroupsUnavailable, Members, no_groups
from chalicelib.core.model import AccessRequest, State, note, transition

ACKNOWLEDGED = "acknowledged"
FLAGGED = "flagged"


def check_reviewer(
    catalog: Catalog, request: AccessRequest, actor: str, members: Members = no_groups
) -> RoleSpec:
    """May ``actor`` acknowledge or flag this break-glass grant? Its role's approvers may
    (checked now, groups included), never the person who broke the glass, and once."""
    if not request.break_glass:
        raise Refused(Refusal.NOT_BREAK_GLASS, "This is not a break-glass grant.")
    role = catalog.role(request.role)
    if role is None:
        raise Refused(
            Refusal.UNKNOWN_ROLE, f"The role {request.role} is no longer in the policies."
        )
    if actor == request.requester:
        raise Refused(Refusal.OWN_REQUEST, "You cannot review your own break-glass grant.")
    try:
        rightful = is_approver(catalog, role, actor, members)
    except GroupsUnavailable as error:
        raise _groups_refusal(error) from error
    if not rightful:
        raise Refused(Refusal.NOT_AN_APPROVER, f"You are not an approver of {role.name}.")
    if request.review:
        raise Refused(
            Refusal.ALREADY_REVIEWED,
            f"This break-glass grant was already {request.review} by {request.reviewed_by}.",
        )
    if request.state in (State.PENDING, State.APPROVED):
        raise Refused(Refusal.NOT_PENDING, "This grant is not written yet; try again shortly.")
    return role


def reviewed(
    request: AccessRequest, actor: str, verdict: str, now: datetime, why: str = ""
) -> AccessRequest:
    """The grant as reviewed; a flagged grant still ACTIVE is REVOKED in the same change."""
    marked = replace(request, review=verdict, reviewed_by=actor)
    if verdict == FLAGGED and request.state is State.ACTIVE:
        return transition(
            marked, State.REVOKED, actor, "flagged", now, detail=why or "break-glass flagged"
        )
    return note(marked, actor, verdict, now, detail=why)


# States in which a break-glass grant was written and can be reviewed.
REVIEWABLE = frozenset({State.ACTIVE, State.EXPIRED, State.REVOKED})


def needs_review(request: AccessRequest) -> bool:
    """A break-glass grant that was written and nobody has acknowledged or flagged yet."""
    return request.break_glass and not request.review and request.state in REVIEWABLE


def awaiting_review(
    catalog: Catalog, requests: list[AccessRequest], approver: str, members: Members = no_groups
) -> list[AccessRequest]:
    """The break-glass grants among ``requests`` that ``approver`` may review now (for their
    ``list``), oldest first; one behind a group Slack cannot resolve now is left out."""
    found = []
    for request in requests:
        if not needs_review(request):
            continue
        try:
            check_reviewer(catalog, request, approver, members)
        except Refused:
            continue
        found.append(request)
    return sorted(found, key=lambda r: r.created_at)
