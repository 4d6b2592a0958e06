"""Approvers and requesters named by Slack user group (``S0123ABCD``): who is in one, as pure
rules over a ``members`` lookup that the Slack adapter answers
(chalicelib/delivery/slack_groups.py).

Fail closed: when a group cannot be resolved, a person not listed by name is refused with a
clear message (GroupsUnavailable), never let in. Being in a group is never enough on its own:
the person also needs an entry in people.toml (the IAM user Switchback trusts).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

SLACK_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}\Z")

# group id -> the Slack user ids in it; raises GroupsUnavailable when Slack cannot say.
Members = Callable[[str], frozenset[str]]


class GroupsUnavailable(Exception):
    """Slack could not be asked who is in a user group; decisions that depend on it wait."""


def is_group(entry: str) -> bool:
    return bool(SLACK_GROUP_ID.match(entry))


def no_groups(group: str) -> frozenset[str]:
    """The lookup when no bot token is configured: every group is unknown (fail closed)."""
    raise GroupsUnavailable(
        f"the Slack user group {group} cannot be looked up: no Slack bot token "
        "(SLACK_BOT_TOKEN) is configured"
    )


def listed(entries: Iterable[str], user: str, members: Members) -> bool:
    """Is ``user`` one of ``entries`` (Slack user ids, group ids, or "*")? People named
    directly need no lookup; a group that cannot be resolved raises GroupsUnavailable unless
    another entry already answers yes."""
    return listed_through(entries, user, members) is not None


def listed_through(entries: Iterable[str], user: str, members: Members) -> str | None:
    """The entry through which ``user`` is listed: their own id, "*", or the Slack user group
    (the audit trail names it); None when not listed. Named directly wins over a group, so no
    lookup is needed then; a group that cannot be resolved raises GroupsUnavailable unless
    another entry already answers."""
    entries = tuple(entries)
    if user in entries:
        return user
    if "*" in entries:
        return "*"
    unresolved: GroupsUnavailable | None = None
    for group in (e for e in entries if is_group(e)):
        try:
            if user in members(group):
                return group
        except GroupsUnavailable as error:
            unresolved = unresolved or error
    if unresolved is not None:
        raise unresolved
    return None


def expand(entries: Iterable[str], members: Members) -> tuple[tuple[str, ...], list[str]]:
    """Everyone ``entries`` names, in order and once each, and the groups that could not be
    resolved (their members are left out)."""
    people: dict[str, None] = {}
    unresolved: list[str] = []
    for entry in entries:
        if not is_group(entry):
            people.setdefault(entry, None)
            continue
        try:
            for member in sorted(members(entry)):
                people.setdefault(member, None)
        except GroupsUnavailable:
            unresolved.append(entry)
    return tuple(people), unresolved
