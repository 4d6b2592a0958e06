"""The audit trail names the Slack user group through which a requester or an approver was
eligible (core/groups.listed_through), so a later reader knows why they could act even after
the group changed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from chalicelib.core.groups import GroupsUnavailable, Members, is_group, listed_through
from chalicelib.core.model import AccessRequest


def noted_through(
    request: AccessRequest, entries: Iterable[str], user: str, members: Members
) -> AccessRequest:
    """``request`` with its latest audit entry (``user``'s own) naming the Slack group through
    which ``user`` is listed in ``entries``; unchanged when they are named directly, by "*",
    or the group cannot be told now (the decision itself was already checked)."""
    try:
        via = listed_through(entries, user, members)
    except GroupsUnavailable:
        return request
    if via is None or not is_group(via) or not request.audit:
        return request
    last = request.audit[-1]
    words = f"eligible through Slack group {via}"
    detail = f"{last.detail}; {words}" if last.detail else words
    return replace(request, audit=(*request.audit[:-1], replace(last, detail=detail)))
