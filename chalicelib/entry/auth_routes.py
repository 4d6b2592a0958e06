"""Signing in and out: the local dev sign-in (/auth/dev, 404 on deployed stages), Sign in with
Slack (/auth/slack and its callback), /auth/whoami and /auth/signout."""

from __future__ import annotations

import logging
import re
import time

from chalice import Blueprint, Response

from chalicelib import telemetry
from chalicelib.config import ConfigError, settings
from chalicelib.entry import http
from chalicelib.web import pages, sessions

auth_routes = Blueprint(__name__)

# Only paths on this site, in plain characters: never an open redirect, never a header break.
_SAFE_NEXT = re.compile(r"/(?!/)[A-Za-z0-9/_.~%?=&-]*\Z")
SIGNED_IN_PATH = "/auth/whoami"


def _safe_next(value: str | None) -> str:
    return value if value and _SAFE_NEXT.match(value) else SIGNED_IN_PATH


def _not_found() -> Response:
    return http.message("Not found", "There is no such page.", 404)


def _signed_in(user: str, next_path: str, clear_first: list[str] | None = None) -> Response:
    session = sessions.new_session(user, time.time())
    cookie = sessions.set_cookie(
        sessions.encode(session, settings().cookie_key), secure=settings().secure_cookies
    )
    cookies = [*clear_first, cookie] if clear_first else cookie
    base = http.base_url(auth_routes.current_request)
    return http.redirect(f"{base}{next_path}", {"Set-Cookie": cookies})


@auth_routes.route("/auth/dev", methods=["GET"])
def dev_sign_in_page() -> Response:
    if not settings().dev_sign_in:
        return _not_found()
    request = auth_routes.current_request
    next_path = _safe_next((request.query_params or {}).get("next"))
    people = sorted(http.service(request).catalog.people.values(), key=lambda p: p.name)
    return http.html(pages.dev_sign_in_page(people, next_path))


@auth_routes.route("/auth/dev", methods=["POST"], content_types=http.FORM)
def dev_sign_in() -> Response:
    if not settings().dev_sign_in:
        return _not_found()
    request = auth_routes.current_request
    form = http.form(request)
    user = form.get("user", "")
    if user not in http.service(request).catalog.people:
        return http.message("Unknown person", "Pick someone from the list.", 400)
    return _signed_in(user, _safe_next(form.get("next")))


def _callback_url() -> str:
    return f"{http.base_url(auth_routes.current_request)}/auth/slack/callback"


def _sign_in_failed(title: str, text: str, status: int, reason: str) -> Response:
    telemetry.event("signin.refused", logging.WARNING, reason=reason)
    clear = sessions.clear_sign_in_cookie(settings().secure_cookies)
    return http.message(title, text, status, {"Set-Cookie": clear})


@auth_routes.route("/auth/slack", methods=["GET"])
def slack_sign_in() -> Response:
    """Start Sign in with Slack: remember state and nonce in a signed cookie, go to Slack."""
    from chalicelib.web import oidc

    config = settings()
    try:
        oidc_settings = config.oidc(_callback_url())
    except ConfigError as error:
        return http.message("Sign-in is not set up", str(error), 503)
    next_path = _safe_next((auth_routes.current_request.query_params or {}).get("next"))
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


@auth_routes.route("/auth/slack/callback", methods=["GET"])
def slack_sign_in_callback() -> Response:
    """Slack sends the browser back here with a one-time code and our state."""
    from chalicelib.web import oidc

    config = settings()
    request = auth_routes.current_request
    params = request.query_params or {}
    attempt = sessions.decode_sign_in(
        sessions.read_cookie(
            request.headers.get("cookie"),
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
        return http.message("Sign-in is not set up", str(error), 503)
    except oidc.SignInError as error:
        status = 403 if error.reason == "wrong_team" else 400
        return _sign_in_failed("Sign-in failed", error.message, status, error.reason)
    clear = sessions.clear_sign_in_cookie(config.secure_cookies)
    if http.service(request).catalog.person(identity.user_id) is None:
        # A member of the workspace, but not of Switchback's directory: no session at all.
        telemetry.event("signin.refused", logging.WARNING, reason="not_in_directory")
        page = pages.not_in_directory_page(identity.user_id)
        return http.html(page, 403, {"Set-Cookie": clear})
    telemetry.event("signin.ok", user=identity.user_id, team=identity.team_id)
    return _signed_in(identity.user_id, attempt.next_path, [clear])


@auth_routes.route("/auth/whoami", methods=["GET"])
def who_am_i() -> Response:
    request = auth_routes.current_request
    session = http.session(request)
    if session is None:
        return http.message("Not signed in", "Open a request link to sign in.")
    person = http.service(request).catalog.person(session.user)
    name = person.name if person else session.user
    return http.html(
        pages.signed_in_page(name, session.user, session.csrf, http.sign_out_url(request))
    )


@auth_routes.route("/auth/signout", methods=["POST"], content_types=http.FORM)
def sign_out() -> Response:
    request = auth_routes.current_request
    session = http.session(request)
    # Without the token another site could sign people out; with no session there is nothing
    # to protect, and clearing a stale cookie is always fine.
    if session is not None and not sessions.csrf_ok(session, http.form(request).get("csrf")):
        return http.message("Refused", "The form's security token is wrong; reload the page.", 403)
    return http.message(
        "Signed out",
        "You are signed out.",
        200,
        {"Set-Cookie": sessions.clear_cookie(settings().secure_cookies)},
    )
