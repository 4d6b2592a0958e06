"""Switchback's entry points: Slack's slash command, the review page, sign-in, the sweep.

Each handler is a few lines: verify, parse, one use case, present. Nothing is built at import.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import asdict
from urllib.parse import parse_qs, urlencode

from chalice import Chalice, Rate, Response

from chalicelib import telemetry
from chalicelib.config import ConfigError, settings
from chalicelib.core import deadline
from chalicelib.core.breakglass import ACKNOWLEDGED, FLAGGED, check_reviewer
from chalicelib.core.decisions import Refused, check_decider, may_revoke
from chalicelib.core.errors import AwsUnavailable, AwsUncertain, LockBusy
from chalicelib.core.model import is_request_id, normalise_request_id
from chalicelib.entry import slack_signature
from chalicelib.web import pages, sessions

app = Chalice(app_name="switchback")
app.log.setLevel(logging.INFO)
logging.getLogger("switchback").setLevel(logging.INFO)

FORM = ["application/x-www-form-urlencoded"]
ACK_BUDGET_SECONDS = 1.5  # inline sends stop here, so Slack gets its answer well within 3 s
# Slack waits 3 s for the answer: a command's AWS calls end within this budget whatever AWS
# does (chalicelib/core/deadline.py), and releasing a role lock may take up to 0.8 s more
# (chalicelib/aws/store.py LOCK_RELEASE_SECONDS); what could not be done is said, never claimed.
COMMAND_BUDGET_SECONDS = 2.1
# API Gateway gives up after 29 s: a review-page button answers with a page well before.
PAGE_BUDGET_SECONDS = 25.0
# A click waits this long at most for a role lock another step holds; then its approval stays
# recorded and that step, or the next sweep, grants it (the page says "approved").
CLICK_LOCK_PATIENCE_SECONDS = 5.0


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


def _service():
    from chalicelib import wiring

    return wiring.service(_base_url())


def _base_url() -> str:
    """Where links and the sign-in redirect point: SWITCHBACK_BASE_URL, else the address this
    request came in on, from API Gateway's request context, with the stage or base path."""
    configured = settings().base_url
    if configured:
        return configured
    request = app.current_request
    if request is None:
        return ""
    return _request_base_url(request.context, request.to_original_event().get("path"))


def _request_base_url(context: dict, route_path: str | None) -> str:
    # requestContext.path is the path as the client asked for it (with "/api", the stage, on
    # the execute-api domain, or a custom domain's base path); the event's own path is the
    # route. What comes before the route is the prefix. Documented at
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
    headers = app.current_request.headers
    host = context.get("domainName") or headers.get("host", "")
    # API Gateway serves HTTPS only; behind anything else, trust what the proxy says.
    scheme = "https" if context.get("domainName") else headers.get("x-forwarded-proto", "https")
    full_path = context.get("path") or ""
    if route_path and full_path.endswith(route_path):
        prefix = full_path[: len(full_path) - len(route_path)]
    else:
        stage = context.get("stage", "")
        prefix = f"/{stage}" if stage and ".execute-api." in host else ""
    return f"{scheme}://{host}{prefix.rstrip('/')}"


def _form() -> dict[str, str]:
    body = app.current_request.raw_body or b""
    return {
        k: v[0]
        for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()
    }


def _html(body: str, status: int = 200, headers: dict | None = None) -> Response:
    return Response(body=body, status_code=status, headers={**pages.HEADERS, **(headers or {})})


def _redirect(location: str, headers: dict | None = None) -> Response:
    # no-store: these answers carry fresh session cookies, which no cache may keep or replay.
    headers = {"Location": location, "Cache-Control": "no-store", **(headers or {})}
    return Response(body="", status_code=303, headers=headers)


def _session() -> sessions.Session | None:
    name = sessions.cookie_name(settings().secure_cookies)
    cookie = sessions.read_cookie(app.current_request.headers.get("cookie"), name)
    return sessions.decode(cookie, settings().cookie_key, time.time())


@app.route("/healthz", methods=["GET"])
def healthz() -> dict:
    from chalicelib import release

    return {"ok": True, **release.current()}


