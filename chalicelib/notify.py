"""Who hears what, through which Slack URL: the approvers' channel or the requester.

Messages go into the outbox (stored first), and ``flush`` sends what this call queued within a
deadline; anything unsent is the sweep's to deliver.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from . import messages
from .model import AccessRequest, parse_iso
from .outbox import Outbox
from .policies import Catalog

RESPONSE_URL_LIFETIME = timedelta(minutes=30)  # Slack's limit on a slash command's response_url


class Notifier:
    def __init__(
        self,
        catalog: Catalog,
        outbox: Outbox,
        default_webhook: str | None,
        clock: Callable[[], datetime],
    ):
        self.catalog = catalog
        self.outbox = outbox
        self.default_webhook = default_webhook
        self.clock = clock
        # Per thread: the local server handles requests in threads, and each flushes its own.
        self._local = threading.local()

    def approvers_channel(self, role_name: str) -> str | None:
        role = self.catalog.role(role_name)
        return (role.webhook_url if role and role.webhook_url else None) or self.default_webhook

    def approvers(self, request: AccessRequest, payload: dict, kind: str) -> None:
        self._queue(self.approvers_channel(request.role), payload, kind, request)

    def requester(self, request: AccessRequest, text: str, kind: str) -> None:
        """Through the command's response_url while Slack accepts it; later in the approvers'
        channel, mentioning the requester."""
        fresh = request.response_url and (
            self.clock() - parse_iso(request.created_at) < RESPONSE_URL_LIFETIME
        )
        if fresh:
            self._queue(request.response_url, messages.to_requester(text), kind, request)
            return
        text = f"{messages.mention(request.requester)} {text}"
        payload = {"text": text, "blocks": [messages.section(text)]}
        self._queue(self.approvers_channel(request.role), payload, kind, request)

    def _queue(self, url: str | None, payload: dict, kind: str, request: AccessRequest) -> None:
        message = self.outbox.enqueue(url, payload, kind, request.id, self.clock())
        self._local.__dict__.setdefault("unsent", []).append(message)

    def flush(self, seconds: float) -> None:
        """Send what this thread queued, within ``seconds``; the rest goes with the next sweep."""
        unsent = self._local.__dict__.pop("unsent", [])
        self.outbox.send_now(unsent, self.clock(), time.monotonic() + seconds)
