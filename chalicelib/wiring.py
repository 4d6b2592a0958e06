"""Builds the service once per process, on first use (not at import: cold start and tests)."""

from __future__ import annotations

import os
import threading
from datetime import timedelta

from chalicelib.aws import clients as aws
from chalicelib.aws import cloudtrail
from chalicelib.aws.accounts import AccountClients
from chalicelib.aws.grants import RoleWriter
from chalicelib.aws.iam import IamGateway
from chalicelib.aws.role_marks import RoleMarks
from chalicelib.aws.store import Store
from chalicelib.config import _secrets, secret_at, settings
from chalicelib.core.groups import no_groups
from chalicelib.delivery.destinations import APPROVERS, NamedWebhooks, WebhookNames
from chalicelib.delivery.eventbridge import DESTINATION, EventBridgeDelivery
from chalicelib.delivery.outbox import Outbox, Routes
from chalicelib.delivery.slack import SlackDelivery
from chalicelib.delivery.slack_groups import SlackGroups
from chalicelib.delivery.slack_time_zones import SlackTimeZones
from chalicelib.notify.eventbridge import EventPublisher
from chalicelib.notify.port import Notifications, Subscriber
from chalicelib.notify.slack import Notifier
from chalicelib.policies import load_catalog
from chalicelib.service import Switchback, system_clock

_lock = threading.Lock()
_cache: dict[str, object] = {}


def service(base_url: str = "") -> Switchback:
    """The process-wide service; ``base_url`` is where links in messages point."""
    with _lock:
        if "service" not in _cache:
            config = settings()
            bot_token = config.bot_token  # a secret: read it once here
            store = Store(aws.client("dynamodb"), config.table_name)
            catalog = load_catalog(config.policies_dir)
            # Webhook URLs are looked up by name when a message is sent, never stored.
            webhooks = WebhookNames(catalog, config.approvers_webhook, secret_at)
            outbox = Outbox(
                store,
                timedelta(seconds=config.outbox_max_age_seconds),
                Routes(
                    NamedWebhooks(SlackDelivery(bot_token, config.slack_api_url), webhooks),
                    {DESTINATION: EventBridgeDelivery()},
                ),
            )
            groups = SlackGroups(bot_token, config.slack_api_url) if bot_token else no_groups
            # The notification port's subscribers, in the order their messages are sent.
            subscribers: list[Subscriber] = [
                Notifier(
                    catalog,
                    outbox,
                    APPROVERS if config.has_approvers_webhook else None,
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
            # Scheduled windows are read in the person's Slack time zone (needs the bot token).
            zones = SlackTimeZones(bot_token, config.slack_api_url) if bot_token else None
            _cache["service"] = Switchback(
                catalog=catalog,
                store=store,
                writer=RoleWriter(store, iam, system_clock),
                notifier=Notifications(outbox, subscribers, system_clock),
                groups=groups,
                # Which roles each sweep pass reads: marks and the idle cursor, in the table.
                role_checks=RoleMarks(store.client, config.table_name),
                time_zone=zones,
            )
            # Activity reports: CloudTrail read in each role's account (clients made on use);
            # none on an AWS emulator (moto has no LookupEvents) unless CloudTrail's own
            # endpoint is given (the local stack's stand-in): reports stay owed until then.
            if not os.environ.get("AWS_ENDPOINT_URL") or os.environ.get(
                "AWS_ENDPOINT_URL_CLOUDTRAIL"
            ):
                _cache["service"].context.cloudtrail = cloudtrail.reader(catalog.managers())
            _cache["service"].context.activity_delay = config.activity_delay
        found: Switchback = _cache["service"]  # type: ignore[assignment]
    if base_url:
        found.base_url = base_url
    return found


def caller_arn() -> str:
    """The ARN of whoever's AWS credentials these are (sts:GetCallerIdentity): the operator
    CLI acts, and is named in audit trails, as that identity."""
    return aws.client("sts").get_caller_identity()["Arn"]


def reset() -> None:
    """Forget the built service, clients and cached secrets (tests change the environment)."""
    with _lock:
        _cache.clear()
    settings.cache_clear()
    _secrets.cache_clear()
    aws.forget()
