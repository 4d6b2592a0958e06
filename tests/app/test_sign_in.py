"""Sign in with Slack through the app, against a fake Slack OIDC provider over real HTTP.

The app runs on the deployed `dev` stage (chalice.test.Client); its token request goes over
HTTP to tests/support/fake_slack_oidc.py on 127.0.0.1, and the test plays the browser: it
follows the redirect to the provider's authorize URL and carries the cookies back to the callback.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlencode

import boto3
import pytest

from chalicelib import wiring
from chalicelib.core.model import State
from chalicelib.web import sessions
from testkit.slack_standin import SlackReceiver
from tests.conftest import (
    BASE_URL,
    COOKIE_KEY,
    ROOT,
    SIGNING_SECRET,
    signed_command,
)
from tests.support.fake_slack_oidc import FakeSlackOidc
from tests.support.stages import stage_client

TEAM = "T0TEAM"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CALLBACK = f"{BASE_URL}/auth/slack/callback"
# Deployed stages are HTTPS: their cookies carry the __Host- prefix.
SESSION_COOKIE = f"__Host-{sessions.COOKIE_NAME}"
SIGN_IN_COOKIE = f"__Host-{sessions.SIGN_IN_COOKIE_NAME}"


@pytest.fixture
def provider(app_env: dict, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlackOidc]:
    with FakeSlackOidc(client_id="switchback-app", client_secret="oidc-client-secret") as fake:
        for name, value in {
            "SLACK_CLIENT_ID": fake.client_id,
            "SLACK_CLIENT_SECRET": fake.client_secret,
            "SLACK_TEAM_ID": TEAM,
            "SLACK_OIDC_AUTHORIZE_URL": fake.authorize_url,
            "SLACK_OIDC_TOKEN_URL": fake.token_url,
        }.items():
            monkeypatch.setenv(name, value)
        # Deployed stages read their secrets from Secrets Manager (here moto's), by ARN.
        manager = boto3.client("secretsmanager")
        for name, value in {
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_CLIENT_SECRET": fake.client_secret,
            "SWITCHBACK_COOKIE_KEY": COOKIE_KEY,
        }.items():
            arn = manager.create_secret(Name=f"switchback/{name}", SecretString=value)["ARN"]
            monkeypatch.setenv(f"{name}_ARN", arn)
        wiring.reset()
        yield fake
    wiring.reset()


@pytest.fixture
def deployed(provider: FakeSlackOidc):
    """The app as the `dev` stage runs it (Secure cookies, no dev sign-in)."""
    with stage_client("dev") as client:
        yield client


def cookies_set(response) -> dict[str, str]:
    """name -> the whole Set-Cookie line, for every cookie the response sets or clears."""
    lines = response.headers.get("Set-Cookie") or []
    lines = [lines] if isinstance(lines, str) else lines
    return {line.split("=", 1)[0]: line for line in lines}


def cookie_value(line: str) -> str:
    return line.split(";", 1)[0].split("=", 1)[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl) -> None:
        return None


def through_slack(authorize_url: str) -> dict[str, str]:
    """What the browser does at Slack: GET the authorize URL, read where it is sent back to."""
    with pytest.raises(urllib.error.HTTPError) as redirect:
        urllib.request.build_opener(_NoRedirect).open(authorize_url, timeout=5)
    location = redirect.value.headers["Location"]
    redirect.value.close()
    assert location.startswith(CALLBACK + "?"), location
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


def start(client, next_path: str = "/requests/ABCDEFGHJK") -> tuple[dict[str, str], str]:
    """GET /auth/slack: returns Slack's answer (code and state) and the sign-in cookie."""
    response = client.http.get(f"/auth/slack?{urlencode({'next': next_path})}")
    assert response.status_code == 302
    attempt_cookie = cookies_set(response)[SIGN_IN_COOKIE]
    return through_slack(response.headers["Location"]), cookie_value(attempt_cookie)


def callback(client, params: dict[str, str], attempt_cookie: str | None):
    headers = {"Cookie": f"{SIGN_IN_COOKIE}={attempt_cookie}"}
    return client.http.get(
        f"/auth/slack/callback?{urlencode(params)}", headers=headers if attempt_cookie else {}
    )


def refused(response, status: int, says: str) -> None:
    assert response.status_code == status
    assert says in response.body.decode()
    assert SESSION_COOKIE not in cookies_set(response)


def test_start_redirects_to_slack_with_state_and_nonce(deployed, provider) -> None:
    response = deployed.http.get("/auth/slack?next=/requests/ABCDEFGHJK")
    assert response.status_code == 302
    location = urllib.parse.urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == provider.authorize_url
    query = dict(urllib.parse.parse_qsl(location.query))
    assert query["client_id"] == "switchback-app" and query["team"] == TEAM
    assert query["redirect_uri"] == CALLBACK and "openid" in query["scope"].split()
    line = cookies_set(response)[SIGN_IN_COOKIE]
    attempt = sessions.decode_sign_in(cookie_value(line), COOKIE_KEY, time.time())
    assert (query["state"], query["nonce"]) == (attempt.state, attempt.nonce)
    assert attempt.next_path == "/requests/ABCDEFGHJK"
    assert {"HttpOnly", "Secure", "SameSite=Lax"} <= {p.strip() for p in line.split(";")}
    assert "oidc-client-secret" not in response.headers["Location"]


