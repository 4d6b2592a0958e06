"""Settings read from the environment once per process (never at import time).

Secrets (Slack's signing secret, the Slack app's client secret, the cookie key, the approvers'
webhook URL) come from the environment on the local stage, and from Secrets Manager on deployed
stages: the environment then holds only their ARNs, and values are cached for
SECRET_MAX_AGE_SECONDS (Powertools Parameters), so a rotated secret is picked up without a
redeploy.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

LOCAL_STAGE = "local"
# Secret -> the variable holding its Secrets Manager ARN on deployed stages.
SECRET_ARN_VARIABLES = {
    "SLACK_SIGNING_SECRET": "SLACK_SIGNING_SECRET_ARN",
    "SLACK_CLIENT_SECRET": "SLACK_CLIENT_SECRET_ARN",
    "SWITCHBACK_COOKIE_KEY": "SWITCHBACK_COOKIE_KEY_ARN",
    "SLACK_BOT_TOKEN": "SLACK_BOT_TOKEN_ARN",  # optional: direct messages to requesters
    # The approvers' channel: an incoming webhook URL is a capability (whoever has it posts).
    "SLACK_WEBHOOK_URL": "SLACK_WEBHOOK_URL_ARN",
}
SECRET_ACTIONS = ("secretsmanager:GetSecretValue",)  # all the broker asks Secrets Manager
SECRET_MAX_AGE_SECONDS = 300
# A session cookie signed with a short key could be forged offline, and a forged session can
# approve access; deployed stages refuse to use less.
MIN_COOKIE_KEY_CHARS = 32


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    stage: str
    table_name: str
    policies_dir: str
    webhook_url: str | None
    base_url: str | None
    command_name: str
    outbox_max_age_seconds: int
    trust_quota_override: int | None
    # Sign in with Slack (deployed stages); the client secret is a secret, read on use.
    slack_client_id: str | None = None
    slack_team_id: str | None = None
    slack_oidc_authorize_url: str = "https://slack.com/openid/connect/authorize"
    slack_oidc_token_url: str = "https://slack.com/api/openid.connect.token"
    # Where chat.postMessage goes (Slack's Web API); overridable for local tests.
    slack_api_url: str | None = None
    # The EventBridge bus (name or ARN) every lifecycle event goes to; None: none is published.
    event_bus: str | None = None
    # The broker's own IAM role (deployed): its IAM writes are no drift (iam_changes.py).
    broker_role_arn: str | None = None
    # How long after a grant ends its activity report is read (CloudTrail's delivery lag).
    activity_delay: timedelta = timedelta(seconds=900)  # activity_schedule.DEFAULT_DELAY

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

    @property
    def signing_secret(self) -> str:
        return secret("SLACK_SIGNING_SECRET")

    @property
    def cookie_key(self) -> str:
        key = secret("SWITCHBACK_COOKIE_KEY")
        if not self.local and len(key) < MIN_COOKIE_KEY_CHARS:
            raise ConfigError(
                f"SWITCHBACK_COOKIE_KEY is shorter than {MIN_COOKIE_KEY_CHARS} characters; "
                "use a random one, e.g. python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'"
            )
        return key

    @property
    def slack_client_secret(self) -> str:
        """The Slack app's client secret, for Sign in with Slack (deployed stages)."""
        return secret("SLACK_CLIENT_SECRET")

    def oidc(self, redirect_uri: str):
        """Sign in with Slack settings; ConfigError names every missing variable."""
        from chalicelib.web.oidc import OidcSettings

        try:
            client_secret = self.slack_client_secret
        except ConfigError:
            client_secret = None
        missing = [
            name
            for name, value in (
                ("SLACK_CLIENT_ID", self.slack_client_id),
                ("SLACK_CLIENT_SECRET", client_secret),
                ("SLACK_TEAM_ID", self.slack_team_id),
            )
            if not value
        ]
        if missing:
            raise ConfigError(f"{', '.join(missing)} not set: Sign in with Slack is off")
        return OidcSettings(
            client_id=self.slack_client_id,
            client_secret=client_secret,
            redirect_uri=redirect_uri,
            team_id=self.slack_team_id,
            authorize_url=self.slack_oidc_authorize_url,
            token_url=self.slack_oidc_token_url,
        )

    @property
    def has_approvers_webhook(self) -> bool:
        """Whether an approvers' channel is configured (without reading the secret)."""
        if self.local:
            return bool(self.webhook_url)
        return bool(_optional(SECRET_ARN_VARIABLES["SLACK_WEBHOOK_URL"]) or self.webhook_url)

    def approvers_webhook(self) -> str | None:
        """The approvers' incoming webhook URL, read when a message is sent: locally
        SLACK_WEBHOOK_URL; deployed, the Secrets Manager secret whose ARN SLACK_WEBHOOK_URL_ARN
        holds (cached like the other secrets), else a plain SLACK_WEBHOOK_URL (stacks deployed
        before the secret existed)."""
        if not self.local and _optional(SECRET_ARN_VARIABLES["SLACK_WEBHOOK_URL"]):
            return secret("SLACK_WEBHOOK_URL")
        return self.webhook_url

    @property
    def bot_token(self) -> str | None:
        """A Slack bot token (xoxb-…), optional: with it, requesters get direct messages
        (chat.postMessage) once their command's response_url is spent; without it they are
        mentioned in the approvers' channel. A secret: read on use, never kept in the repr;
        on deployed stages from Secrets Manager when SLACK_BOT_TOKEN_ARN is set."""
        variable = "SLACK_BOT_TOKEN" if self.local else SECRET_ARN_VARIABLES["SLACK_BOT_TOKEN"]
        if not os.environ.get(variable, "").strip():
            return None
        return secret("SLACK_BOT_TOKEN")


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set")
    return value


