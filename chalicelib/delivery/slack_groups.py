"""Slack user groups through the Web API: ``usergroups.users.list`` with the bot token (scope
``usergroups:read``), at ``SLACK_API_URL`` locally. Answers are kept at most five minutes, so
a person removed from a group loses their say within that time without a redeploy.

slack_sdk is imported on the first lookup, never at import time (cold start).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from chalicelib.core import deadline
from chalicelib.core.groups import GroupsUnavailable
from chalicelib.delivery.slack import SLACK_API_URL

CACHE_SECONDS = 300.0  # at most five minutes between Slack's answer and a decision using it
LOOKUP_TIMEOUT = 2.0  # seconds: a decision waits this long at most (Slack's 3 s for commands)
ANSWER_RESERVE = 0.5  # seconds of a caller's budget left for its own work and answer
MIN_LOOKUP = 0.2  # seconds: less than this is not worth asking


class SlackGroups:
    """``members(group) -> frozenset of Slack user ids``; raises GroupsUnavailable."""

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
        self._cache: dict[str, tuple[frozenset[str], float]] = {}
        self._lock = threading.Lock()
        self.lookups = 0  # calls to Slack (bench and tests count them)

    def __call__(self, group: str) -> frozenset[str]:
        with self._lock:
            found = self._cache.get(group)
            if found and self._clock() - found[1] < self._max_age:
                return found[0]
        members = self._ask(group)
        with self._lock:
            self._cache[group] = (members, self._clock())
        return members

    def _ask(self, group: str) -> frozenset[str]:
        from slack_sdk.errors import SlackApiError
        from slack_sdk.web import WebClient

        timeout = self._timeout
        budget = deadline.current()
        if budget is not None:  # a slash command or a click: answer within its budget
            timeout = min(timeout, budget.remaining() - ANSWER_RESERVE)
            if timeout < MIN_LOOKUP:
                raise GroupsUnavailable(f"no time left to ask Slack who is in {group}")
        client = WebClient(token=self._token, base_url=self._api_url, timeout=timeout)  # type: ignore[arg-type]
        self.lookups += 1
        try:
            answer = client.usergroups_users_list(usergroup=group)
        except SlackApiError as error:
            raise GroupsUnavailable(
                f"Slack did not say who is in the user group {group} "
                f"({error.response.get('error') or error.response.status_code})"
            ) from error
        except Exception as error:  # timeouts, refused connections, DNS
            raise GroupsUnavailable(
                f"Slack could not be asked who is in the user group {group} "
                f"({type(error).__name__})"
            ) from error
        users = answer.get("users")
        if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
            raise GroupsUnavailable(f"Slack's answer for the user group {group} had no user list")
        return frozenset(users)