def test_good_login_sets_a_secure_session_cookie_and_returns_to_the_request(
    deployed, provider
) -> None:
    provider.next_user = ("U0BOB", TEAM, "Bob", "bob@example.com")
    answer, attempt_cookie = start(deployed)
    response = callback(deployed, answer, attempt_cookie)
    assert response.status_code == 303
    assert response.headers["Location"] == f"{BASE_URL}/requests/ABCDEFGHJK"
    cookies = cookies_set(response)
    session_line = cookies[SESSION_COOKIE]
    assert {"HttpOnly", "Secure", "SameSite=Lax"} <= {p.strip() for p in session_line.split(";")}
    session = sessions.decode(cookie_value(session_line), COOKIE_KEY, time.time())
    assert session.user == "U0BOB"
    assert "Max-Age=0" in cookies[SIGN_IN_COOKIE]  # the attempt is used up
    assert provider.token_requests[0]["redirect_uri"] == CALLBACK


def test_the_session_from_slack_approves_a_request(
    provider, slack: SlackReceiver, monkeypatch
) -> None:
    """Sign in on the deployed stage, then use that very cookie to approve (same cookie key)."""
    from chalice.test import Client

    import app

    provider.next_user = ("U0CAROL", TEAM)
    with stage_client("dev") as deployed:
        answer, attempt_cookie = start(deployed, "/requests/X")
        line = cookies_set(callback(deployed, answer, attempt_cookie))[SESSION_COOKIE]
    wiring.reset()
    with Client(app.app, stage_name="local", project_dir=str(ROOT)) as local:
        body, headers = signed_command("U0ALICE", "request ec2-admin 30m INC-7 check", "")
        text = local.http.post("/slack/commands", body=body, headers=headers).body.decode()
        request_id = text.split("Request `", 1)[1][:10]
        # the same value, under the local stage's (plain HTTP) name
        cookie = {"Cookie": f"{sessions.COOKIE_NAME}={cookie_value(line)}"}
        page = local.http.get(f"/requests/{request_id}", headers=cookie).body.decode()
        assert "Signed in as carol" in page and "Approve" in page
        csrf = page.split("name=csrf value='", 1)[1].split("'", 1)[0]
        approved = local.http.post(
            f"/requests/{request_id}/approve",
            body=urlencode({"csrf": csrf}),
            headers={**FORM, **cookie},
        )
        assert approved.status_code == 303
        assert wiring.service().get(request_id).state is State.ACTIVE


def test_wrong_state_is_refused_before_the_code_is_redeemed(deployed, provider) -> None:
    answer, attempt_cookie = start(deployed)
    refused(
        callback(deployed, {**answer, "state": "attacker-state"}, attempt_cookie),
        400,
        "not started in this browser",
    )
    assert provider.token_requests == []


def test_callback_in_a_browser_that_did_not_start_the_sign_in_is_refused(
    deployed, provider
) -> None:
    # Login CSRF: someone sends you their own code and state; your browser has no attempt.
    answer, _ = start(deployed)
    refused(callback(deployed, answer, None), 400, "not started in this browser")
    assert provider.token_requests == []


def test_replayed_code_is_refused(deployed, provider) -> None:
    answer, attempt_cookie = start(deployed)
    assert callback(deployed, answer, attempt_cookie).status_code == 303
    refused(callback(deployed, answer, attempt_cookie), 400, "already used")


def test_code_from_another_sign_in_is_refused_by_its_nonce(deployed, provider) -> None:
    # A code minted for a different attempt (another nonce), pasted into ours with our state.
    foreign, _ = start(deployed)
    ours, attempt_cookie = start(deployed)
    spliced = {"code": foreign["code"], "state": ours["state"]}
    refused(callback(deployed, spliced, attempt_cookie), 400, "does not match")


def test_another_workspace_is_refused(deployed, provider) -> None:
    provider.next_user = ("U0EVE", "T0ELSEWHERE")
    answer, attempt_cookie = start(deployed)
    refused(callback(deployed, answer, attempt_cookie), 403, "another Slack workspace")


def test_cancel_at_slack_signs_nobody_in(deployed, provider) -> None:
    provider.next_user = None
    answer, attempt_cookie = start(deployed)
    assert answer["error"] == "access_denied"
    refused(callback(deployed, answer, attempt_cookie), 400, "did not sign you in")