# -- Slack ------------------------------------------------------------------------------------
@app.route("/slack/commands", methods=["POST"], content_types=FORM)
def slack_command() -> Response:
    started = time.monotonic()
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
    form = _form()
    from chalicelib.entry import slash
    from chalicelib.notify import messages

    command = form.get("command") or settings().command_name
    try:
        service = _service()
    except Exception:  # bad deploy (policies, table): say so in Slack, not with a 500
        app.log.exception("cannot build the service")
        return Response(body=messages.ephemeral(slash.sorry(command)), status_code=200)
    with deadline.within(COMMAND_BUDGET_SECONDS - (time.monotonic() - started)) as budget:
        answer = slash.handle_once(
            service,
            slash.Arrival(
                timestamp=request.headers["x-slack-request-timestamp"],
                signature=request.headers["x-slack-signature"],
                retry_num=request.headers.get("x-slack-retry-num"),
            ),
            form.get("user_id", ""),
            form.get("text", ""),
            form.get("response_url"),
            command,
        )
        if answer.ran:  # inline sends stop in time to record what they did (in one write)
            sending = min(
                ACK_BUDGET_SECONDS - (time.monotonic() - started), budget.remaining() - 1.0
            )
            service.flush(max(0.0, sending))
    return _json(answer.body)


def _json(answer: dict | str) -> Response:
    body = answer if isinstance(answer, str) else json.dumps(answer)
    return Response(body=body, status_code=200, headers={"Content-Type": "application/json"})


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
    now = service.clock()
    session = _session()
    if session is None:
        sign_in = _sign_in_url(f"/requests/{found.id}")
        return _html(pages.signed_out_page(found, now, sign_in))
    if service.catalog.person(session.user) is None:  # only the directory sees details
        return _html(pages.not_in_directory_page(session.user), 403)
    role = service.catalog.role(found.role)
    page = pages.review_page(
        found,
        role,
        _viewer(service.catalog, found, session, now, service.groups),
        service.what_approving_writes(found, now),
        now,
        _names(service.catalog),
        _sign_out_url(),
    )
    return _html(page)


def _viewer(catalog, request, session: sessions.Session, now, groups) -> pages.Viewer:
    person = catalog.person(session.user)
    name = person.name if person else None
    if request.break_glass and not request.review:
        try:
            check_reviewer(catalog, request, session.user, groups)
        except Refused:
            pass
        else:
            return pages.Viewer(session.user, name, session.csrf, can_review=True)
    if may_revoke(catalog, request, session.user, groups):
        return pages.Viewer(session.user, name, session.csrf, can_revoke=True)
    try:
        check_decider(catalog, request, session.user, now, members=groups)
    except Refused as refusal:
        return pages.Viewer(session.user, name, session.csrf, why_not=refusal.message)
    return pages.Viewer(session.user, name, session.csrf, can_decide=True)


def _names(catalog) -> dict[str, str]:
    return {"switchback": "Switchback"} | {i: p.name for i, p in catalog.people.items()}


def _sign_in_url(next_path: str) -> str:
    route = "/auth/dev" if settings().dev_sign_in else "/auth/slack"
    return f"{_base_url()}{route}?{urlencode({'next': next_path})}"


def _sign_out_url() -> str:
    return f"{_base_url()}/auth/signout"


def _decide(request_id: str, action: str) -> Response:
    with deadline.within(PAGE_BUDGET_SECONDS), deadline.lock_patience(CLICK_LOCK_PATIENCE_SECONDS):
        try:
            return _decide_within_budget(request_id, action)
        except AwsUncertain:
            return _html(
                pages.message_page(
                    "Not confirmed",
                    "AWS is slow right now, and Switchback could not confirm that your "
                    "click was recorded. Reload the request page in a minute to see.",
                ),
                503,
            )
        except AwsUnavailable as error:
            return _html(
                pages.message_page(
                    "Try again",
                    f"AWS is slow right now ({error}); nothing was changed. Try again in a minute.",
                ),
                503,
            )
        except Exception:  # our own bug: a page that says so, never a bare 500
            app.log.exception("%s of %s failed", action, request_id)
            return _html(
                pages.message_page(
                    "Something went wrong",
                    "Switchback failed on its side; it is logged for the platform team. "
                    "Reload the request page before you try again.",
                ),
                500,
            )


