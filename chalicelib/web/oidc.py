"""Sign in with Slack: a small OpenID Connect client for the authorization-code flow.

Standard library only, so it adds nothing to the Lambda bundle and nothing runs at import time.
Every failure surfaces as SignInError, whose message is safe to show to the person signing in.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import http.client
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

SCOPES = "openid profile email"
USER_ID_CLAIM = "https://slack.com/user_id"
TEAM_ID_CLAIM = "https://slack.com/team_id"

# A token response is a few KB; refuse to buffer anything absurd.
_MAX_RESPONSE_BYTES = 1 << 20
# Hosts where plain HTTP is acceptable (local fakes in tests); everything else needs TLS,
# because TLS is what stands in for the id_token signature check below.
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})

_RESTART = "Please start the sign-in again."
_ADMIN = "Please tell an administrator."


@dataclass(frozen=True)
class OidcSettings:
    client_id: str
    client_secret: str
    redirect_uri: str
    team_id: str | None  # the only Slack workspace allowed; None = any workspace
    authorize_url: str = "https://slack.com/openid/connect/authorize"
    token_url: str = "https://slack.com/api/openid.connect.token"
    issuer: str = "https://slack.com"
    timeout_seconds: float = 5.0

    def __repr__(self) -> str:
        # Keep the secret out of logs and tracebacks that print the settings.
        return (
            f"OidcSettings(client_id={self.client_id!r}, client_secret='***', "
            f"redirect_uri={self.redirect_uri!r}, team_id={self.team_id!r}, "
            f"authorize_url={self.authorize_url!r}, token_url={self.token_url!r}, "
            f"issuer={self.issuer!r}, timeout_seconds={self.timeout_seconds!r})"
        )


@dataclass(frozen=True)
class SlackIdentity:
    user_id: str
    team_id: str
    name: str | None
    email: str | None


class SignInError(Exception):
    """Sign-in failed. str(error) is a human-readable message meant for the user's page.

    `reason` is a short machine-readable tag for logs and tests; it never holds secrets.
    """

    def __init__(self, message: str, reason: str = "sign_in_failed") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


def authorization_url(settings: OidcSettings, state: str, nonce: str) -> str:
    """URL to send the browser to so the user can approve "Sign in with Slack"."""
    params = {
        "response_type": "code",
        "scope": SCOPES,
        "client_id": settings.client_id,
        "redirect_uri": settings.redirect_uri,
        "state": state,
        "nonce": nonce,
    }
    if settings.team_id:
        # Only a hint to Slack's UI (preselects the workspace); exchange_code enforces it.
        params["team"] = settings.team_id
    separator = "&" if "?" in settings.authorize_url else "?"
    return settings.authorize_url + separator + urllib.parse.urlencode(params)


def exchange_code(
    settings: OidcSettings, code: str, expected_nonce: str, now: float
) -> SlackIdentity:
    """Trade the authorization code from the redirect for the signed-in user's identity.

    `now` is the current Unix time (passed in so callers and tests control the clock).
    Raises SignInError on any failure.
    """
    if not code:
        raise SignInError("The sign-in link is incomplete. " + _RESTART, "missing_code")
    if not expected_nonce:
        # Without the nonce we stored when the sign-in started we cannot tie the answer to it.
        raise SignInError("Your sign-in session has expired. " + _RESTART, "missing_nonce")
    _require_tls(settings.token_url)

    response = _post_token_request(settings, code)
    if response.get("ok") is not True:
        raise _slack_error(response.get("error"))
    id_token = response.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise SignInError(
            "Slack did not return an identity for this sign-in. " + _RESTART, "no_id_token"
        )
    claims = _decode_jwt_payload(id_token)
    return _identity_from_claims(settings, claims, expected_nonce, now)


def _require_tls(url: str) -> None:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "https" or (parsed.scheme == "http" and parsed.hostname in _LOOPBACK_HOSTS):
        return
    raise SignInError(
        "Sign in with Slack is not set up correctly (token address must use HTTPS). " + _ADMIN,
        "insecure_token_url",
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A token endpoint never redirects; following one could drop TLS or lose the POST body.
    def redirect_request(self, req, fp, code, msg, headers, newurl) -> None:
        return None


def _post_token_request(settings: OidcSettings, code: str) -> dict:
    body = urllib.parse.urlencode(
        {
            "client_id": settings.client_id,
            "client_secret": settings.client_secret,
            "code": code,
            "redirect_uri": settings.redirect_uri,
            "grant_type": "authorization_code",
        }
    ).encode("ascii")
    request = urllib.request.Request(
        settings.token_url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
    )
    opener = urllib.request.build_opener(_NoRedirect)
    # Messages below deliberately never include the request body (it holds the client secret).
    try:
        with opener.open(request, timeout=settings.timeout_seconds) as reply:
            raw = reply.read(_MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        # Slack normally answers errors with 200 + ok=false, but honour a JSON error body anyway.
        parsed = _parse_json_object(_read_error_body(exc))
        if parsed is not None and parsed.get("ok") is False:
            return parsed
        raise SignInError(
            f"Slack answered the sign-in with an error (HTTP {exc.code}). " + _RESTART,
            "http_error",
        ) from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        # URLError: refused/DNS; OSError includes TimeoutError; HTTPException: garbled reply.
        timed_out = isinstance(exc, TimeoutError) or isinstance(
            getattr(exc, "reason", None), TimeoutError
        )
        detail = "did not answer in time" if timed_out else "could not be reached"
        raise SignInError(
            f"Slack {detail} to finish the sign-in. Please try again in a moment.",
            "timeout" if timed_out else "unreachable",
        ) from exc
    if len(raw) > _MAX_RESPONSE_BYTES:
        raise SignInError("Slack sent an unexpected answer. " + _RESTART, "bad_response")
    parsed = _parse_json_object(raw)
    if parsed is None:
        raise SignInError("Slack sent an unexpected answer. " + _RESTART, "bad_response")
    return parsed


def _read_error_body(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read(_MAX_RESPONSE_BYTES)
    except (OSError, http.client.HTTPException):
        return b""
    finally:
        exc.close()


def _parse_json_object(raw: bytes) -> dict | None:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _slack_error(error: object) -> SignInError:
    # Slack's error code is untrusted text that ends up on a page: keep only a safe token.
    code = error if isinstance(error, str) and re.fullmatch(r"[a-z0-9_]{1,64}", error) else None
    if code == "invalid_code":
        return SignInError(
            "This sign-in link was already used or has expired. " + _RESTART, "invalid_code"
        )
    if code in {"invalid_client", "invalid_client_id", "bad_client_secret"}:
        return SignInError(
            "Sign in with Slack is not set up correctly (Slack rejected the app credentials). "
            + _ADMIN,
            "invalid_client",
        )
    if code in {"bad_redirect_uri", "invalid_redirect_uri"}:
        return SignInError(
            "Sign in with Slack is not set up correctly (redirect address mismatch). " + _ADMIN,
            "bad_redirect_uri",
        )
    suffix = f" ({code})" if code else ""
    return SignInError(f"Slack refused the sign-in{suffix}. " + _RESTART, code or "slack_error")


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _decode_jwt_payload(token: str) -> dict:
    # NO SIGNATURE VERIFICATION, on purpose. The id_token arrived directly from Slack's token
    # endpoint over TLS in answer to our authenticated request, so OIDC Core 3.1.3.7 (step 6)
    # lets TLS server validation stand in for checking the JWS signature. Never reuse this
    # for tokens that reach us any other way (e.g. from a browser or a request header).
    parts = token.split(".")
    bad = SignInError("Slack sent an identity we could not read. " + _RESTART, "bad_id_token")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise bad
    try:
        header = json.loads(_b64url_decode(parts[0]))
        payload = json.loads(_b64url_decode(parts[1]))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise bad
    return payload


def _identity_from_claims(
    settings: OidcSettings, claims: dict, expected_nonce: str, now: float
) -> SlackIdentity:
    if claims.get("iss") != settings.issuer:
        raise SignInError("This sign-in did not come from Slack. " + _RESTART, "wrong_issuer")

    aud = claims.get("aud")
    if isinstance(aud, str):
        aud_ok = aud == settings.client_id
    elif isinstance(aud, list):
        # With several audiences, OIDC requires azp to name us as the party it was issued to.
        aud_ok = settings.client_id in aud and (
            len(aud) == 1 or claims.get("azp") == settings.client_id
        )
    else:
        aud_ok = False
    if not aud_ok:
        raise SignInError(
            "This sign-in was meant for a different app. " + _RESTART, "wrong_audience"
        )

    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        raise SignInError("Slack sent an identity we could not read. " + _RESTART, "bad_id_token")
    if exp <= now:
        raise SignInError("This sign-in took too long and has expired. " + _RESTART, "expired")

    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not hmac.compare_digest(
        nonce.encode("utf-8"), expected_nonce.encode("utf-8")
    ):
        # Token minted for another sign-in attempt (replayed or injected): refuse it.
        raise SignInError(
            "This sign-in does not match the one you started. " + _RESTART, "wrong_nonce"
        )

    team_id = claims.get(TEAM_ID_CLAIM)
    if not isinstance(team_id, str) or not team_id:
        raise SignInError(
            "Slack did not say which workspace you signed in to. " + _RESTART, "no_team"
        )
    if settings.team_id is not None and team_id != settings.team_id:
        raise SignInError(
            "You signed in to another Slack workspace. Please sign in to the right workspace "
            "and try again.",
            "wrong_team",
        )

    user_id = claims.get(USER_ID_CLAIM) or claims.get("sub")
    if not isinstance(user_id, str) or not user_id:
        raise SignInError("Slack did not say who you are. " + _RESTART, "no_user")

    name = claims.get("name")
    email = claims.get("email")
    # Only pass on an email Slack vouches for; Slack marks unverified ones explicitly.
    if claims.get("email_verified") is False:
        email = None
    return SlackIdentity(
        user_id=user_id,
        team_id=team_id,
        name=name if isinstance(name, str) and name else None,
        email=email if isinstance(email, str) and email else None,
    )
