"""Signed, expiring session cookies and the CSRF token bound to them (stdlib only)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

COOKIE_NAME = "switchback_session"
SESSION_SECONDS = 8 * 3600


@dataclass(frozen=True)
class Session:
    user: str  # Slack user id
    expires: int  # epoch seconds
    csrf: str  # random, per session; the form echoes it back


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _same(expected: str, given: str) -> bool:
    """Constant-time compare that also takes non-ASCII input (hmac.compare_digest raises
    TypeError on non-ASCII str, and cookies and form fields can carry anything)."""
    return hmac.compare_digest(
        expected.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass")
    )


def _mac(key: str, body: str) -> str:
    message = body.encode("utf-8", "surrogatepass")
    return _b64(hmac.new(key.encode(), message, hashlib.sha256).digest())


def new_session(user: str, now: float, lifetime: int = SESSION_SECONDS) -> Session:
    return Session(user=user, expires=int(now) + lifetime, csrf=secrets.token_urlsafe(24))


def encode(session: Session, key: str) -> str:
    body = _b64(
        json.dumps(
            {"u": session.user, "e": session.expires, "c": session.csrf}, separators=(",", ":")
        ).encode()
    )
    return f"{body}.{_mac(key, body)}"


def decode(value: str | None, key: str, now: float) -> Session | None:
    """The session in a cookie value, or None if missing, tampered with or expired."""
    if not value or "." not in value:
        return None
    body, mac = value.rsplit(".", 1)
    if not _same(_mac(key, body), mac):
        return None
    try:
        data = json.loads(_unb64(body))
        session = Session(user=str(data["u"]), expires=int(data["e"]), csrf=str(data["c"]))
    except (ValueError, KeyError, TypeError):
        return None
    return session if session.expires > now else None


def read_cookie(header: str | None, name: str = COOKIE_NAME) -> str | None:
    for part in (header or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def set_cookie(value: str, secure: bool, max_age: int = SESSION_SECONDS) -> str:
    flags = "; Secure" if secure else ""
    return f"{COOKIE_NAME}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{flags}"


def clear_cookie(secure: bool) -> str:
    return set_cookie("", secure, max_age=0)


def csrf_ok(session: Session | None, submitted: str | None) -> bool:
    return bool(session and submitted and _same(session.csrf, submitted))
