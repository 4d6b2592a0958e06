"""Builds the service once per process, on first use (not at import: cold start and tests)."""

from __future__ import annotations

import threading
from datetime import timedelta

from .config import settings
from .delivery import SlackDelivery
from .grants import RoleWriter
from .iam import IamGateway
from .notify import Notifier
from .outbox import Outbox
from .policies import load_catalog
from .service import Switchback, system_clock
from .store import Store

_lock = threading.Lock()
_cache: dict[str, object] = {}


def _clients():
    import boto3
    from botocore.config import Config

    # Throttling and 5xx are retried with backoff, a bounded number of times.
    retries = Config(
        retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10
    )
    session = boto3.session.Session()
    return session.client("dynamodb", config=retries), session.client("iam", config=retries)


def service(base_url: str = "") -> Switchback:
    """The process-wide service; ``base_url`` is where links in messages point."""
    with _lock:
        if "service" not in _cache:
            config = settings()
            dynamodb, iam = _clients()
            store = Store(dynamodb, config.table_name)
            catalog = load_catalog(config.policies_dir)
            outbox = Outbox(
                store,
                timedelta(seconds=config.outbox_max_age_seconds),
                SlackDelivery(config.bot_token, config.slack_api_url),
            )
            _cache["service"] = Switchback(
                catalog=catalog,
                store=store,
                writer=RoleWriter(
                    store, IamGateway.single(iam, config.trust_quota_override), system_clock
                ),
                notifier=Notifier(
                    catalog,
                    outbox,
                    config.webhook_url,
                    system_clock,
                    direct_messages=bool(config.bot_token),
                ),
            )
        found: Switchback = _cache["service"]  # type: ignore[assignment]
    if base_url:
        found.base_url = base_url
    return found


def reset() -> None:
    """Forget the built service (tests change the environment between cases)."""
    with _lock:
        _cache.clear()
    settings.cache_clear()