def _decide_within_budget(request_id: str, action: str) -> Response:
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
            service.approve(found.id, session.user, known=found)
        elif action == "revoke":
            service.revoke(found.id, session.user)
        elif action in (ACKNOWLEDGED, FLAGGED):
            service.review(found.id, session.user, action, form.get("reason", "")[:500])
        else:
            service.deny(found.id, session.user, form.get("reason", "")[:500])
    except Refused as refusal:
        return _html(pages.message_page("Not done", refusal.message), 409)
    except LockBusy as error:
        return _html(
            pages.message_page(
                "Try again", f"AWS is busy ({error}); nothing was changed, try again in a minute."
            ),
            503,
        )
    finally:  # sends stop a second early: what they did is recorded in one write after
        budget = deadline.current()
        service.flush(max(0.0, min(5.0, budget.remaining() - 1.0)) if budget else 5.0)
    # The page shows what was recorded (an approval whose grant AWS delayed shows as
    # approved; the next sweep grants it).
    return _redirect(f"{_base_url()}/requests/{found.id}")


@app.route("/requests/{request_id}/approve", methods=["POST"], content_types=FORM)
def approve(request_id: str) -> Response:
    return _decide(request_id, "approve")


@app.route("/requests/{request_id}/deny", methods=["POST"], content_types=FORM)
def deny(request_id: str) -> Response:
    return _decide(request_id, "deny")


@app.route("/requests/{request_id}/acknowledge", methods=["POST"], content_types=FORM)
def acknowledge(request_id: str) -> Response:
    return _decide(request_id, ACKNOWLEDGED)


@app.route("/requests/{request_id}/flag", methods=["POST"], content_types=FORM)
def flag(request_id: str) -> Response:
    return _decide(request_id, FLAGGED)


@app.route("/requests/{request_id}/revoke", methods=["POST"], content_types=FORM)
def revoke(request_id: str) -> Response:
    return _decide(request_id, "revoke")


# -- sign-in -----------------------------------------------------------------------------------
# Only paths on this site, in plain characters: never an open redirect, never a header break.
_SAFE_NEXT = re.compile(r"/(?!/)[A-Za-z0-9/_.~%?=&-]*\Z")
SIGNED_IN_PATH = "/auth/whoami"


def _safe_next(value: str | None) -> str:
    return value if value and _SAFE_NEXT.match(value) else SIGNED_IN_PATH


def _not_found() -> Response:
    return _html(pages.message_page("Not found", "There is no such page."), 404)


def _signed_in(user: str, next_path: str, clear_first: list[str] | None = None) -> Response:
    session = sessions.new_session(user, time.time())
    cookie = sessions.set_cookie(
        sessions.encode(session, settings().cookie_key), secure=settings().secure_cookies
    )
    cookies = [*clear_first, cookie] if clear_first else cookie
    return _redirect(f"{_base_url()}{next_path}", {"Set-Cookie": cookies})


@app.route("/auth/dev", methods=["GET"])
def dev_sign_in_page() -> Response:
    if not settings().dev_sign_in:
        return _not_found()
    next_path = _safe_next((app.current_request.query_params or {}).get("next"))
    people = sorted(_service().catalog.people.values(), key=lambda p: p.name)
    return _html(pages.dev_sign_in_page(people, next_path))


@app.route("/auth/dev", methods=["POST"], content_types=FORM)
def dev_sign_in() -> Response:
    if not settings().dev_sign_in:
        return _not_found()
    form = _form()
    user = form.get("user", "")
    if user not in _service().catalog.people:
        return _html(pages.message_page("Unknown person", "Pick someone from the list."), 400)
    return _signed_in(user, _safe_next(form.get("next")))


def _callback_url() -> str:
    return f"{_base_url()}/auth/slack/callback"


def _sign_in_failed(title: str, text: str, status: int, reason: str) -> Response:
    telemetry.event("signin.refused", logging.WARNING, reason=reason)
    clear = sessions.clear_sign_in_cookie(settings().secure_cookies)
    return _html(pages.message_page(title, text), status, {"Set-Cookie": clear})


