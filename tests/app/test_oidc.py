"""Sign in with Slack: chalicelib.oidc against a fake Slack OIDC provider over real HTTP."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from chalicelib.web.oidc import (
    OidcSettings,
    SignInError,
    SlackIdentity,
    authorization_url,
    exchange_code,
)
from chalicelib.web.sessions import new_sign_in
from tests.support.fake_slack_oidc import FakeSlackOidc

REDIRECT_URI = "https://switchback.example/auth/callback"
TEAM = "T0TEAM"
NONCE = "nonce-abc123"


@pytest.fixture
def fake() -> Iterator[FakeSlackOidc]:
    with FakeSlackOidc(client_id="cid-123", client_secret="s3cret-value-xyz") as provider:
        yield provider


def settings_for(fake: FakeSlackOidc, **overrides: object) -> OidcSettings:
    values: dict[str, object] = {
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "redirect_uri": REDIRECT_URI,
        "team_id": TEAM,
        "authorize_url": fake.authorize_url,
        "token_url": fake.token_url,
        "timeout_seconds": 2.0,
    }
    values.update(overrides)
    return OidcSettings(**values)  # type: ignore[arg-type]


def sign_in_error(settings: OidcSettings, code: str, nonce: str, now: float) -> SignInError:
    with pytest.raises(SignInError) as caught:
        exchange_code(settings, code, nonce, now)
    # Whatever went wrong, the message shown to the user must not carry the client secret.
    assert settings.client_secret not in str(caught.value)
    return caught.value


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl) -> None:
        return None


def follow_authorize(url: str) -> dict[str, str]:
    """GET the authorize URL like a browser would and return the redirect's query params."""
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as caught:
        opener.open(url, timeout=5)
    assert caught.value.code == 302
    location = caught.value.headers["Location"]
    caught.value.close()
    assert location.startswith(REDIRECT_URI + "?")
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_good_login_returns_identity(fake: FakeSlackOidc) -> None:
    code = fake.issue_code("U0BOB", TEAM, NONCE, name="Bob Builder", email="bob@example.com")

    identity = exchange_code(settings_for(fake), code, NONCE, time.time())

    assert identity == SlackIdentity(
        user_id="U0BOB", team_id=TEAM, name="Bob Builder", email="bob@example.com"
    )
    assert fake.token_requests == [
        {
            "client_id": "cid-123",
            "client_secret": "s3cret-value-xyz",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "grant_type": "authorization_code",
        }
    ]


def test_login_without_name_or_email_claims(fake: FakeSlackOidc) -> None:
    code = fake.issue_code("U0ANN", TEAM, NONCE)

    identity = exchange_code(settings_for(fake), code, NONCE, time.time())

    assert identity == SlackIdentity(user_id="U0ANN", team_id=TEAM, name=None, email=None)


def test_user_id_falls_back_to_sub(fake: FakeSlackOidc) -> None:
    fake.extra_claims = {"https://slack.com/user_id": None, "sub": "U0SUB"}
    code = fake.issue_code("U0IGNORED", TEAM, NONCE)

    identity = exchange_code(settings_for(fake), code, NONCE, time.time())

    assert identity.user_id == "U0SUB"


def test_unsigned_id_token_from_token_endpoint_is_accepted(fake: FakeSlackOidc) -> None:
    # The signature is not checked (TLS to the token endpoint stands in for it).
    fake.sign_id_tokens = False
    code = fake.issue_code("U0BOB", TEAM, NONCE)

    assert exchange_code(settings_for(fake), code, NONCE, time.time()).user_id == "U0BOB"


def test_full_redirect_flow(fake: FakeSlackOidc) -> None:
    fake.next_user = ("U0BOB", TEAM, "Bob Builder", "bob@example.com")
    settings = settings_for(fake)
    attempt = new_sign_in("/", time.time())
    state, nonce = attempt.state, attempt.nonce

    params = follow_authorize(authorization_url(settings, state, nonce))

    assert params["state"] == state
    assert fake.authorize_requests[0]["nonce"] == nonce
    assert fake.authorize_requests[0]["team"] == TEAM
    identity = exchange_code(settings, params["code"], nonce, time.time())
    assert identity == SlackIdentity("U0BOB", TEAM, "Bob Builder", "bob@example.com")


