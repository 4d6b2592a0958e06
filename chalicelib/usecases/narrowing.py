"""An approver narrows a pending request for a whole role to one of its scopes, before
approving it (core/scopes.py ``narrow``): checked like a decision (``check_decider``),
recorded in the audit trail, and the requester is told. Approving it is then as usual."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib.core import events, scopes
from chalicelib.core.decisions import Refusal, Refused, check_decider
from chalicelib.core.model import AccessRequest

if TYPE_CHECKING:
    from chalicelib.usecases.deciding import Deciding


def narrow(deciding: Deciding, request_id: str, approver: str, scope: str) -> AccessRequest:
    """Narrow ``request_id`` to ``scope``; raises Refused (not an approver, not pending,
    unknown scope, already scoped)."""
    c = deciding._c

    def decide(current: AccessRequest, now: datetime) -> AccessRequest:
        role = check_decider(c.catalog, current, approver, now, members=c.groups)
        if current.extends or current.break_glass:
            raise Refused(Refusal.NOT_PENDING, "Only a request for a role can be narrowed.")
        return scopes.narrow(current, scope, approver, now, role)

    def says(changed: AccessRequest) -> list:
        return [c.event(events.NARROWED, changed, approver, changed.scope or "")]

    return deciding._change(request_id, decide, says)
