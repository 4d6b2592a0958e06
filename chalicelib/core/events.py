"""What happened: the domain events the use cases announce, as small immutable values.

A use case says what happened (``Event``); the subscribers of the notification port
(chalicelib/notify/) decide who hears it and how: Slack messages, an EventBridge event. Each
event is stored with the state change that caused it, as the outbox messages its subscribers
owe, so nothing is heard of a change that was not made, and nothing made goes unheard.

``published_detail`` is the one shape every published event has (docs/events.md): pure, so it is the
same whichever adapter carries it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.core.activity_model import ActivityReport
from chalicelib.core.model import AccessRequest, iso

# A request's life (published to EventBridge; docs/events.md).
REQUESTED = "access.requested"  # also break-glass (its request says so), granted at once
EXTENSION_REQUESTED = "access.extension_requested"  # ``related``: the grant to extend
APPROVAL_COUNTED = "access.approval_counted"  # an approval that did not reach the quorum
APPROVED = "access.approved"
# The approval that reaches the quorum of a window starting later (state SCHEDULED); its
# ``access.granted`` follows at the start, once the sweep re-checked and wrote it.
SCHEDULED = "access.scheduled"
DENIED = "access.denied"  # ``detail``: the approver's reason
CANCELLED = "access.cancelled"
LAPSED = "access.lapsed"  # ``detail``: why
GRANTED = "access.granted"
EXTENDED = "access.extended"  # ``request``: the grant, with its new end; ``related``: extension
EXTENSION_FAILED = "access.extension_failed"  # ``detail``: why
EXPIRED = "access.expired"
REVOKED = "access.revoked"
GRANT_FAILED = "grant.failed"  # ``detail``: why
DRIFT_REPAIRED = "drift.repaired"  # no request: ``role_arn`` and ``detail`` (what was repaired)
ACKNOWLEDGED = "breakglass.acknowledged"  # ``detail``: the reviewer's note
FLAGGED = "breakglass.flagged"  # ``detail``: why; a grant still active is revoked with it
# The person's break-glass on the role is suspended by the flag, until an approver lifts it
# (``request``: the flagged grant; ``detail``: in words).
BREAKGLASS_SUSPENDED = "breakglass.suspended"
BREAKGLASS_UNSUSPENDED = "breakglass.unsuspended"
ACTIVITY_REPORTED = "access.activity_reported"  # ``report``: what the grant was used for

# Said to people only (not a change of state): stored on their own, once each (``once``).
REVOKE_UNFINISHED = "access.revoke_unfinished"  # ``detail``: what IAM still owes, in words
ENDING_SOON = "access.ending_soon"
AWAITING_DECISION = "access.awaiting_decision"
REVIEW_OVERDUE = "breakglass.review_overdue"
STARTING_SOON = "access.starting_soon"  # a scheduled window starts soon (core/schedule.py)
NARROWED = "access.narrowed"  # an approver narrowed a pending request to a scope

LIFECYCLE = frozenset(
    {
        REQUESTED,
        EXTENSION_REQUESTED,
        APPROVAL_COUNTED,
        APPROVED,
        SCHEDULED,
        DENIED,
        CANCELLED,
        LAPSED,
        GRANTED,
        EXTENDED,
        EXTENSION_FAILED,
        EXPIRED,
        REVOKED,
        GRANT_FAILED,
        DRIFT_REPAIRED,
        ACKNOWLEDGED,
        FLAGGED,
        BREAKGLASS_SUSPENDED,
        BREAKGLASS_UNSUSPENDED,
        ACTIVITY_REPORTED,
    }
)


@dataclass(frozen=True)
class Event:
    """``name`` happened to ``request`` (as written by that change) at ``at``, by ``actor``
    (a Slack user id, ``switchback``, or ``aws:<ARN>`` for an operator)."""

    name: str
    at: datetime
    request: AccessRequest | None = None
    actor: str | None = None
    detail: str = ""  # why, in words: a denial's reason, a failure, what drift was repaired
    related: AccessRequest | None = None  # the other request of an extension (see the names)
    role_arn: str = ""  # the role, for an event about no request (drift)
    base_url: str = ""  # where links to the request point
    once: str | None = None  # a key: announced at most once (reminders)
    report: ActivityReport | None = None  # an activity report (``access.activity_reported``)
    added: timedelta | None = None  # access.extended: how much later the grant ends now


def published_detail(event: Event, name: str, event_id: str) -> dict:
    """What a published event carries (docs/events.md): ``event_id`` is the deduplication key,
    the same on every delivery of this event."""
    request = event.request
    body: dict = {"event_id": event_id, "event": name, "time": iso(event.at)}
    if event.report is not None:  # its own shape: the report's counts and actions
        return {**body, **event.report.detail()}
    if request is None:
        return {**body, "role_arn": event.role_arn, "actor": event.actor, "why": event.detail}
    body.update(
        {
            "request_id": request.id,
            "state": request.state.value,
            "role": request.role,
            "role_arn": request.role_arn,
            "principal": request.principal_arn,
            "requester": {"id": request.requester, "name": request.requester_name},
            "actor": event.actor,
            "reason": request.reason,
            "duration_seconds": request.duration_seconds,
            "ends_at": request.ends_at,
            "approvals": list(request.approvals),
            "approvals_required": request.approvals_required,
            "break_glass": request.break_glass,
        }
    )
    if event.detail:
        body["why"] = event.detail
    if request.extends:
        body["extends"] = request.extends
    if request.scope:
        body["scope"] = {"name": request.scope, "actions": list(request.scope_actions)}
    if request.starts_at:
        body["starts_at"] = request.starts_at
    if event.related is not None:
        body["related_request_id"] = event.related.id
    if event.base_url:
        body["url"] = f"{event.base_url}/requests/{request.id}"
    return body
