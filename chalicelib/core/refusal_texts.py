"""Who a role is for, in words: the refusal a person not on its list is given.

Plain text, no mentions (refusals are escaped where they are shown). The rules that decide
the refusal are in chalicelib/core/decisions.py.
"""

from __future__ import annotations

from chalicelib.core.catalog import Catalog, RoleSpec
from chalicelib.core.groups import is_group

SHOWN_NAMES = 5  # names in a refusal; the rest are counted


def _names(catalog: Catalog, entries: tuple[str, ...]) -> str:
    """People and groups of a policy list as plain text (no mentions: refusals are escaped)."""
    shown = []
    for entry in entries:
        if entry == "*":
            return "everyone in Switchback's people list"
        if is_group(entry):
            shown.append(f"members of the Slack user group {entry}")
        else:
            person = catalog.person(entry)
            shown.append(person.name if person else entry)
    if len(shown) > SHOWN_NAMES:
        return ", ".join(shown[:SHOWN_NAMES]) + f" and {len(shown) - SHOWN_NAMES} more"
    return ", ".join(shown) or "nobody"


def not_a_requester(catalog: Catalog, role: RoleSpec, break_glass: bool = False) -> str:
    """The refusal for someone not allowed on ``role``: who may, and whom to ask to be added
    (its approvers, or the platform team who keeps the policies), not another role's name."""
    kind = "use break-glass on" if break_glass else "request"
    entries = role.breakglass_requesters if break_glass else role.requesters
    where = f"roles/{role.name}.toml"  # the name is the file's stem, in the policies folder
    field = "break_glass_requesters" if break_glass else "requesters"
    return (
        f"You may not {kind} {role.name}. It is for {_names(catalog, entries)}. To be added, "
        f"ask its approvers ({_names(catalog, role.approvers)}) or the platform team "
        f"({field} in {where})."
    )