def test_redirect_flow_with_other_client_id_fails_audience_check(fake: FakeSlackOidc) -> None:
    # Code minted for another app (aud = that app) but redeemed with our credentials.
    other = settings_for(fake, client_id="someone-elses-app")
    params = follow_authorize(authorization_url(other, "st", NONCE))

    error = sign_in_error(settings_for(fake), params["code"], NONCE, time.time())

    assert error.reason == "wrong_audience"
    assert "different app" in str(error)


def test_user_cancels_on_authorize_page(fake: FakeSlackOidc) -> None:
    fake.next_user = None

    params = follow_authorize(authorization_url(settings_for(fake), "st-1", NONCE))

    assert params == {"error": "access_denied", "state": "st-1"}


def test_wrong_nonce_is_rejected(fake: FakeSlackOidc) -> None:
    code = fake.issue_code("U0BOB", TEAM, "nonce-of-another-attempt")

    error = sign_in_error(settings_for(fake), code, NONCE, time.time())

    assert error.reason == "wrong_nonce"
    assert "does not match the one you started" in str(error)


def test_missing_nonce_claim_is_rejected(fake: FakeSlackOidc) -> None:
    code = fake.issue_code("U0BOB", TEAM, nonce=None)

    assert sign_in_error(settings_for(fake), code, NONCE, time.time()).reason == "wrong_nonce"


def test_empty_expected_nonce_is_rejected_without_calling_slack(fake: FakeSlackOidc) -> None:
    code = fake.issue_code("U0BOB", TEAM, nonce="")

    error = sign_in_error(settings_for(fake), code, "", time.time())

    assert error.reason == "missing_nonce"
    assert fake.token_requests == []


def test_replayed_code_is_rejected(fake: FakeSlackOidc) -> None:
    settings = settings_for(fake)
    code = fake.issue_code("U0BOB", TEAM, NONCE)
    assert exchange_code(settings, code, NONCE, time.time()).user_id == "U0BOB"

    error = sign_in_error(settings, code, NONCE, time.time())

    assert error.reason == "invalid_code"
    assert "already used" in str(error)


def test_unknown_code_is_rejected(fake: FakeSlackOidc) -> None:
    error = sign_in_error(settings_for(fake), "never-issued", NONCE, time.time())

    assert error.reason == "invalid_code"


def test_wrong_team_is_rejected(fake: FakeSlackOidc) -> None:
    code = fake.issue_code("U0EVE", "T0OTHER", NONCE)

    error = sign_in_error(settings_for(fake), code, NONCE, time.time())

    assert error.reason == "wrong_team"
    assert "another Slack workspace" in str(error)


def test_any_team_allowed_when_team_id_unset(fake: FakeSlackOidc) -> None:
    settings = settings_for(fake, team_id=None)
    code = fake.issue_code("U0EVE", "T0OTHER", NONCE)

    assert exchange_code(settings, code, NONCE, time.time()).team_id == "T0OTHER"
    assert "team=" not in authorization_url(settings, "st", NONCE)


def test_wrong_client_secret_is_rejected(fake: FakeSlackOidc) -> None:
    settings = settings_for(fake, client_secret="not-the-secret")
    code = fake.issue_code("U0BOB", TEAM, NONCE)

    error = sign_in_error(settings, code, NONCE, time.time())

    assert error.reason == "invalid_client"
    assert "not set up correctly" in str(error)
    assert "s3cret-value-xyz" not in str(error)


