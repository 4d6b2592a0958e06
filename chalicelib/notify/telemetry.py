"""The telemetry of committed changes: a subscriber that turns each written domain event into
the log event and metrics operators watch (docs/operations.md; the alarms read the metrics).

The unit of work (chalicelib/usecases/unit_of_work.py) calls ``committed`` after each write,
so nothing is logged of a change that lost a race or was never written, and the use cases
name what happened, not how it is counted.
"""

from __future__ import annotations

import logging

from chalicelib import telemetry
from chalicelib.core import events
from chalicelib.core.events import Event
from chalicelib.core.model import AccessRequest, State


def about(request: AccessRequest) -> dict:
    """What every event about a request carries: who, which role, until when."""
    return {
        "request_id": request.id,
        "role_arn": request.role_arn,
        "principal": request.principal_arn,
        "expires": request.ends_at,
    }


class TelemetrySubscriber:
    def committed(self, event: Event, was: AccessRequest | None) -> None:
        """Log and count ``event``, written with its change (``was``: the request before)."""
        request, name, by = event.request, event.name, event.actor
        if request is None:
            return
        if name == events.REQUESTED:
            loud = {"break_glass": True} if request.break_glass else {}
            telemetry.event(name, **about(request), seconds=request.duration_seconds, **loud)
            telemetry.metric("requests")
        elif name == events.EXTENSION_REQUESTED:
            telemetry.event(
                name,
                **about(request),
                extends=request.extends,
                seconds=request.duration_seconds,
            )
        elif name in (events.APPROVAL_COUNTED, events.APPROVED) and not request.extends:
            telemetry.event(
                events.APPROVED,
                **about(request),
                approver=by,
                approvals=len(request.approvals),
                required=request.approvals_required,
            )
            telemetry.metric("approvals")
        elif name == events.DENIED:
            telemetry.event(name, **about(request), approver=by)
        elif name == events.CANCELLED:
            telemetry.event(name, **about(request))
        elif name == events.EXTENDED:
            telemetry.event(
                name,
                **about(request),
                extension=event.related.id if event.related else None,
                previous_end=was.ends_at if was else None,
                by=by,
            )
            telemetry.metric("extensions")
        elif name == events.REVOKED:
            telemetry.event(name, **about(request), by=by)
            telemetry.metric("revokes")
        elif name in (events.ACKNOWLEDGED, events.FLAGGED):
            self._reviewed(event, was)
        elif name == events.GRANTED:
            telemetry.event(name, **about(request), break_glass=request.break_glass)
            telemetry.metric("grants")
            if request.break_glass:
                telemetry.metric("breakglass")
        elif name == events.EXPIRED:
            telemetry.event(name, **about(request))
            telemetry.metric("expiries")
        elif name == events.GRANT_FAILED:
            telemetry.event(name, logging.ERROR, **about(request), reason=request.failure)
            telemetry.metric("failures")

    def _reviewed(self, event: Event, was: AccessRequest | None) -> None:
        """A break-glass grant reviewed; flagged while still active, it was revoked with it."""
        request, by = event.request, event.actor
        assert request is not None
        telemetry.event(event.name, **about(request), by=by, break_glass=True)
        if event.name == events.FLAGGED:
            telemetry.metric("breakglass_flagged")
            if was is not None and was.state is State.ACTIVE:
                telemetry.event(events.REVOKED, **about(request), by=by, break_glass=True)
                telemetry.metric("revokes")
