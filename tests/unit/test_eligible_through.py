"""Through which entry someone is eligible (core/groups.listed_through): their own id, "*",
or the Slack user group — what the audit trail will name for approvals and requests."""

from __future__ import annotations

import pytest

from chalicelib.core.groups import GroupsUnavailable, listed, listed_through

GROUPS = {"S0ONCALL": frozenset({"U0BOB"}), "S0DBA": frozenset({"U0BOB", "U0CAROL"})}


def members(group: str) -> frozenset[str]:
    if group not in GROUPS:
        raise GroupsUnavailable(f"{group} unknown")
    return GROUPS[group]


def test_named_directly_needs_no_lookup_and_wins() -> None:
    assert listed_through(("S0MISSING", "U0BOB"), "U0BOB", members) == "U0BOB"


def test_the_first_group_that_holds_them_is_named() -> None:
    assert listed_through(("S0ONCALL", "S0DBA"), "U0BOB", members) == "S0ONCALL"
    assert listed_through(("S0ONCALL", "S0DBA"), "U0CAROL", members) == "S0DBA"
    assert listed_through(("*",), "U0DAVE", members) == "*"
    assert listed_through(("S0ONCALL",), "U0DAVE", members) is None


def test_an_unresolvable_group_fails_closed_unless_another_entry_answers() -> None:
    assert listed_through(("S0MISSING", "S0DBA"), "U0CAROL", members) == "S0DBA"
    with pytest.raises(GroupsUnavailable):
        listed_through(("S0MISSING", "S0DBA"), "U0DAVE", members)


def test_listed_agrees() -> None:
    for entries in (("S0ONCALL",), ("*",), ("U0DAVE",), ("S0DBA", "U0ERIN")):
        for user in ("U0BOB", "U0CAROL", "U0DAVE"):
            assert listed(entries, user, members) == (
                listed_through(entries, user, members) is not None
            )
