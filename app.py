"""Switchback's Chalice app: its middleware, /healthz, the routes' blueprints and the sweep.

The routes live in chalicelib/entry/ (slack_routes, review_routes, auth_routes), each handler a
few lines: verify, parse, one use case, present. Nothing is built at import.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict

from chalice import Chalice, Rate, Response

from chalicelib import telemetry
from chalicelib.config import settings
from chalicelib.core.iam_changes import DETAIL_TYPE
from chalicelib.entry import http
from chalicelib.entry.auth_routes import auth_routes
from chalicelib.entry.review_routes import review_routes
from chalicelib.entry.slack_routes import slack_routes

app = Chalice(app_name="switchback")
app.log.setLevel(logging.INFO)
logging.getLogger("switchback").setLevel(logging.INFO)


@app.middleware("all")
def observe(event, get_response):
    # Every line of this invocation carries its Lambda request id; metrics leave at its end.
    context = getattr(event, "lambda_context", None) or getattr(event, "context", None)
    telemetry.start_invocation(getattr(context, "aws_request_id", None))
    if not settings().local:
        telemetry.start_tracing()
    try:
        return get_response(event)
    finally:
        telemetry.flush()


# Slack's slash commands are a few KB and no form here needs more; anything bigger is refused
# before it is read as a form, signed in or not (parse_qs time grows with the body).
MAX_BODY_BYTES = 64 * 1024
# Deployed stages are HTTPS only: browsers must never try them over plain HTTP again.
HSTS = "max-age=63072000; includeSubDomains"


@app.middleware("http")
def guard(event, get_response):
    if _too_big(event):
        return Response(
            body=f"Request body too large: at most {MAX_BODY_BYTES // 1024} KiB.",
            status_code=413,
            headers={"Content-Type": "text/plain; charset=utf-8", "Connection": "close"},
        )
    response = get_response(event)
    if not settings().local:
        response.headers["Strict-Transport-Security"] = HSTS
    return response


def _too_big(request) -> bool:
    declared = (request.headers or {}).get("content-length", "")
    if declared.strip().isdigit() and int(declared) > MAX_BODY_BYTES:
        return True
    return len(request.raw_body or b"") > MAX_BODY_BYTES


@app.route("/healthz", methods=["GET"])
def healthz() -> dict:
    from chalicelib import release

    return {"ok": True, **release.current()}


# The routes, one blueprint each: Slack's slash command, the review page, sign-in.
app.register_blueprint(slack_routes)
app.register_blueprint(review_routes)
app.register_blueprint(auth_routes)


# -- the sweep ---------------------------------------------------------------------------------
def run_sweep(time_left: Callable[[], float] | None = None) -> dict:
    """One sweep pass; ``time_left``: the invocation's seconds left (None locally)."""
    started = time.monotonic()
    summary = asdict(http.service(None).sweep(time_left))
    telemetry.metric("sweep_duration", (time.monotonic() - started) * 1000, "Milliseconds")
    # The heartbeat: one per finished pass. Its absence is the "sweep not running" alarm.
    telemetry.metric("sweep_heartbeat")
    telemetry.metric("sweep_errors", len(summary.get("errors") or ()))
    # Quiet passes are the norm; say something only when the pass did or hit something.
    level = logging.INFO if any(summary.values()) else logging.DEBUG
    telemetry.event("sweep.done", level, **summary)
    return summary


def role_changed(event: dict) -> dict:
    """An IAM change to a managed role (deploy/template.yaml RoleChangeRule): mark the role for
    the next pass, and no pass now."""
    broker = settings().broker_role_arn
    marked = http.service(None).role_changed(event, [broker] if broker else [])
    return {"marked": marked}


@app.schedule(Rate(1, unit=Rate.MINUTES))
def sweep(event) -> dict:
    # The same function gets the schedule's events and RoleChangeRule's (CloudTrail's).
    if event.detail_type == DETAIL_TYPE:
        return role_changed(event.to_dict())
    # Deployed, the pass stops in time for the invocation's end; the local stage has no real
    # invocation (chalice's stand-in context says 3 s whatever the timeout).
    context = getattr(event, "context", None)
    if settings().local or not hasattr(context, "get_remaining_time_in_millis"):
        return run_sweep()
    return run_sweep(lambda: context.get_remaining_time_in_millis() / 1000)
