"""Switchback's entry points: Slack's slash command, the review page, sign-in, the sweep.

Each handler is a few lines: verify, parse, one use case, present. Nothing is built at import.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from urllib.parse import parse_qs, urlencode

from chalice import Chalice, Rate, Response

from chalicelib import pages, sessions, slack_signature
from chalicelib.config import settings
from chalicelib.decisions import Refused, check_decider
from chalicelib.errors import AwsUnavailable, LockBusy
from chalicelib.model import is_request_id, normalise_request_id
from chalicelib.trust import Grant, statement_for

app = Chalice(app_name="switchback")
app.log.setLevel(logging.INFO)
logging.getLogger("switchback").setLevel(logging.INFO)

FORM = ["application/x-www-form-urlencoded"]
ACK_BUDGET_SECONDS = 1.5  # inline sends stop here, so Slack gets its answer well within 3 s


def _service():
    from chalicelib import wiring

    return wiring.service(_base_url())


def _base_url() -> str:
    configured = settings().base_url
    if configured:
        return configured
    request = app.current_request
    if request is None:
        return ""
    host = request.headers.get("host", "")
    proto = request.headers.get("x-forwarded-proto", "https")
    stage = request.context.get("stage", "")
    prefix = f"/{stage}" if stage and host.endswith("amazonaws.com") else ""
    return f"{proto}://{host}{prefix}"


def _form() -> dict[str, str]:
    body = app.current_request.raw_body or b""
    return {
        k: v[0]
        for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()
    }


def _html(body: str, status: int = 200, headers: dict | None = None) -> Response:
    return Response(body=body, status_code=status, headers={**pages.HEADERS, **(headers or {})})


def _redirect(location: str, headers: dict | None = None) -> Response:
    return Response(body="", status_code=303, headers={"Location": location, **(headers or {})})


def _session() -> sessions.Session | None:
    cookie = sessions.read_cookie(app.current_request.headers.get("cookie"))
    return sessions.decode(cookie, settings().cookie_key, time.time())


@app.route("/healthz", methods=["GET"])
def healthz() -> dict:
    return {"ok": True}


# -- Slack ------------------------------------------------------------------------------------
@app.route("/slack/commands", methods=["POST"], content_types=FORM)
def slack_command() -> Response:
    request = app.current_request
    body = request.raw_body or b""
    if not slack_signature.is_valid(
        settings().signing_secret,
        request.headers.get("x-slack-request-timestamp"),
        body,
        request.headers.get("x-slack-signature"),
        time.time(),
    ):
        return Response(body={"error": "invalid Slack signature"}, status_code=401)
    started = time.monotonic()
    form = _form()
    from chalicelib import slash

    service = _service()
    answer = slash.handle(
        service,
        form.get("user_id", ""),
        form.get("text", ""),
        form.get("response_url"),
        form.get("command") or settings().command_name,
    )
    service.flush(max(0.0, ACK_BUDGET_SECONDS - (time.monotonic() - started)))
    return Response(body=answer, status_code=200, headers={"Content-Type": "application/json"})


# -- the review page ---------------------------------------------------------------------------
def _request_or_page(request_id: str):
    if not is_request_id(request_id):
        return None, _html(pages.message_page("Not found", "There is no such request."), 404)
    found = _service().get(normalise_request_id(request_id))
    if found is None:
        return None, _html(pages.message_page("Not found", "There is no such request."), 404)
    return found, None


@app.route("/requests/{request_id}", methods=["GET"])
def review(request_id: str) -> Response:
    found, missing = _request_or_page(request_id)
    if missing:
        return missing
    service = _service()
    session = _session()
    now = service.clock()
    can_act, why_not = False, ""
    if session is not None:
        try:
            check_decider(service.catalog, found, session.user, now)
            can_act = True
        except Refused as refusal:
            why_not = refusal.message
    grant = Grant(
        found.id,
        found.principal_arn,
        found.session_name,
        found.ends() or found.end_if_approved_at(now),
        found.require_mfa,
    )
    sign_in = _sign_in_url(f"/requests/{found.id}")
    page = pages.review_page(
        found,
        service.catalog.role(found.role),
        session.user if session else None,
        can_act,
        why_not,
        session.csrf if session else "",
        statement_for(grant),
        now,
        sign_in,
    )
    return _html(page)


def _sign_in_url(next_path: str) -> str:
    route = "/auth/dev" if settings().local else "/auth/slack"
    return f"{_base_url()}{route}?{urlencode({'next': next_path})}"


def _decide(request_id: str, action: str) -> Response:
    found, missing = _request_or_page(request_id)
    if missing:
        return missing
    session = _session()
    form = _form()
    if session is None:
        return _html(
            pages.message_page(
                "Sign in first",
                "Your session is missing or expired; open the request link again and sign in.",
            ),
            401,
        )
    if not sessions.csrf_ok(session, form.get("csrf")):
        return _html(
            pages.message_page(
                "Refused",
                "The form's security token is missing or "
                "wrong; reload the request page and try again.",
            ),
            403,
        )
    service = _service()
    try:
        if action == "approve":
            service.approve(found.id, session.user)
        else:
            service.deny(found.id, session.user, form.get("reason", "")[:500])
    except Refused as refusal:
        return _html(pages.message_page("Not done", refusal.message), 409)
    except (AwsUnavailable, LockBusy) as error:
        return _html(
            pages.message_page(
                "Try again", f"AWS is busy ({error}); nothing was lost, try again in a minute."
            ),
            503,
        )
    finally:
        service.flush(5.0)
    return _redirect(f"{_base_url()}/requests/{found.id}")


@app.route("/requests/{request_id}/approve", methods=["POST"], content_types=FORM)
def approve(request_id: str) -> Response:
    return _decide(request_id, "approve")


@app.route("/requests/{request_id}/deny", methods=["POST"], content_types=FORM)
def deny(request_id: str) -> Response:
    return _decide(request_id, "deny")


# -- sign-in -----------------------------------------------------------------------------------
def _safe_next(value: str | None) -> str:
    # Only paths on this site: never an open redirect to another host.
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/healthz"
    return value


def _local_only() -> Response | None:
    if settings().local:
        return None
    return _html(pages.message_page("Not found", "There is no such page."), 404)


@app.route("/auth/dev", methods=["GET"])
def dev_sign_in_page() -> Response:
    if refused := _local_only():
        return refused
    next_path = _safe_next((app.current_request.query_params or {}).get("next"))
    people = sorted(_service().catalog.people.values(), key=lambda p: p.name)
    return _html(pages.dev_sign_in_page(people, next_path))


@app.route("/auth/dev", methods=["POST"], content_types=FORM)
def dev_sign_in() -> Response:
    if refused := _local_only():
        return refused
    form = _form()
    user = form.get("user", "")
    if user not in _service().catalog.people:
        return _html(pages.message_page("Unknown person", "Pick someone from the list."), 400)
    session = sessions.new_session(user, time.time())
    cookie = sessions.set_cookie(
        sessions.encode(session, settings().cookie_key), secure=settings().secure_cookies
    )
    return _redirect(f"{_base_url()}{_safe_next(form.get('next'))}", {"Set-Cookie": cookie})


@app.route("/auth/signout", methods=["POST"], content_types=FORM)
def sign_out() -> Response:
    return _html(
        pages.message_page("Signed out", "You are signed out."),
        200,
        {"Set-Cookie": sessions.clear_cookie(settings().secure_cookies)},
    )


# -- the sweep ---------------------------------------------------------------------------------
def run_sweep() -> dict:
    summary = asdict(_service().sweep())
    # Quiet passes are the norm; say something only when the pass did or hit something.
    level = logging.INFO if any(summary.values()) else logging.DEBUG
    app.log.log(level, "sweep.done %s", json.dumps(summary))
    return summary


@app.schedule(Rate(1, unit=Rate.MINUTES))
def sweep(event) -> dict:
    return run_sweep()