@app.route("/auth/slack", methods=["GET"])
def slack_sign_in() -> Response:
    """Start Sign in with Slack: remember state and nonce in a signed cookie, go to Slack."""
    from chalicelib.web import oidc

    config = settings()
    try:
        oidc_settings = config.oidc(_callback_url())
    except ConfigError as error:
        return _html(pages.message_page("Sign-in is not set up", str(error)), 503)
    next_path = _safe_next((app.current_request.query_params or {}).get("next"))
    attempt = sessions.new_sign_in(next_path, time.time())
    cookie = sessions.set_sign_in_cookie(
        sessions.encode_sign_in(attempt, config.cookie_key), config.secure_cookies
    )
    location = oidc.authorization_url(oidc_settings, attempt.state, attempt.nonce)
    return Response(
        body="",
        status_code=302,
        headers={"Location": location, "Set-Cookie": cookie, "Cache-Control": "no-store"},
    )


@app.route("/auth/slack/callback", methods=["GET"])
def slack_sign_in_callback() -> Response:
    """Slack sends the browser back here with a one-time code and our state."""
    from chalicelib.web import oidc

    config = settings()
    params = app.current_request.query_params or {}
    attempt = sessions.decode_sign_in(
        sessions.read_cookie(
            app.current_request.headers.get("cookie"),
            sessions.cookie_name(config.secure_cookies, sessions.SIGN_IN_COOKIE_NAME),
        ),
        config.cookie_key,
        time.time(),
    )
    # Checked before the code is redeemed: a code sent to a browser that did not start this
    # sign-in (login CSRF) is never exchanged.
    if not sessions.state_ok(attempt, params.get("state")):
        return _sign_in_failed(
            "Sign-in failed",
            "This sign-in was not started in this browser, or took longer than 10 minutes. "
            "Open the request link again and sign in.",
            400,
            "state",
        )
    if params.get("error"):
        return _sign_in_failed(
            "Not signed in",
            "Slack did not sign you in. Open the request link to try again.",
            400,
            "cancelled",
        )
    try:
        identity = oidc.exchange_code(
            config.oidc(_callback_url()), params.get("code", ""), attempt.nonce, time.time()
        )
    except ConfigError as error:
        return _html(pages.message_page("Sign-in is not set up", str(error)), 503)
    except oidc.SignInError as error:
        status = 403 if error.reason == "wrong_team" else 400
        return _sign_in_failed("Sign-in failed", error.message, status, error.reason)
    clear = sessions.clear_sign_in_cookie(config.secure_cookies)
    if _service().catalog.person(identity.user_id) is None:
        # A member of the workspace, but not of Switchback's directory: no session at all.
        telemetry.event("signin.refused", logging.WARNING, reason="not_in_directory")
        page = pages.not_in_directory_page(identity.user_id)
        return _html(page, 403, {"Set-Cookie": clear})
    telemetry.event("signin.ok", user=identity.user_id, team=identity.team_id)
    return _signed_in(identity.user_id, attempt.next_path, [clear])


@app.route("/auth/whoami", methods=["GET"])
def who_am_i() -> Response:
    session = _session()
    if session is None:
        return _html(pages.message_page("Not signed in", "Open a request link to sign in."))
    person = _service().catalog.person(session.user)
    name = person.name if person else session.user
    return _html(pages.signed_in_page(name, session.user, session.csrf, _sign_out_url()))


@app.route("/auth/signout", methods=["POST"], content_types=FORM)
def sign_out() -> Response:
    session = _session()
    # Without the token another site could sign people out; with no session there is nothing
    # to protect, and clearing a stale cookie is always fine.
    if session is not None and not sessions.csrf_ok(session, _form().get("csrf")):
        return _html(
            pages.message_page("Refused", "The form's security token is wrong; reload the page."),
            403,
        )
    return _html(
        pages.message_page("Signed out", "You are signed out."),
        200,
        {"Set-Cookie": sessions.clear_cookie(settings().secure_cookies)},
    )


# -- the sweep ---------------------------------------------------------------------------------
def run_sweep() -> dict:
    started = time.monotonic()
    summary = asdict(_service().sweep())
    telemetry.metric("sweep_duration", (time.monotonic() - started) * 1000, "Milliseconds")
    # The heartbeat: one per finished pass. Its absence is the "sweep not running" alarm.
    telemetry.metric("sweep_heartbeat")
    telemetry.metric("sweep_errors", len(summary.get("errors") or ()))
    # Quiet passes are the norm; say something only when the pass did or hit something.
    level = logging.INFO if any(summary.values()) else logging.DEBUG
    telemetry.event("sweep.done", level, **summary)
    return summary


@app.schedule(Rate(1, unit=Rate.MINUTES))
def sweep(event) -> dict:
    return run_sweep()
