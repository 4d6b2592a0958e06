"""A fake "Sign in with Slack" OpenID Connect provider, served over real HTTP on 127.0.0.1.

Use it as a context manager:

    with FakeSlackOidc() as fake:
        fake.token_url, fake.authorize_url   # point OidcSettings at these
        code = fake.issue_code("U0BOB", "T0TEAM", nonce="n-123")

The token endpoint answers like Slack's openid.connect.token: HTTP 200 with
{"ok": true, "access_token": ..., "id_token": <JWT>} or {"ok": false, "error": ...}.
GET on the authorize URL auto-approves as `fake.next_user` and 302-redirects to the
caller's redirect_uri with `code` and `state`, so tests can follow the whole redirect flow.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

AUTHORIZE_PATH = "/openid/connect/authorize"
TOKEN_PATH = "/api/openid.connect.token"


@dataclass(frozen=True)
class IssuedCode:
    user_id: str
    team_id: str
    nonce: str | None
    name: str | None
    email: str | None
    client_id: str  # becomes the id_token's `aud`
    redirect_uri: str | None  # if set, the token request must repeat it


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_jwt(claims: dict[str, Any], key: str | None) -> str:
    """HS256-signed JWT when `key` is given, otherwise an unsigned (alg "none") one."""
    header = {"alg": "HS256" if key is not None else "none", "typ": "JWT"}
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    if key is None:
        return signing_input + "."
    signature = hmac.new(key.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + _b64url(signature)


class FakeSlackOidc:
    def __init__(
        self,
        client_id: str = "fake-client-id",
        client_secret: str = "fake-client-secret",
        issuer: str = "https://slack.com",
        id_token_ttl_seconds: int = 300,
        sign_id_tokens: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.issuer = issuer
        self.id_token_ttl_seconds = id_token_ttl_seconds
        self.sign_id_tokens = sign_id_tokens
        self.clock = clock
        # Who the authorize endpoint signs in: (user_id, team_id) or
        # (user_id, team_id, name, email). None = the user clicks "Cancel" (error=access_denied).
        self.next_user: tuple[str, ...] | None = ("U0BOB", "T0TEAM")
        # Merged last into every id_token, to fake bad claims (e.g. {"iss": "https://evil"}).
        self.extra_claims: dict[str, Any] = {}
        # Seconds the token endpoint stalls before answering (to test client timeouts).
        self.token_delay_seconds: float = 0.0
        # (HTTP status, raw body) the token endpoint sends instead of its normal answer, e.g.
        # (502, "<html>Bad Gateway</html>") to fake an outage page. Codes are left untouched.
        self.token_override: tuple[int, str] | None = None
        # What clients sent us, for assertions.
        self.token_requests: list[dict[str, str]] = []
        self.authorize_requests: list[dict[str, str]] = []

        self._codes: dict[str, IssuedCode] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._closing.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # shutdown() waits up to one poll interval
            name="fake-slack-oidc",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is None:
            return
        self._closing.set()  # cut short any deliberate token_delay_seconds
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- addresses -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeSlackOidc is not running; use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def authorize_url(self) -> str:
        return self.url + AUTHORIZE_PATH

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    # --- codes -----------------------------------------------------------------------------

    def issue_code(
        self,
        user_id: str,
        team_id: str,
        nonce: str | None,
        name: str | None = None,
        email: str | None = None,
        client_id: str | None = None,
        redirect_uri: str | None = None,
    ) -> str:
        """Register a one-time authorization code, as if the user had just approved."""
        code = "fake-code-" + secrets.token_urlsafe(16)
        issued = IssuedCode(
            user_id=user_id,
            team_id=team_id,
            nonce=nonce,
            name=name,
            email=email,
            client_id=client_id if client_id is not None else self.client_id,
            redirect_uri=redirect_uri,
        )
        with self._lock:
            self._codes[code] = issued
        return code

    def pending_codes(self) -> int:
        with self._lock:
            return len(self._codes)

    def id_token_claims(self, issued: IssuedCode) -> dict[str, Any]:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": issued.user_id,
            "aud": issued.client_id,
            "exp": now + self.id_token_ttl_seconds,
            "iat": now,
            "auth_time": now,
            "https://slack.com/user_id": issued.user_id,
            "https://slack.com/team_id": issued.team_id,
        }
        if issued.nonce is not None:
            claims["nonce"] = issued.nonce
        if issued.name is not None:
            claims["name"] = issued.name
        if issued.email is not None:
            claims["email"] = issued.email
            claims["email_verified"] = True
        claims.update(self.extra_claims)
        return claims

    # --- endpoint logic (called from the HTTP handler threads) -----------------------------

    def _token(self, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        self.token_requests.append(dict(form))
        if self.token_delay_seconds:
            self._closing.wait(self.token_delay_seconds)
        client_id, client_secret = basic or (
            form.get("client_id", ""),
            form.get("client_secret", ""),
        )
        if client_id != self.client_id or not hmac.compare_digest(
            client_secret.encode(), self.client_secret.encode()
        ):
            return {"ok": False, "error": "invalid_client"}
        grant_type = form.get("grant_type", "authorization_code")
        if grant_type != "authorization_code":
            return {"ok": False, "error": "unsupported_grant_type"}
        with self._lock:
            # Popped before any further check: a code is good for one attempt only.
            issued = self._codes.pop(form.get("code", ""), None)
        if issued is None:
            return {"ok": False, "error": "invalid_code"}
        if issued.redirect_uri is not None and form.get("redirect_uri") != issued.redirect_uri:
            return {"ok": False, "error": "bad_redirect_uri"}
        key = self.client_secret if self.sign_id_tokens else None
        return {
            "ok": True,
            "access_token": "xoxp-fake-" + secrets.token_hex(8),
            "token_type": "Bearer",
            "id_token": make_jwt(self.id_token_claims(issued), key),
        }

    def _authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        """Returns (status, headers, text body)."""
        self.authorize_requests.append(dict(query))
        redirect_uri = query.get("redirect_uri")
        client_id = query.get("client_id")
        if not redirect_uri or not client_id:
            return 400, {}, "missing client_id or redirect_uri"
        params: dict[str, str] = {}
        if query.get("response_type") != "code" or "openid" not in query.get("scope", "").split():
            params["error"] = "invalid_request"
        elif self.next_user is None:
            params["error"] = "access_denied"
        else:
            user_id, team_id, *rest = self.next_user
            name = rest[0] if len(rest) > 0 else None
            email = rest[1] if len(rest) > 1 else None
            params["code"] = self.issue_code(
                user_id,
                team_id,
                nonce=query.get("nonce"),
                name=name,
                email=email,
                client_id=client_id,
                redirect_uri=redirect_uri,
            )
        if "state" in query:
            params["state"] = query["state"]
        separator = "&" if "?" in redirect_uri else "?"
        location = redirect_uri + separator + urllib.parse.urlencode(params)
        return 302, {"Location": location}, ""


def _make_handler(fake: FakeSlackOidc) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "FakeSlackOidc/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest output clean

        def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _send_json(self, status: int, payload: dict[str, Any]) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json; charset=utf-8")

        def do_GET(self) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            if parsed.path != AUTHORIZE_PATH:
                self._send_json(404, {"ok": False, "error": "unknown_method"})
                return
            query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
            status, headers, text = fake._authorize(query)
            self._send(status, text.encode(), "text/plain; charset=utf-8", **headers)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", "replace")
            if urllib.parse.urlsplit(self.path).path != TOKEN_PATH:
                self._send_json(404, {"ok": False, "error": "unknown_method"})
                return
            form = dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
            if fake.token_override is not None:
                fake.token_requests.append(dict(form))
                status, text = fake.token_override
                self._send(status, text.encode(), "text/html; charset=utf-8")
                return
            self._send_json(200, fake._token(form, _basic_auth(self.headers.get("Authorization"))))

    return Handler


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    # Slack also accepts client credentials via HTTP Basic auth.
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
    except ValueError:
        return None
    client_id, _, client_secret = decoded.partition(":")
    return client_id, client_secret
