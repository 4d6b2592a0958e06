"""The review page's buttons: who is looking (Viewer) and the forms they may post, to decide,
narrow, revoke, or review a break-glass grant."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from chalicelib.core.model import AccessRequest


@dataclass(frozen=True)
class Viewer:
    """Who is looking at the review page, and what they may do there."""

    slack_id: str
    name: str | None
    csrf: str
    can_decide: bool = False
    can_revoke: bool = False
    can_review: bool = False  # acknowledge or flag a break-glass grant
    narrow_to: tuple[str, ...] = ()  # the scopes an approver may narrow this request to
    why_not: str = ""  # shown when there is nothing they may do
    can_unsuspend: bool = False  # lift the break-glass suspension this flagged grant set


def _review_forms(request: AccessRequest, viewer: Viewer) -> str:
    token = f"<input type=hidden name=csrf value='{escape(viewer.csrf)}'>"
    rid = escape(request.id)
    return (
        "<p>This access was taken without approval (break-glass). As an approver of the role, "
        "acknowledge it if it was warranted, or flag it: a flag revokes it if it is still "
        "active and tells everyone.</p>"
        f"<form method=post action='{rid}/acknowledge'>{token}"
        f"<button class=approve type=submit>Acknowledge</button></form>"
        f"<form method=post action='{rid}/flag'>{token}"
        f"<label>Why (optional) <input name=reason maxlength=500></label> "
        f"<button class=deny type=submit>Flag</button></form>"
    )


def _unsuspend_form(request: AccessRequest, viewer: Viewer) -> str:
    token = f"<input type=hidden name=csrf value='{escape(viewer.csrf)}'>"
    who, role = escape(request.requester_name), escape(request.role)
    return (
        f"<p>This break-glass grant was flagged: {who}'s break-glass on {role} is suspended "
        "until an approver of the role lifts it.</p>"
        f"<form method=post action='{escape(request.id)}/unsuspend'>{token}"
        f"<button class=approve type=submit>Lift the suspension</button></form>"
    )


def action_forms(request: AccessRequest, viewer: Viewer) -> str:
    token = f"<input type=hidden name=csrf value='{escape(viewer.csrf)}'>"
    rid = escape(request.id)
    if viewer.can_unsuspend:
        return _unsuspend_form(request, viewer)
    if viewer.can_review:
        return _review_forms(request, viewer)
    if viewer.can_decide:
        return (
            f"<form method=post action='{rid}/approve'>{token}"
            f"<button class=approve type=submit>Approve</button></form>"
            f"<form method=post action='{rid}/deny'>{token}"
            f"<label>Reason for denying (optional) <input name=reason maxlength=500></label> "
            f"<button class=deny type=submit>Deny</button></form>"
        ) + _narrow_form(request, viewer, token)
    if viewer.can_revoke:
        return (
            f"<form method=post action='{rid}/revoke'>{token}"
            f"<button class=deny type=submit>Revoke now</button></form>"
            "<p>Revoking removes the trust statement at once and ends sessions already "
            "started.</p>"
        )
    return f"<p class=note id=why-not>{escape(viewer.why_not)}</p>"


def _narrow_form(request: AccessRequest, viewer: Viewer, token: str) -> str:
    """An approver narrows a pending whole-role request to one of the role's scopes."""
    if not viewer.narrow_to:
        return ""
    options = "".join(f"<option>{escape(n)}</option>" for n in viewer.narrow_to)
    return (
        f"<form method=post action='{escape(request.id)}/narrow'>{token}"
        f"<label>Narrow to scope <select name=scope>{options}</select></label> "
        f"<button type=submit>Narrow</button></form>"
        "<p class=note>Narrowing is recorded and the requester is told; approve it then.</p>"
    )
