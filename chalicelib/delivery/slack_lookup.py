"""What Switchback's Slack Web API lookups share (user groups, time zones): the bot token,
answers kept a while, and a client whose timeout fits the caller's budget (a slash command
or a click answers within Slack's 3 s).

slack_sdk is imported on the first lookup, never at import time (cold start).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from chalicelib.core import deadline
from chalicelib.delivery.slack import SLACK_API_URL

ANSWER_RESERVE = 0.5  # seconds of a caller's budget left for its own work and answer
MIN_LOOKUP = 0.2  # seconds: less than this is not worth asking
NOT_KEPT = object()


class SlackLookup:
    """A lookup by key, kept ``max_age`` seconds; subclasses ask Slack (``_client``)."""

    def __init__(
        self,
        bot_token: str,
        api_url: str | None,
        clock: Callable[[], float],
        max_age: float,
        timeout: float,
    ):
        self._token = bot_token
        self._api_url = api_url or SLACK_API_URL
        self._clock = clock
        self._max_age = max_age
        self._timeout = timeout
        self._cache: dict[str, tuple[Any, float]] = {}
        self._lock = threading.Lock()
        self.lookups = 0  # calls to Slack (bench and tests count them)

    def _kept(self, key: str) -> Any:
        """The answer kept for ``key`` if still fresh, else ``NOT_KEPT``."""
        with self._lock:
            found = self._cache.get(key)
            if found and self._clock() - found[1] < self._max_age:
                return found[0]
        return NOT_KEPT

    def _keep(self, key: str, answer: Any) -> None:
        with self._lock:
            self._cache[key] = (answer, self._clock())

    def _client(self) -> Any:
        """A Web API client whose timeout fits the caller's budget; None if too little is
        left to be worth asking."""
        from slack_sdk.web import WebClient

        timeout = self._timeout
        budget = deadline.current()
        if budget is not None:
            timeout = min(timeout, budget.remaining() - ANSWER_RESERVE)
            if timeout < MIN_LOOKUP:
                return None
        self.lookups += 1
        return WebClient(token=self._token, base_url=self._api_url, timeout=timeout)  # type: ignore[arg-type]
