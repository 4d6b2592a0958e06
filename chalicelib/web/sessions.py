"""Signed, expiring cookies (stdlib only): the session with its CSRF token, and the short-lived
record of a Sign in with Slack attempt (its state, nonce and where to go afterwards)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

COOKIE_NAME = "switchback_session"
SESSION_SECONDS = 8 * 3600
SIGN_IN_COOKIE_NAME = "switchback_sign_in"
SIGN_IN_SECONDS = 10 * 60  # time to get through Slack's consent screen
# Each kind of cookie is signed under its own purpose, so a sign-in record is never accepted as
# a session (it would carry a user id from no sign-in at all) or the other way round, whatever
# cookie name it arrives under.
_SESSION_PURPOSE = "session:"
_SIGN_IN_PURPOSE = "sign-in:"
# Over HTTPS cookies carry the __Host- prefix: browsers then accept them only with Secure,
# Path=/ and no Domain, so a sibling subdomain cannot plant or overwrite one. Plain-HTTP local
# stacks cannot use it (browsers refuse the prefix without Secure).
HOST_PREFIX = "__Host-"


@dataclass(frozen=True)
class Session:
    user: str  # Slack user id
    expires: int  # epoch seconds
    csrf: str  # random, per session; the form echoes it back


@dataclass(frozen=True)
class SignInAttempt:
    state: str  # echoed by Slack on the redirect back: ties it to this browser
    nonce: str  # inside Slack's id_token: ties the identity to this attempt
    next_path: str  # where to go once signed in
    expires: int  # epoch seconds


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


def _mac(key: str, body: str, purpose: str = "") -> str:
    message = (purpose + body).encode("utf-8", "surrogatepass")
    return _b64(hmac.new(key.encode(), message, hashlib.sha256).digest())


def _seal(data: dict, key: str, purpose: str = "") -> str:
    body = _b64(json.dumps(data, separators=(",", ":")).encode())
    return f"{body}.{_mac(key, body, purpose)}"


def _unseal(value: str | None, key: str, purpose: str = "") -> dict | None:
    """The signed data in ``value``, or None if it is missing, malformed or tampered with."""
    if not value or "." not in value:
        return None
    body, mac = value.rsplit(".", 1)
    if not _same(_mac(key, body, purpose), mac):
        return None
    try:
        data = json.loads(_unb64(body))
    except (ValueError, TypeError):
        return None
    return data if isinstance(data, dict) else None


def new_session(user: str, now: float, lifetime: int = SESSION_SECONDS) -> Session:
    return Session(user=user, expires=int(now) + lifetime, csrf=secrets.token_urlsafe(24))


def encode(session: Session, key: str) -> str:
    data = {"u": session.user, "e": session.expires, "c": session.csrf}
    return _seal(data, key, _SESSION_PURPOSE)


def decode(value: str | None, key: str, now: float) -> Session | None:
    """The session in a cookie value, or None if missing, tampered with or expired."""
    data = _unseal(value, key, _SESSION_PURPOSE)
    try:
        session = Session(user=str(data["u"]), expires=int(data["e"]), csrf=str(data["c"]))
    except (ValueError, KeyError, TypeError):
        return None
    return session if session.expires > now else None


def new_sign_in(next_path: str, now: float, lifetime: int = SIGN_IN_SECONDS) -> SignInAttempt:
    return SignInAttempt(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        next_path=next_path,
        expires=int(now) + lifetime,
    )


def encode_sign_in(attempt: SignInAttempt, key: str) -> str:
    data = {"s": attempt.state, "n": attempt.nonce, "x": attempt.next_path, "e": attempt.expires}
    return _seal(data, key, _SIGN_IN_PURPOSE)


def decode_sign_in(value: str | None, key: str, now: float) -> SignInAttempt | None:
    """The sign-in attempt in a cookie value, or None if missing, tampered with or expired."""
    data = _unseal(value, key, _SIGN_IN_PURPOSE)
    try:
        attempt = SignInAttempt(
            state=str(data["s"]),
            nonce=str(data["n"]),
            next_path=str(data["x"]),
            expires=int(data["e"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
    return attempt if attempt.expires > now and attempt.state and attempt.nonce else None


def state_ok(attempt: SignInAttempt | None, returned_state: str | None) -> bool:
    """Did Slack send back the state of the attempt this browser started?"""
    return bool(attempt and returned_state and _same(attempt.state, returned_state))


def cookie_name(secure: bool, name: str = COOKIE_NAME) -> str:
    """The name a cookie goes by: ``__Host-``-prefixed wherever it is Secure."""
    return HOST_PREFIX + name if secure else name


def read_cookie(header: str | None, name: str = COOKIE_NAME) -> str | None:
    for part in (header or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def set_cookie(
    value: str, secure: bool, max_age: int = SESSION_SECONDS, name: str = COOKIE_NAME
) -> str:
    flags = "; Secure" if secure else ""
    # SameSite=Lax: sent when Slack redirects back (a top-level GET), never on another site's
    # POST, which is what keeps forged approve forms out even before the CSRF check.
    # Path=/ and no Domain: what the __Host- prefix requires.
    return (
        f"{cookie_name(secure, name)}={value}; Path=/; Max-Age={max_age}; HttpOnly; "
        f"SameSite=Lax{flags}"
    )


def clear_cookie(secure: bool, name: str = COOKIE_NAME) -> str:
    return set_cookie("", secure, max_age=0, name=name)


def set_sign_in_cookie(value: str, secure: bool) -> str:
    return set_cookie(value, secure, SIGN_IN_SECONDS, SIGN_IN_COOKIE_NAME)


def clear_sign_in_cookie(secure: bool) -> str:
    return clear_cookie(secure, SIGN_IN_COOKIE_NAME)


def csrf_ok(session: Session | None, submitted: str | None) -> bool:
    return bool(session and submitted and _same(session.csrf, submitted))
