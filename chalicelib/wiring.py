"""Builds the service once per process, on first use (not at import: cold start and tests)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from chalicelib.aws import clients as aws
from chalicelib.aws.grants import RoleWriter
from chalicelib.aws.iam import IamGateway
from chalicelib.aws.store import Store
from chalicelib.config import _secrets, settings
from chalicelib.core.errors import AwsUnavailable
from chalicelib.core.groups import no_groups
from chalicelib.delivery.eventbridge import DESTINATION, EventBridgeDelivery
from chalicelib.delivery.outbox import Outbox, Routes
from chalicelib.delivery.slack import SlackDelivery
from chalicelib.delivery.slack_groups import SlackGroups
from chalicelib.notify.eventbridge import EventPublisher
from chalicelib.notify.port import Notifications, Subscriber
from chalicelib.notify.slack import Notifier
from chalicelib.policies import load_catalog
from chalicelib.service import Switchback, system_clock

_lock = threading.Lock()
_cache: dict[str, object] = {}

MANAGER_SESSION_NAME = "switchback-broker"  # what CloudTrail in the other account shows
MANAGER_SESSION_SECONDS = 3600
REFRESH_MARGIN_SECONDS = 300  # assume again this long before the credentials run out


class AccountClients:
    """The IAM client for a role: the broker's own, or, for a role in another account, one
    signed with the credentials of that account's manager role, assumed on first use and again
    before they expire."""

    def __init__(
        self,
        home: Any,
        managers: dict[str, str],
        make_client: Callable[..., Any] = aws.client,
        clock: Callable[[], float] = time.time,
    ):
        self._home = home
        self._managers = managers  # role ARN -> manager role ARN
        self._make_client = make_client
        self._clock = clock
        self._assumed: dict[str, tuple[Any, float]] = {}  # manager ARN -> (client, expires)
        self._lock = threading.Lock()

    def __call__(self, role_arn: str) -> Any:
        manager = self._managers.get(role_arn)
        if manager is None:
            return self._home
        with self._lock:
            client, expires = self._assumed.get(manager, (None, 0.0))
            if client is None or self._clock() >= expires - REFRESH_MARGIN_SECONDS:
                client, expires = self._assume(manager)
                self._assumed[manager] = (client, expires)
            return client

    def _assume(self, manager: str) -> tuple[Any, float]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._make_client("sts").assume_role(
                RoleArn=manager,
                RoleSessionName=MANAGER_SESSION_NAME,
                DurationSeconds=MANAGER_SESSION_SECONDS,
            )
        except (ClientError, BotoCoreError) as error:
            # Retried by the next sweep; a missing or mis-trusting spoke stack says so here.
            raise AwsUnavailable(f"cannot assume the manager role {manager}: {error}") from error
        credentials = answer["Credentials"]
        client = self._make_client(
            "iam",
            assumed_role=manager,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        return client, credentials["Expiration"].timestamp()


def service(base_url: str = "") -> Switchback:
    """The process-wide service; ``base_url`` is where links in messages point."""
    with _lock:
        if "service" not in _cache:
            config = settings()
            bot_token = config.bot_token  # a secret: read it once here
            store = Store(aws.client("dynamodb"), config.table_name)
            catalog = load_catalog(config.policies_dir)
            outbox = Outbox(
                store,
                timedelta(seconds=config.outbox_max_age_seconds),
                Routes(
                    SlackDelivery(bot_token, config.slack_api_url),
                    {DESTINATION: EventBridgeDelivery()},
                ),
            )
            groups = SlackGroups(bot_token, config.slack_api_url) if bot_token else no_groups
            # The notification port's subscribers, in the order their messages are sent.
            subscribers: list[Subscriber] = [
                Notifier(
                    catalog,
                    outbox,
                    config.webhook_url,
                    system_clock,
                    direct_messages=bool(bot_token),
                    groups=groups,
                )
            ]
            if config.event_bus:
                subscribers.append(EventPublisher(config.event_bus))
            iam = IamGateway(
                AccountClients(aws.client("iam"), catalog.managers()),
                config.trust_quota_override,
            )
            _cache["service"] = Switchback(
                catalog=catalog,
                store=store,
                writer=RoleWriter(store, iam, system_clock),
                notifier=Notifications(outbox, subscribers, system_clock),
                groups=groups,
            )
        found: Switchback = _cache["service"]  # type: ignore[assignment]
    if base_url:
        found.base_url = base_url
    return found


def reset() -> None:
    """Forget the built service, clients and cached secrets (tests change the environment)."""
    with _lock:
        _cache.clear()
    settings.cache_clear()
    _secrets.cache_clear()
    aws.forget()
