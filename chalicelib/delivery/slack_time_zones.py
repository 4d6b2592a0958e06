"""A person's time zone from Slack's Web API: ``users.info`` with the bot token (scope
``users:read``), at ``SLACK_API_URL`` locally. A slash command carries no time zone, and a
scheduled window (``request … at 22:00``) is read in the person's own.

Answers are kept an hour (people rarely move). Any failure answers None: the start is read
in UTC, and the answer says so (core/schedule.py local_text, entry/slash.py).

slack_sdk is imported on the first lookup, never at import time (cold start).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from chalicelib.core import deadline
from chalicelib.delivery.slack import SLACK_API_URL

CACHE_SECONDS = 3600.0
LOOKUP_TIMEOUT = 1.5  # seconds: the slash command answers within Slack's 3 s
ANSWER_RESERVE = 0.5
MIN_LOOKUP = 0.2

log = logging.getLogger("switchback.slack")


def no_time_zone(_user: str) -> str | None:
    """No bot token: every start is read in UTC."""
    return None


class SlackTimeZones:
    """``time_zone(user) -> IANA name or None``; never raises."""

    def __init__(
        self,
        bot_token: str,
        api_url: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_age: float = CACHE_SECONDS,
        timeout: float = LOOKUP_TIMEOUT,
    ):
        self._token = bot_token
        self._api_url = api_url or SLACK_API_URL
        self._clock = clock
        self._max_age = max_age
        self._timeout = timeout
        self._cache: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()
        self.lookups = 0

    def __call__(self, user: str) -> str | None:
        with self._lock:
            found = self._cache.get(user)
            if found and self._clock() - found[1] < self._max_age:
                return found[0]
        zone = self._ask(user)
        if zone is not None:  # a failure is asked again next time
            with self._lock:
                self._cache[user] = (zone, self._clock())
        return zone

    def _ask(self, user: str) -> str | None:
        from slack_sdk.web import WebClient

        timeout = self._timeout
        budget = deadline.current()
        if budget is not None:
            timeout = min(timeout, budget.remaining() - ANSWER_RESERVE)
            if timeout < MIN_LOOKUP:
                return None
        client = WebClient(token=self._token, base_url=self._api_url, timeout=timeout)  # type: ignore[arg-type]
        self.lookups += 1
        try:
            answer = client.users_info(user=user)
        except Exception as error:  # Slack's refusals, timeouts, refused connections
            log.warning("users.info for %s failed: %s", user, type(error).__name__)
            return None
        person = answer.get("user")
        zone = person.get("tz") if isinstance(person, dict) else None
        return zone if isinstance(zone, str) and zone else None
