"""Settings read from the environment once per process (never at import time)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

LOCAL_STAGE = "local"
# A session cookie signed with a short key could be forged offline, and a forged session can
# approve access; deployed stages refuse to start with less.
MIN_COOKIE_KEY_CHARS = 32


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    stage: str
    table_name: str
    policies_dir: str
    signing_secret: str = field(repr=False)
    cookie_key: str = field(repr=False)
    webhook_url: str | None
    base_url: str | None
    command_name: str
    outbox_max_age_seconds: int
    trust_quota_override: int | None
    # Sign in with Slack (deployed stages). Read here only, so they can come from elsewhere.
    slack_client_id: str | None = None
    slack_client_secret: str | None = field(default=None, repr=False)
    slack_team_id: str | None = None
    slack_oidc_authorize_url: str = "https://slack.com/openid/connect/authorize"
    slack_oidc_token_url: str = "https://slack.com/api/openid.connect.token"

    @property
    def local(self) -> bool:
        return self.stage == LOCAL_STAGE

    @property
    def secure_cookies(self) -> bool:
        return not self.local

    @property
    def dev_sign_in(self) -> bool:
        """Local sign-in (pick a person, no password) exists on the local stage only."""
        return self.local

    def oidc(self, redirect_uri: str):
        """Sign in with Slack settings; ConfigError names the first missing variable."""
        from .oidc import OidcSettings

        missing = [
            name
            for name, value in (
                ("SLACK_CLIENT_ID", self.slack_client_id),
                ("SLACK_CLIENT_SECRET", self.slack_client_secret),
                ("SLACK_TEAM_ID", self.slack_team_id),
            )
            if not value
        ]
        if missing:
            raise ConfigError(f"{', '.join(missing)} not set: Sign in with Slack is off")
        return OidcSettings(
            client_id=self.slack_client_id,
            client_secret=self.slack_client_secret,
            redirect_uri=redirect_uri,
            team_id=self.slack_team_id,
            authorize_url=self.slack_oidc_authorize_url,
            token_url=self.slack_oidc_token_url,
        )


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set")
    return value


def _optional(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None


def _check_stage(stage: str, cookie_key: str) -> None:
    if stage == LOCAL_STAGE and os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        # The local stage signs anyone in without a password; it must never run deployed.
        raise ConfigError(
            "SWITCHBACK_STAGE=local inside AWS Lambda; deploy the dev or prod stage instead"
        )
    if stage != LOCAL_STAGE and len(cookie_key) < MIN_COOKIE_KEY_CHARS:
        raise ConfigError(
            f"SWITCHBACK_COOKIE_KEY is shorter than {MIN_COOKIE_KEY_CHARS} characters; "
            "use a random one, e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )


@lru_cache(maxsize=1)
def settings() -> Settings:
    stage = os.environ.get("SWITCHBACK_STAGE", LOCAL_STAGE).strip() or LOCAL_STAGE
    quota = os.environ.get("SWITCHBACK_TRUST_QUOTA", "").strip()
    cookie_key = _required("SWITCHBACK_COOKIE_KEY")
    _check_stage(stage, cookie_key)
    defaults = Settings.__dataclass_fields__
    return Settings(
        stage=stage,
        table_name=os.environ.get("SWITCHBACK_TABLE", "switchback"),
        policies_dir=os.environ.get("SWITCHBACK_POLICIES", "policies"),
        signing_secret=_required("SLACK_SIGNING_SECRET"),
        cookie_key=cookie_key,
        webhook_url=os.environ.get("SLACK_WEBHOOK_URL") or None,
        base_url=(os.environ.get("SWITCHBACK_BASE_URL") or "").rstrip("/") or None,
        command_name=os.environ.get("SWITCHBACK_SLACK_COMMAND", "/access"),
        outbox_max_age_seconds=int(os.environ.get("SWITCHBACK_OUTBOX_MAX_AGE", "86400")),
        trust_quota_override=int(quota) if quota else None,
        slack_client_id=_optional("SLACK_CLIENT_ID"),
        slack_client_secret=_optional("SLACK_CLIENT_SECRET"),
        slack_team_id=_optional("SLACK_TEAM_ID"),
        # Overridable so tests can point at a fake provider on 127.0.0.1.
        slack_oidc_authorize_url=_optional("SLACK_OIDC_AUTHORIZE_URL")
        or defaults["slack_oidc_authorize_url"].default,
        slack_oidc_token_url=_optional("SLACK_OIDC_TOKEN_URL")
        or defaults["slack_oidc_token_url"].default,
    )