def test_expired_id_token_is_rejected(fake: FakeSlackOidc) -> None:
    code = fake.issue_code("U0BOB", TEAM, NONCE)
    an_hour_later = time.time() + 3600  # id_token lives 300 s

    error = sign_in_error(settings_for(fake), code, NONCE, an_hour_later)

    assert error.reason == "expired"
    assert "expired" in str(error)


def test_wrong_issuer_is_rejected(fake: FakeSlackOidc) -> None:
    fake.extra_claims = {"iss": "https://evil.example"}
    code = fake.issue_code("U0BOB", TEAM, NONCE)

    assert sign_in_error(settings_for(fake), code, NONCE, time.time()).reason == "wrong_issuer"


def test_token_endpoint_unreachable(fake: FakeSlackOidc) -> None:
    settings = settings_for(fake, token_url=f"http://127.0.0.1:{closed_port()}/api/token")

    error = sign_in_error(settings, "some-code", NONCE, time.time())

    assert error.reason == "unreachable"
    assert "could not be reached" in str(error)


def test_token_endpoint_timeout(fake: FakeSlackOidc) -> None:
    fake.token_delay_seconds = 3
    code = fake.issue_code("U0BOB", TEAM, NONCE)
    started = time.monotonic()

    error = sign_in_error(settings_for(fake, timeout_seconds=0.3), code, NONCE, time.time())

    assert error.reason == "timeout"
    assert time.monotonic() - started < 2


def test_http_error_with_slack_error_body_is_reported(fake: FakeSlackOidc) -> None:
    # The fake answers unknown paths with HTTP 404 and a Slack-style {"ok": false} body.
    settings = settings_for(fake, token_url=fake.url + "/no/such/endpoint")

    error = sign_in_error(settings, "some-code", NONCE, time.time())

    assert error.reason == "unknown_method"
    assert "Slack refused the sign-in (unknown_method)" in str(error)


@pytest.mark.parametrize(
    ("status", "reason"), [(200, "bad_response"), (502, "http_error")], ids=["200", "502"]
)
def test_token_endpoint_answering_non_json_is_rejected(
    fake: FakeSlackOidc, status: int, reason: str
) -> None:
    fake.token_override = (status, "<html>Slack is having trouble</html>")
    code = fake.issue_code("U0BOB", TEAM, NONCE)

    error = sign_in_error(settings_for(fake), code, NONCE, time.time())

    assert error.reason == reason
    assert "<html>" not in str(error)


def test_plain_http_token_url_is_refused_off_loopback() -> None:
    settings = OidcSettings(
        client_id="cid",
        client_secret="secret",
        redirect_uri=REDIRECT_URI,
        team_id=None,
        token_url="http://slack.example/api/openid.connect.token",
    )

    assert sign_in_error(settings, "code", NONCE, time.time()).reason == "insecure_token_url"


def test_authorization_url_carries_all_parameters() -> None:
    settings = OidcSettings(
        client_id="cid-123",
        client_secret="secret",
        redirect_uri=REDIRECT_URI,
        team_id=TEAM,
    )

    url = authorization_url(settings, "state-xyz", "nonce-xyz")

    base, _, query = url.partition("?")
    assert base == "https://slack.com/openid/connect/authorize"
    assert urllib.parse.parse_qs(query, strict_parsing=True) == {
        "response_type": ["code"],
        "scope": ["openid profile email"],
        "client_id": ["cid-123"],
        "redirect_uri": [REDIRECT_URI],
        "state": ["state-xyz"],
        "nonce": ["nonce-xyz"],
        "team": [TEAM],
    }
    assert "secret" not in url


def test_sign_in_states_and_nonces_are_long_and_distinct() -> None:
    attempts = [new_sign_in("/", time.time()) for _ in range(25)]
    tokens = {a.state for a in attempts} | {a.nonce for a in attempts}

    assert len(tokens) == 50
    assert all(len(token) >= 40 for token in tokens)


def test_settings_repr_hides_secret() -> None:
    settings = OidcSettings("cid", "very-secret", REDIRECT_URI, None)

    assert "very-secret" not in repr(settings)
