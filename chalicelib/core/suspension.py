"""A flagged break-glass suspends that person's break-glass on that role until one of the
role's approvers lifts it (pure: who may lift it, whom a command names, the words)."""

from __future__ import annotations

import re

from chalicelib.core.catalog import Catalog, RoleSpec
from chalicelib.core.decisions import Refusal, Refused, is_approver
from chalicelib.core.groups import GroupsUnavailable, Members, no_groups

# A Slack mention as the slash command carries it: <@U0ALICE> or <@U0ALICE|alice>.
_MENTION = re.compile(r"^<@([A-Z0-9]+)(?:\|[^>]*)?>$")


def find_person(catalog: Catalog, text: str) -> str | None:
    """The Slack user ID ``text`` names: a mention, an ID, or a name from people.toml."""
    text = text.strip()
    found = _MENTION.match(text)
    wanted = found.group(1) if found else text.lstrip("@")
    if wanted.upper() in catalog.people:
        return wanted.upper()
    named = [i for i, p in catalog.people.items() if p.name.lower() == wanted.lower()]
    return named[0] if len(named) == 1 else None


def lifters(catalog: Catalog, role: RoleSpec) -> str:
    """Who may lift a suspension on ``role``: its approvers, in plain words."""
    names = [catalog.people[a].name if a in catalog.people else a for a in role.approvers]
    return ", ".join(names) or "nobody (the role lists no approvers)"


def suspended_refusal(catalog: Catalog, role: RoleSpec, requester: str, flagged: str) -> Refused:
    person = catalog.people.get(requester)
    name = person.name if person else requester
    return Refused(
        Refusal.BREAK_GLASS_SUSPENDED,
        f"Your break-glass on {role.name} is suspended since request {flagged} was flagged. "
        f"An approver of {role.name} ({lifters(catalog, role)}) can lift it with "
        f"`/access unsuspend {name} {role.name}` or on that request's review page. "
        f"You may still `request {role.name} …` with approval.",
    )


def check_lifter(
    catalog: Catalog, role: RoleSpec, actor: str, members: Members = no_groups
) -> None:
    """Only the role's approvers (as the policies say now, groups included) lift it."""
    try:
        rightful = is_approver(catalog, role, actor, members)
    except GroupsUnavailable as error:
        raise Refused(
            Refusal.GROUPS_UNAVAILABLE,
            f"Switchback cannot tell right now whether you approve {role.name}: {error}. "
            "Nothing was changed; try again in a minute.",
        ) from error
    if not rightful:
        raise Refused(
            Refusal.NOT_AN_APPROVER,
            f"Only an approver of {role.name} ({lifters(catalog, role)}) can lift a "
            "break-glass suspension on it.",
        )
