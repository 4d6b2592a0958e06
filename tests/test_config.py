"""Settings: what deployed stages refuse, and Sign in with Slack's settings."""

from __future__ import annotations

import pytest

from chalicelib import config
from chalicelib.config import ConfigError, settings

LONG_KEY = "k" * config.MIN_COOKIE_KEY_CHARS


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch):
    for name in (
        "AWS_LAMBDA_FUNCTION_NAME",
        "SLACK_CLIENT_ID",
        "SLACK_CLIENT_SECRET",
        "SLACK_TEAM_ID",
        "SLACK_OIDC_AUTHORIZE_URL",
        "SLACK_OIDC_TOKEN_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing")
    monkeypatch.setenv("SWITCHBACK_COOKIE_KEY", LONG_KEY)
    settings.cache_clear()
    yield monkeypatch
    settings.cache_clear()


def test_local_stage_allows_dev_sign_in_and_plain_cookies(env) -> None:
    env.setenv("SWITCHBACK_STAGE", "local")
    assert settings().dev_sign_in and not settings().secure_cookies


@pytest.mark.parametrize("stage", ["dev", "prod", "staging"])
def test_deployed_stages_have_no_dev_sign_in_and_secure_cookies(env, stage) -> None:
    env.setenv("SWITCHBACK_STAGE", stage)
    assert not settings().dev_sign_in and settings().secure_cookies


def test_the_local_stage_refuses_to_run_inside_lambda(env) -> None:
    env.setenv("SWITCHBACK_STAGE", "local")
    env.setenv("AWS_LAMBDA_FUNCTION_NAME", "switchback-dev")
    with pytest.raises(ConfigError, match="SWITCHBACK_STAGE=local inside AWS Lambda"):
        settings()


def test_deployed_stages_refuse_a_short_cookie_key(env) -> None:
    env.setenv("SWITCHBACK_STAGE", "prod")
    env.setenv("SWITCHBACK_COOKIE_KEY", "short")
    with pytest.raises(ConfigError, match="SWITCHBACK_COOKIE_KEY is shorter than 32"):
        settings()
    env.setenv("SWITCHBACK_STAGE", "local")
    settings.cache_clear()
    assert settings().cookie_key == "short"  # local runs pick a random one anyway


def test_secrets_stay_out_of_the_settings_repr(env) -> None:
    env.setenv("SLACK_CLIENT_SECRET", "client-secret-value")
    text = repr(settings())
    assert "client-secret-value" not in text and LONG_KEY not in text and "signing" not in text


def test_oidc_settings_name_what_is_missing(env) -> None:
    env.setenv("SWITCHBACK_STAGE", "prod")
    env.setenv("SLACK_CLIENT_ID", "cid")
    with pytest.raises(ConfigError, match="SLACK_CLIENT_SECRET, SLACK_TEAM_ID not set"):
        settings().oidc("https://x/auth/slack/callback")


def test_oidc_settings_from_the_environment(env) -> None:
    env.setenv("SLACK_CLIENT_ID", "cid")
    env.setenv("SLACK_CLIENT_SECRET", "secret")
    env.setenv("SLACK_TEAM_ID", "T0TEAM")
    oidc = settings().oidc("https://x/auth/slack/callback")
    assert (oidc.client_id, oidc.client_secret, oidc.team_id) == ("cid", "secret", "T0TEAM")
    assert oidc.redirect_uri == "https://x/auth/slack/callback"
    assert oidc.authorize_url == "https://slack.com/openid/connect/authorize"
    assert oidc.token_url == "https://slack.com/api/openid.connect.token"
    env.setenv("SLACK_OIDC_TOKEN_URL", "http://127.0.0.1:9/token")
    settings.cache_clear()
    assert settings().oidc("https://x/cb").token_url == "http://127.0.0.1:9/token"
