"""Where a Slack webhook message goes, by name: the outbox stores the name, never the URL.

An incoming webhook URL is a capability (whoever holds it posts to the channel). So a message
waiting in the table names its destination — the approvers' channel ``slack:approvers``, a
role's own channel ``slack:role:<role>``, a role's break-glass channel
``slack:breakglass:<role>`` — and the URL is looked up only when it is sent: the approvers'
from the settings (``SLACK_WEBHOOK_URL`` locally, Secrets Manager deployed), a role's from its
policy file, where ``webhook_url`` and ``break_glass_webhook_url`` may be a Secrets Manager
secret ARN, read at use and cached like the other secrets (chalicelib/config.py).

Messages stored before names existed carry the URL itself; anything that is not a name (an
https URL, a command's response_url, chat.postMessage) is sent where it says, as before.
"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.core.catalog import Catalog, is_secret_arn
from chalicelib.delivery.slack import Outcome

APPROVERS = "slack:approvers"
_ROLE = "slack:role:"
_BREAK_GLASS = "slack:breakglass:"


def role_channel(role_name: str) -> str:
    return f"{_ROLE}{role_name}"


def break_glass_channel(role_name: str) -> str:
    return f"{_BREAK_GLASS}{role_name}"


def is_named(destination: str) -> bool:
    return destination == APPROVERS or destination.startswith((_ROLE, _BREAK_GLASS))


class WebhookNames:
    """Resolves destination names to webhook URLs at send time."""

    def __init__(
        self,
        catalog: Catalog,
        approvers: Callable[[], str | None],
        read_secret: Callable[[str], str],
    ):
        self._catalog = catalog
        self._approvers = approvers
        self._read_secret = read_secret

    def url_of(self, destination: str) -> str | None:
        """The URL to post to; None when nothing is configured for that name any more.
        Raises whatever reading a secret raises (the message waits for the next attempt)."""
        if not is_named(destination):
            return destination
        if destination == APPROVERS:
            value = self._approvers()
        else:
            name = destination.split(":", 2)[2]
            role = self._catalog.role(name)
            if role is None:
                value = None
            elif destination.startswith(_ROLE):
                value = role.webhook_url
            else:
                value = role.break_glass_webhook_url
        if value and is_secret_arn(value):
            value = self._read_secret(value)
        return value or None


class NamedWebhooks:
    """The outbox's Slack sender for named destinations: looks the URL up, then sends."""

    def __init__(self, send: Callable[..., Outcome], names: WebhookNames):
        self._send = send
        self._names = names

    def __call__(
        self, url: str, payload_json: str, timeout: float, patient: bool = False
    ) -> Outcome:
        try:
            target = self._names.url_of(url)
        except Exception as error:  # Secrets Manager slow or refusing: try again later
            return Outcome(
                delivered=False, error=f"cannot read the webhook of {url}: {error}"[:300]
            )
        if not target:
            return Outcome(
                delivered=False, permanent=True, error=f"no webhook is configured for {url}"
            )
        return self._send(target, payload_json, timeout, patient)