def test_expired_sign_in_attempt_is_refused(deployed, provider) -> None:
    answer, _ = start(deployed)
    stale = sessions.new_sign_in("/x", time.time() - sessions.SIGN_IN_SECONDS - 1)
    stale = sessions.SignInAttempt(answer["state"], stale.nonce, "/x", stale.expires)
    refused(
        callback(deployed, answer, sessions.encode_sign_in(stale, COOKIE_KEY)),
        400,
        "longer than 10 minutes",
    )
    assert provider.token_requests == []


def test_tampered_sign_in_attempt_is_refused(deployed, provider) -> None:
    answer, attempt_cookie = start(deployed)
    body, mac = attempt_cookie.rsplit(".", 1)
    forged = sessions.encode_sign_in(
        sessions.SignInAttempt(answer["state"], "nonce-i-chose", "/x", int(time.time()) + 60),
        "not-the-key",
    )
    refused(callback(deployed, answer, forged), 400, "not started in this browser")
    refused(callback(deployed, answer, f"{body}x.{mac}"), 400, "not started in this browser")
    assert provider.token_requests == []


def test_next_cannot_leave_the_site(deployed, provider) -> None:
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil", "/x\r\nSet-Cookie: a=b"):
        answer, attempt_cookie = start(deployed, evil)
        location = callback(deployed, answer, attempt_cookie).headers["Location"]
        assert location == f"{BASE_URL}/auth/whoami"


def test_unconfigured_sign_in_says_what_is_missing(app_env, monkeypatch) -> None:

    monkeypatch.delenv("SLACK_CLIENT_ID", raising=False)
    wiring.reset()
    with stage_client("dev") as client:
        response = client.http.get("/auth/slack")
    assert response.status_code == 503
    assert "SLACK_CLIENT_ID" in response.body.decode()


# -- the session cookie on the review page -----------------------------------------------------
@pytest.fixture
def local(app_env: dict):
    from chalice.test import Client

    import app

    wiring.reset()
    with Client(app.app, stage_name="local", project_dir=str(ROOT)) as client:
        yield client


@pytest.fixture
def request_id(local, slack: SlackReceiver) -> str:
    body, headers = signed_command("U0ALICE", "request ec2-admin 30m INC-8 <script>x</script>")
    text = local.http.post("/slack/commands", body=body, headers=headers).body.decode()
    return text.split("Request `", 1)[1][:10]


def session_cookie(user: str, now: float, key: str = COOKIE_KEY) -> tuple[dict, str]:
    session = sessions.new_session(user, now)
    return {"Cookie": f"{sessions.COOKIE_NAME}={sessions.encode(session, key)}"}, session.csrf


def attempt_approve(local, request_id: str, cookie: dict, csrf: str):
    return local.http.post(
        f"/requests/{request_id}/approve",
        body=urlencode({"csrf": csrf}),
        headers={**FORM, **cookie},
    )


@pytest.mark.parametrize("which", ["expired", "tampered", "wrong key"])
def test_a_bad_session_cookie_is_treated_as_signed_out(local, request_id, which) -> None:
    now = time.time()
    if which == "expired":
        cookie, csrf = session_cookie("U0BOB", now - sessions.SESSION_SECONDS - 1)
    elif which == "wrong key":
        cookie, csrf = session_cookie("U0BOB", now, key="someone-elses-key" * 3)
    else:
        real, csrf = session_cookie("U0ALICE", now)
        body, mac = real["Cookie"].split("=", 1)[1].rsplit(".", 1)
        as_bob = sessions.encode(sessions.Session("U0BOB", int(now) + 60, csrf), "x")
        cookie = {"Cookie": f"{sessions.COOKIE_NAME}={as_bob.rsplit('.', 1)[0]}.{mac}"}
    page = local.http.get(f"/requests/{request_id}", headers=cookie).body.decode()
    assert ">sign in</a>" in page and "Approve" not in page and "INC-8" not in page
    assert attempt_approve(local, request_id, cookie, csrf).status_code == 401
    assert wiring.service().get(request_id).state is State.PENDING


def test_sign_out_needs_the_session_token_and_clears_the_cookie(local) -> None:
    cookie, csrf = session_cookie("U0BOB", time.time())
    forged = local.http.post("/auth/signout", body="csrf=guess", headers={**FORM, **cookie})
    assert forged.status_code == 403 and "Set-Cookie" not in forged.headers
    done = local.http.post("/auth/signout", body=f"csrf={csrf}", headers={**FORM, **cookie})
    assert done.status_code == 200
    assert "Max-Age=0" in cookies_set(done)[sessions.COOKIE_NAME]
    stale = local.http.post("/auth/signout", body="", headers=FORM)
    assert stale.status_code == 200


def test_whoami_names_the_signed_in_person(local) -> None:
    cookie, _ = session_cookie("U0CAROL", time.time())
    assert "signed in as carol" in local.http.get("/auth/whoami", headers=cookie).body.decode()
    assert "Not signed in" in local.http.get("/auth/whoami").body.decode()
