"""Scoped grants (pure): a request may ask for part of a role, and an approver may narrow a
request to part of it before approving.

A role file names its parts as scopes, ``[scopes.read-only] actions = ["ec2:Describe*"]``. A
scoped grant trusts the person on the role as any grant does, and the session-limit policy
(core/session_limits.py ``scope_statements``) denies their sessions every action *outside*
the scope's list, with ``NotAction``: "such unlisted actions or services are denied if you use
the Deny effect" (AWS, IAM JSON policy elements: NotAction,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html).
A Deny only takes away, so a scope can never give more than the role itself allows.

Action patterns are what IAM accepts in ``Action``/``NotAction``: a service prefix, ``:``,
and an action name that may hold the wildcards ``*`` (any run of characters) and ``?`` (one
character); prefix and name are case-insensitive, ``iam:ListAccessKeys`` is
``IAM:listaccesskeys`` (AWS, IAM JSON policy elements: Action,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

from chalicelib.core.catalog import RoleSpec, Scope
from chalicelib.core.decisions import Refusal, Refused
from chalicelib.core.model import AccessRequest, State, note

# A service prefix (ec2, s3, elasticloadbalancing, aws-marketplace, execute-api) named in
# full: a wildcard there would reach services nobody listed. The action name: letters, digits
# and the two wildcards IAM knows. [0-9A-Za-z], not \w: IAM action names are ASCII.
ACTION_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,63}:[A-Za-z0-9*?]{1,128}", re.IGNORECASE)
SCOPE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
MAX_SCOPE_ACTIONS = 50  # each scope's list is written whole into a 10,240-character budget
MAX_DESCRIPTION = 200


def action_problem(pattern: object) -> str | None:
    """Why ``pattern`` is not an IAM action pattern we accept, or None."""
    if not isinstance(pattern, str):
        return f"{pattern!r} is not text"
    if ACTION_PATTERN.fullmatch(pattern) is None:
        shown = pattern[:80]
        if ":" not in pattern:
            return f"'{shown}' is not an IAM action: write it as service:Action, like ec2:Describe*"
        service = pattern.split(":", 1)[0]
        if any(ch in service for ch in "*?"):
            return (
                f"'{shown}': name the service in full (a wildcard in the service prefix "
                "reaches services nobody listed)"
            )
        return (
            f"'{shown}' is not an IAM action pattern: service:Action with letters, digits "
            "and the wildcards * and ?"
        )
    return None


def scope_problems(name: object, entry: object) -> tuple[Scope | None, list[str]]:
    """Validate one ``[scopes.<name>]`` table: the Scope, or the problems (field, text)."""
    problems: list[str] = []
    if not isinstance(name, str) or SCOPE_NAME.fullmatch(name) is None:
        problems.append(
            f"scopes.{name}: the name must be lower-case letters, digits and dashes (at most 32)"
        )
        return None, problems
    if not isinstance(entry, dict):
        return None, [f"scopes.{name}: must be a table with actions (and a description)"]
    for unknown in sorted(set(entry) - {"actions", "description"}):
        problems.append(f"scopes.{name}.{unknown}: unknown field")
    description = entry.get("description", "")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        problems.append(f"scopes.{name}.description: text of at most {MAX_DESCRIPTION} characters")
        description = ""
    actions = entry.get("actions")
    if not isinstance(actions, list) or not actions:
        problems.append(
            f'scopes.{name}.actions: required: a list of IAM actions, like ["ec2:Describe*"]'
        )
        return None, problems
    if len(actions) > MAX_SCOPE_ACTIONS:
        problems.append(
            f"scopes.{name}.actions: {len(actions)} actions, at most {MAX_SCOPE_ACTIONS} (use "
            "wildcards, like ec2:Describe*)"
        )
    for pattern in actions:
        if why := action_problem(pattern):
            problems.append(f"scopes.{name}.actions: {why}")
    if problems:
        return None, problems
    # IAM compares action names without regard to case: one spelling of each is enough.
    unique: dict[str, str] = {}
    for pattern in actions:
        unique.setdefault(pattern.lower(), pattern)
    return Scope(name, tuple(unique.values()), description.strip()), []


def check_scope(role: RoleSpec, name: str) -> Scope:
    """The role's scope called ``name``, or Refused naming the scopes it has."""
    found = role.scope(name.lower())
    if found is not None:
        return found
    if role.scopes:
        names = ", ".join(f"`{s.name}`" for s in role.scopes)
        known = f"Its scopes are {names}."
    else:
        known = "It has no scopes: ask for the whole role (leave out scope=)."
    return _refuse(Refusal.UNKNOWN_SCOPE, f"{role.name} has no scope called '{name[:40]}'. {known}")


def _refuse(reason: Refusal, message: str):
    raise Refused(reason, message)


def scoped(request: AccessRequest, scope: Scope | None) -> AccessRequest:
    """``request`` asking for ``scope`` (None: the whole role), its actions copied in."""
    if scope is None:
        return replace(request, scope=None, scope_actions=())
    return replace(request, scope=scope.name, scope_actions=scope.actions)


def narrow(
    request: AccessRequest, scope: str, approver: str, now: datetime, role: RoleSpec
) -> AccessRequest:
    """An approver narrows a pending request for the whole role to one of its scopes before
    approving it. Returns the request with the scope and one more audit entry (the requester
    is shown it); raises Refused if the scope is unknown, or the request is not pending, or
    already asks for a scope (narrowing one scope to another could widen it).

    Whether ``approver`` may decide this request at all is check_decider's to say first."""
    if request.state is not State.PENDING:
        _refuse(Refusal.NOT_PENDING, f"This request is already {request.state.value.lower()}.")
    if approver == request.requester:
        _refuse(Refusal.OWN_REQUEST, "You cannot narrow your own request; ask again instead.")
    chosen = check_scope(role, scope)
    if request.scope == chosen.name and request.scope_actions == chosen.actions:
        return request
    if request.scope is not None:
        _refuse(
            Refusal.ALREADY_SCOPED,
            f"This request already asks for the scope `{request.scope}` only; it can be "
            "approved or denied as it is.",
        )
    changed = scoped(request, chosen)
    detail = f"narrowed to scope {chosen.name}: {', '.join(chosen.actions)}"
    return note(changed, approver, "narrowed", now, detail=detail)
