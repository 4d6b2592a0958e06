"""Slack user groups through the Web API: ``usergroups.users.list`` with the bot token (scope
``usergroups:read``), at ``SLACK_API_URL`` locally. Answers are kept at most five minutes, so
a person removed from a group loses their say within that time without a redeploy.

slack_sdk is imported on the first lookup, never at import time (cold start).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chalicelib.core.groups import GroupsUnavailable
from chalicelib.delivery.slack_lookup import NOT_KEPT, SlackLookup

CACHE_SECONDS = 300.0  # at most five minutes between Slack's answer and a decision using it
LOOKUP_TIMEOUT = 2.0  # seconds: a decision waits this long at most (Slack's 3 s for commands)


class SlackGroups(SlackLookup):
    """``members(group) -> frozenset of Slack user ids``; raises GroupsUnavailable."""

    def __init__(
        self,
        bot_token: str,
        api_url: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_age: float = CACHE_SECONDS,
        timeout: float = LOOKUP_TIMEOUT,
    ):
        super().__init__(bot_token, api_url, clock, max_age, timeout)

    def __call__(self, group: str) -> frozenset[str]:
        members = self._kept(group)
        if members is NOT_KEPT:
            members = self._ask(group)
            self._keep(group, members)
        return members

    def _ask(self, group: str) -> frozenset[str]:
        from slack_sdk.errors import SlackApiError

        client = self._client()
        if client is None:  # a slash command or a click: answer within its budget
            raise GroupsUnavailable(f"no time left to ask Slack who is in {group}")
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
