"""Secrets: the environment on the local stage; Secrets Manager (cached) on deployed stages."""

from __future__ import annotations

import time

import boto3
import pytest

from chalicelib import config, wiring
from chalicelib.aws import clients as aws
from chalicelib.config import SECRET_ACTIONS, ConfigError, secret, settings

COOKIE_FROM_AWS = "cookie-from-aws-" + "k" * 32


@pytest.fixture
def deployed(aws: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A prod stage whose three secrets are in (moto's) Secrets Manager."""
    manager = boto3.client("secretsmanager")
    arns = {
        "SLACK_SIGNING_SECRET_ARN": manager.create_secret(
            Name="switchback/slack-signing", SecretString="signing-from-aws\n"
        )["ARN"],
        "SLACK_CLIENT_SECRET_ARN": manager.create_secret(
            Name="switchback/slack-client", SecretString="client-from-aws"
        )["ARN"],
        "SWITCHBACK_COOKIE_KEY_ARN": manager.create_secret(
            Name="switchback/cookie", SecretString=COOKIE_FROM_AWS
        )["ARN"],
    }
    monkeypatch.setenv("SWITCHBACK_STAGE", "prod")
    for name, arn in arns.items():
        monkeypatch.setenv(name, arn)
    # Plain values in the environment must not be read on a deployed stage.
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "from-the-environment")
    wiring.reset()
    yield arns
    wiring.reset()


def record_calls() -> list[str]:
    calls: list[str] = []
    aws.observe(lambda action, params, assumed_role: calls.append(action))
    return calls


def test_deployed_stages_read_secrets_from_secrets_manager_once_per_max_age(
    deployed: dict[str, str],
) -> None:
    calls = record_calls()
    for _ in range(3):
        assert settings().signing_secret == "signing-from-aws"  # trailing newline dropped
        assert settings().cookie_key == COOKIE_FROM_AWS
        assert settings().slack_client_secret == "client-from-aws"
    assert calls == ["secretsmanager:GetSecretValue"] * 3  # one per secret, then the cache
    assert set(calls) == set(SECRET_ACTIONS)


def test_a_rotated_secret_is_read_again_after_the_max_age(
    deployed: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config, "SECRET_MAX_AGE_SECONDS", 1)
    assert settings().signing_secret == "signing-from-aws"
    boto3.client("secretsmanager").put_secret_value(
        SecretId=deployed["SLACK_SIGNING_SECRET_ARN"], SecretString="rotated"
    )
    assert settings().signing_secret == "signing-from-aws"  # cached
    time.sleep(1.1)
    assert settings().signing_secret == "rotated"


def test_a_missing_arn_names_the_variable(
    deployed: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SWITCHBACK_COOKIE_KEY_ARN")
    with pytest.raises(ConfigError, match="SWITCHBACK_COOKIE_KEY_ARN is not set"):
        _ = settings().cookie_key


def test_an_unreadable_or_empty_secret_says_which_and_why(
    deployed: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = deployed["SLACK_CLIENT_SECRET_ARN"].replace("slack-client", "gone")
    monkeypatch.setenv("SLACK_CLIENT_SECRET_ARN", missing)
    with pytest.raises(ConfigError, match=f"SLACK_CLIENT_SECRET: cannot read the secret {missing}"):
        secret("SLACK_CLIENT_SECRET")
    boto3.client("secretsmanager").put_secret_value(
        SecretId=deployed["SWITCHBACK_COOKIE_KEY_ARN"], SecretString="  "
    )
    with pytest.raises(ConfigError, match="SWITCHBACK_COOKIE_KEY: the secret .* is empty"):
        secret("SWITCHBACK_COOKIE_KEY")


def test_the_local_stage_reads_the_environment_and_never_secrets_manager(
    aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWITCHBACK_STAGE", "local")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "local-secret")
    monkeypatch.setenv("SLACK_SIGNING_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:x")
    monkeypatch.delenv("SWITCHBACK_COOKIE_KEY", raising=False)
    wiring.reset()
    calls = record_calls()
    try:
        assert settings().signing_secret == "local-secret"
        with pytest.raises(ConfigError, match="SWITCHBACK_COOKIE_KEY is not set"):
            _ = settings().cookie_key
        assert calls == []
    finally:
        wiring.reset()


def test_a_slack_request_is_checked_with_the_secret_from_secrets_manager(
    deployed: dict[str, str], app_env: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import signed_command
    from tests.support.stages import stage_client

    monkeypatch.setenv("SWITCHBACK_STAGE", "prod")  # app_env made it local
    wiring.reset()
    wiring.service()  # built now from the repo's policies (the prod stage reads a packaged copy)
    assert not settings().local
    with stage_client("prod") as client:
        body, headers = signed_command("U0ALICE", "help", secret="signing-from-aws")
        ok = client.http.post("/slack/commands", body=body, headers=headers)
        body, headers = signed_command("U0ALICE", "help", secret="from-the-environment")
        refused = client.http.post("/slack/commands", body=body, headers=headers)
    assert ok.status_code == 200
    assert refused.status_code == 401


# -- what deployed stages refuse, and Sign in with Slack's settings ---------------------------
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
    monkeypatch.setenv("SWITCHBACK_COOKIE_KEY", "k" * config.MIN_COOKIE_KEY_CHARS)
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


def test_deployed_stages_refuse_a_short_cookie_key(
    deployed: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3.client("secretsmanager").put_secret_value(
        SecretId=deployed["SWITCHBACK_COOKIE_KEY_ARN"], SecretString="short"
    )
    with pytest.raises(ConfigError, match="SWITCHBACK_COOKIE_KEY is shorter than 32"):
        _ = settings().cookie_key
    monkeypatch.setenv("SWITCHBACK_STAGE", "local")
    monkeypatch.setenv("SWITCHBACK_COOKIE_KEY", "short")
    settings.cache_clear()
    assert settings().cookie_key == "short"  # local runs pick a random one anyway


def test_secrets_stay_out_of_the_settings_repr(env) -> None:
    env.setenv("SLACK_CLIENT_SECRET", "client-secret-value")
    text = repr(settings())
    assert "client-secret-value" not in text and "kkkk" not in text and "signing" not in text


def test_oidc_settings_name_what_is_missing(env) -> None:
    env.setenv("SWITCHBACK_STAGE", "local")
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


def test_the_bot_token_is_optional_and_a_secret_on_deployed_stages(
    deployed: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN_ARN", raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")  # never read deployed
    assert settings().bot_token is None
    arn = boto3.client("secretsmanager").create_secret(
        Name="switchback/slack-bot", SecretString="xoxb-from-aws"
    )["ARN"]
    monkeypatch.setenv("SLACK_BOT_TOKEN_ARN", arn)
    assert settings().bot_token == "xoxb-from-aws"
    assert "xoxb" not in repr(settings())


def test_the_activity_delay_is_whole_seconds_900_unless_set(env) -> None:
    from datetime import timedelta

    env.delenv("SWITCHBACK_ACTIVITY_DELAY", raising=False)
    assert settings().activity_delay == timedelta(seconds=900)
    env.setenv("SWITCHBACK_ACTIVITY_DELAY", "60")
    settings.cache_clear()
    assert settings().activity_delay == timedelta(seconds=60)
    env.setenv("SWITCHBACK_ACTIVITY_DELAY", "15m")
    settings.cache_clear()
    with pytest.raises(ConfigError, match="SWITCHBACK_ACTIVITY_DELAY must be whole seconds"):
        settings()


def test_on_an_aws_emulator_cloudtrail_is_read_only_where_its_endpoint_is_given(
    env, app_env
) -> None:
    env.delenv("AWS_ENDPOINT_URL_CLOUDTRAIL", raising=False)
    wiring.reset()
    assert wiring.service().context.cloudtrail is None  # moto has no LookupEvents
    env.setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", "http://127.0.0.1:9")
    wiring.reset()
    assert wiring.service().context.cloudtrail is not None
    wiring.reset()


def test_the_settings_default_activity_delay_is_the_reports_own() -> None:
    """config.py spells the default out (so a cold start does not import the report's
    schedule); it must stay the schedule's."""
    from chalicelib.config import Settings
    from chalicelib.core.activity_schedule import DEFAULT_DELAY

    assert Settings.__dataclass_fields__["activity_delay"].default == DEFAULT_DELAY
