"""A person's time zone from Slack's Web API: ``users.info`` with the bot token (scope
``users:read``), at ``SLACK_API_URL`` locally. A slash command carries no time zone, and a
scheduled window (``request … at 22:00``) is read in the person's own.

Answers are kept an hour (people rarely move). Any failure answers None: the start is read
in UTC, and the answer says so (core/schedule.py local_text, entry/slash.py).

slack_sdk is imported on the first lookup, never at import time (cold start).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from chalicelib.delivery.slack_lookup import NOT_KEPT, SlackLookup

CACHE_SECONDS = 3600.0
LOOKUP_TIMEOUT = 1.5  # seconds: the slash command answers within Slack's 3 s

log = logging.getLogger("switchback.slack")


def no_time_zone(_user: str) -> str | None:
    """No bot token: every start is read in UTC."""
    return None


class SlackTimeZones(SlackLookup):
    """``time_zone(user) -> IANA name or None``; never raises."""

    def __init__(
        self,
        bot_token: str,
        api_url: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_age: float = CACHE_SECONDS,
        timeout: float = LOOKUP_TIMEOUT,
    ):
        super().__init__(bot_token, api_url, clock, max_age, timeout)

    def __call__(self, user: str) -> str | None:
        zone = self._kept(user)
        if zone is NOT_KEPT:
            zone = self._ask(user)
            if zone is not None:  # a failure is asked again next time
                self._keep(user, zone)
        return zone

    def _ask(self, user: str) -> str | None:
        client = self._client()
        if client is None:
            return None
        try:
            answer = client.users_info(user=user)
        except Exception as error:  # Slack's refusals, timeouts, refused connections
            log.warning("users.info for %s failed: %s", user, type(error).__name__)
            return None
        person = answer.get("user")
        zone = person.get("tz") if isinstance(person, dict) else None
        return zone if isinstance(zone, str) and zone else None