def _optional(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None


@lru_cache(maxsize=1)
def settings() -> Settings:
    stage = os.environ.get("SWITCHBACK_STAGE", LOCAL_STAGE).strip() or LOCAL_STAGE
    if stage == LOCAL_STAGE and os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        # The local stage signs anyone in without a password; it must never run deployed.
        raise ConfigError(
            "SWITCHBACK_STAGE=local inside AWS Lambda; deploy the dev or prod stage instead"
        )
    quota = os.environ.get("SWITCHBACK_TRUST_QUOTA", "").strip()
    defaults = Settings.__dataclass_fields__
    return Settings(
        stage=stage,
        table_name=os.environ.get("SWITCHBACK_TABLE", "switchback"),
        policies_dir=os.environ.get("SWITCHBACK_POLICIES", "policies"),
        webhook_url=os.environ.get("SLACK_WEBHOOK_URL") or None,
        base_url=(os.environ.get("SWITCHBACK_BASE_URL") or "").rstrip("/") or None,
        command_name=os.environ.get("SWITCHBACK_SLACK_COMMAND", "/access"),
        outbox_max_age_seconds=int(os.environ.get("SWITCHBACK_OUTBOX_MAX_AGE", "86400")),
        trust_quota_override=int(quota) if quota else None,
        slack_client_id=_optional("SLACK_CLIENT_ID"),
        slack_team_id=_optional("SLACK_TEAM_ID"),
        # Overridable so tests can point at a fake provider on 127.0.0.1.
        slack_oidc_authorize_url=_optional("SLACK_OIDC_AUTHORIZE_URL")
        or defaults["slack_oidc_authorize_url"].default,
        slack_oidc_token_url=_optional("SLACK_OIDC_TOKEN_URL")
        or defaults["slack_oidc_token_url"].default,
        slack_api_url=_optional("SLACK_API_URL"),
        event_bus=_event_bus(),
        broker_role_arn=_optional("SWITCHBACK_BROKER_ROLE_ARN"),
        activity_delay=_activity_delay(),
    )


# An EventBridge bus name, or a bus ARN (the bus may be in another account).
_BUS_NAME = r"[/\.\-_A-Za-z0-9]{1,256}"
_BUS = re.compile(
    rf"{_BUS_NAME}|arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{{12}}:event-bus/{_BUS_NAME}"
)


def _event_bus() -> str | None:
    bus = _optional("SWITCHBACK_EVENT_BUS")
    if bus is not None and not _BUS.fullmatch(bus):
        raise ConfigError(
            f"SWITCHBACK_EVENT_BUS={bus!r} is neither an EventBridge bus name nor a bus ARN "
            "(arn:aws:events:<region>:<account>:event-bus/<name>); leave it empty for none"
        )
    return bus


def secret(name: str) -> str:
    """The secret ``name`` (a key of SECRET_ARN_VARIABLES): the variable itself on the local
    stage; on deployed stages, the Secrets Manager secret whose ARN the ``_ARN`` variable holds,
    read at most once per SECRET_MAX_AGE_SECONDS."""
    if settings().local:
        return _required(name)
    arn = _required(SECRET_ARN_VARIABLES[name])
    from aws_lambda_powertools.utilities.parameters import GetParameterError

    try:
        value = _secrets().get(arn, max_age=SECRET_MAX_AGE_SECONDS)
    except GetParameterError as error:
        raise ConfigError(f"{name}: cannot read the secret {arn} ({error})") from error
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name}: the secret {arn} is empty; put the value in Secrets Manager")
    return value.strip()


def secret_at(arn: str) -> str:
    """The value of the Secrets Manager secret ``arn`` (a role's webhook given as a secret),
    read at most once per SECRET_MAX_AGE_SECONDS, on any stage."""
    from aws_lambda_powertools.utilities.parameters import GetParameterError

    try:
        value = _secrets().get(arn, max_age=SECRET_MAX_AGE_SECONDS)
    except GetParameterError as error:
        raise ConfigError(f"cannot read the secret {arn} ({error})") from error
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"the secret {arn} is empty; put the value in Secrets Manager")
    return value.strip()


@lru_cache(maxsize=1)
def _secrets():
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from chalicelib.aws import clients as aws

    return SecretsProvider(boto3_client=aws.client("secretsmanager"))


def _activity_delay() -> timedelta:
    # Imported here: the report's schedule and its model are not needed to answer Slack.
    from chalicelib.core.activity_schedule import ActivityError, parse_delay

    try:
        return parse_delay(os.environ.get("SWITCHBACK_ACTIVITY_DELAY"))
    except ActivityError as error:
        raise ConfigError(str(error)) from error
