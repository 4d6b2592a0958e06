"""What the HTTP routes share: the form, HTML and redirect answers, the signed-in session, the
base URL links point at, and the service (built on first use, never at import).

Each function takes the request it works on (a blueprint's ``current_request``), so nothing
here holds the app or any state of its own.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode

from chalice import Response
from chalice.app import Request

from chalicelib.config import settings
from chalicelib.entry import errors
from chalicelib.web import layout, sessions

if TYPE_CHECKING:
    from chalicelib.service import Switchback

FORM = ["application/x-www-form-urlencoded"]


def service(request: Request | None) -> Switchback:
    """The process-wide service; links in what it sends point where ``request`` came in."""
    from chalicelib import wiring

    return wiring.service(base_url(request))


def base_url(request: Request | None) -> str:
    """Where links and the sign-in redirect point: SWITCHBACK_BASE_URL, else the address this
    request came in on, from API Gateway's request context, with the stage or base path."""
    configured = settings().base_url
    if configured:
        return configured
    if request is None:
        return ""
    return request_base_url(request, request.to_original_event().get("path"))


def request_base_url(request: Request, route_path: str | None) -> str:
    # requestContext.path is the path as the client asked for it (with "/api", the stage, on
    # the execute-api domain, or a custom domain's base path); the event's own path is the
    # route. What comes before the route is the prefix. Documented at
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
    context = request.context
    headers = request.headers
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


def form(request: Request) -> dict[str, str]:
    body = request.raw_body or b""
    return {
        k: v[0]
        for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()
    }


def html(body: str, status: int = 200, headers: dict | None = None) -> Response:
    return Response(body=body, status_code=status, headers={**layout.HEADERS, **(headers or {})})


def message(title: str, text: str, status: int = 200, headers: dict | None = None) -> Response:
    """A page with a heading and one paragraph (both escaped)."""
    return html(layout.message_page(title, text), status, headers)


def error_page(error: Exception) -> Response:
    """The page for an error a use case raised, from the one table (entry/errors.py)."""
    told = errors.told(error)
    return message(told.title, errors.page_words(error), told.status)


def redirect(location: str, headers: dict | None = None) -> Response:
    # no-store: these answers carry fresh session cookies, which no cache may keep or replay.
    headers = {"Location": location, "Cache-Control": "no-store", **(headers or {})}
    return Response(body="", status_code=303, headers=headers)


def session(request: Request) -> sessions.Session | None:
    name = sessions.cookie_name(settings().secure_cookies)
    cookie = sessions.read_cookie(request.headers.get("cookie"), name)
    return sessions.decode(cookie, settings().cookie_key, time.time())


def sign_in_url(request: Request, next_path: str) -> str:
    route = "/auth/dev" if settings().dev_sign_in else "/auth/slack"
    return f"{base_url(request)}{route}?{urlencode({'next': next_path})}"


def sign_out_url(request: Request) -> str:
    return f"{base_url(request)}/auth/signout"
