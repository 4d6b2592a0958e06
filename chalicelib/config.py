"""Settings read from the environment once per process (never at import time)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

LOCAL_STAGE = "local"


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    stage: str
    table_name: str
    policies_dir: str
    signing_secret: str
    cookie_key: str
    webhook_url: str | None
    base_url: str | None
    command_name: str
    outbox_max_age_seconds: int
    trust_quota_override: int | None
    # Where chat.postMessage goes (Slack's Web API); overridable for local tests.
    slack_api_url: str | None = None

    @property
    def local(self) -> bool:
        return self.stage == LOCAL_STAGE

    @property
    def secure_cookies(self) -> bool:
        return not self.local

    @property
    def bot_token(self) -> str | None:
        """A Slack bot token (xoxb-…), optional: with it, requesters get direct messages
        (chat.postMessage) once their command's response_url is spent; without it they are
        mentioned in the approvers' channel. A secret: read on use, never kept in the repr."""
        return os.environ.get("SLACK_BOT_TOKEN", "").strip() or None


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set")
    return value


@lru_cache(maxsize=1)
def settings() -> Settings:
    stage = os.environ.get("SWITCHBACK_STAGE", LOCAL_STAGE).strip() or LOCAL_STAGE
    quota = os.environ.get("SWITCHBACK_TRUST_QUOTA", "").strip()
    return Settings(
        stage=stage,
        table_name=os.environ.get("SWITCHBACK_TABLE", "switchback"),
        policies_dir=os.environ.get("SWITCHBACK_POLICIES", "policies"),
        signing_secret=_required("SLACK_SIGNING_SECRET"),
        cookie_key=_required("SWITCHBACK_COOKIE_KEY"),
        webhook_url=os.environ.get("SLACK_WEBHOOK_URL") or None,
        base_url=(os.environ.get("SWITCHBACK_BASE_URL") or "").rstrip("/") or None,
        command_name=os.environ.get("SWITCHBACK_SLACK_COMMAND", "/access"),
        outbox_max_age_seconds=int(os.environ.get("SWITCHBACK_OUTBOX_MAX_AGE", "86400")),
        trust_quota_override=int(quota) if quota else None,
        slack_api_url=os.environ.get("SLACK_API_URL", "").strip() or None,
    )
