"""Secrets: the environment on the local stage; Secrets Manager (cached) on deployed stages."""

from __future__ import annotations

import time

import boto3
import pytest

from chalicelib import aws, config, wiring
from chalicelib.config import SECRET_ACTIONS, ConfigError, secret, settings


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
            Name="switchback/cookie", SecretString="cookie-from-aws"
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
        assert settings().cookie_key == "cookie-from-aws"
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
    from chalice.test import Client

    import app
    from tests.conftest import ROOT, signed_command

    monkeypatch.setenv("SWITCHBACK_STAGE", "prod")  # app_env made it local
    wiring.reset()
    wiring.service()  # built now from the repo's policies (the prod stage reads a packaged copy)
    assert not settings().local
    with Client(app.app, stage_name="prod", project_dir=str(ROOT)) as client:
        body, headers = signed_command("U0ALICE", "help", secret="signing-from-aws")
        ok = client.http.post("/slack/commands", body=body, headers=headers)
        body, headers = signed_command("U0ALICE", "help", secret="from-the-environment")
        refused = client.http.post("/slack/commands", body=body, headers=headers)
    assert ok.status_code == 200
    assert refused.status_code == 401
