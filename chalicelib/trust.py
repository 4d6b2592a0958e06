"""Editing a role's trust policy: pure functions ``(policy, grants, now) -> policy``.

Switchback owns only statements whose Sid starts with ``Switchback``; everything else in the
document is carried through untouched and in its original order. Each grant's statement ends
by itself through ``DateLessThan aws:CurrentTime``, so these functions can drop expired
statements without asking the store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from .model import iso, parse_iso, utc

SID_PREFIX = "Switchback"
PLACEHOLDER_SID = "SwitchbackPlaceholder"
DEFAULT_TRUST_QUOTA = 2048  # characters of the minified document; AWS can raise it to 4096

# IAM rejects a trust policy without statements; this one trusts nobody.
PLACEHOLDER = {
    "Sid": PLACEHOLDER_SID,
    "Effect": "Deny",
    "Principal": {"AWS": "*"},
    "Action": "sts:AssumeRole",
}


class QuotaExceeded(Exception):
    """The policy would be larger than IAM accepts; nothing may be written."""

    def __init__(self, size: int, quota: int):
        self.size, self.quota = size, quota
        super().__init__(
            f"the role's trust policy would be {size} characters, over the "
            f"{quota}-character limit; wait for a grant on this role to end, or ask "
            "AWS to raise the account's AssumeRolePolicySizeQuota"
        )


@dataclass(frozen=True)
class Grant:
    """What one approved request puts into a trust policy."""

    request_id: str
    principal_arn: str
    session_name: str
    ends: datetime
    require_mfa: bool = False

    @property
    def sid(self) -> str:
        return f"{SID_PREFIX}{self.request_id}"


def statement_for(grant: Grant) -> dict:
    condition: dict = {
        "DateLessThan": {"aws:CurrentTime": iso(grant.ends)},
        "StringEquals": {"sts:RoleSessionName": grant.session_name},
    }
    if grant.require_mfa:
        condition["Bool"] = {"aws:MultiFactorAuthPresent": "true"}
    return {
        "Sid": grant.sid,
        "Effect": "Allow",
        "Principal": {"AWS": grant.principal_arn},
        "Action": "sts:AssumeRole",
        "Condition": condition,
    }


def is_managed(statement: dict) -> bool:
    sid = statement.get("Sid")
    return isinstance(sid, str) and sid.startswith(SID_PREFIX)


def is_grant_statement(statement: dict) -> bool:
    return is_managed(statement) and statement.get("Sid") != PLACEHOLDER_SID


def request_id_of(statement: dict) -> str:
    return statement["Sid"][len(SID_PREFIX) :]


def statement_end(statement: dict) -> datetime | None:
    """The end a managed statement carries in its own condition, if readable."""
    try:
        return parse_iso(statement["Condition"]["DateLessThan"]["aws:CurrentTime"])
    except (KeyError, TypeError, ValueError):
        return None


def statements(policy: dict) -> list[dict]:
    found = policy.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def grant_sids(policy: dict) -> set[str]:
    return {s["Sid"] for s in statements(policy) if is_grant_statement(s)}


def _with_statements(policy: dict, new_statements: list[dict]) -> dict:
    has_foreign = any(not is_managed(s) for s in new_statements)
    has_grants = any(is_grant_statement(s) for s in new_statements)
    if has_foreign or has_grants:
        new_statements = [s for s in new_statements if s.get("Sid") != PLACEHOLDER_SID]
    elif not new_statements:
        new_statements = [dict(PLACEHOLDER)]
    if new_statements == statements(policy):
        # Nothing changed: hand back the document as it was, so callers comparing before and
        # after skip the IAM write (a single-statement object stays as it is, too).
        return policy
    result = dict(policy)
    result.setdefault("Version", "2012-10-17")
    result["Statement"] = new_statements
    return result


def add_grants(policy: dict, grants: list[Grant], now: datetime) -> dict:
    """Put each grant's statement in (replacing one with the same Sid) and drop expired ones.

    New statements go after everything already there, so foreign statements keep their place.
    """
    # The statement carries the end to the second (truncated), so compare that end: a grant
    # ending later within the current second would otherwise be written already dead.
    wanted = {g.sid: statement_for(g) for g in grants if utc(g.ends) > now}
    kept: list[dict] = []
    for statement in statements(policy):
        if is_grant_statement(statement):
            sid = statement["Sid"]
            if sid in wanted:
                kept.append(wanted.pop(sid))
                continue
            end = statement_end(statement)
            if end is not None and end <= now:
                continue
        kept.append(statement)
    kept.extend(wanted.values())
    return _with_statements(policy, kept)


def remove_grants(policy: dict, sids: set[str], now: datetime) -> dict:
    """Take out the named grant statements and any that have expired by themselves."""
    kept = []
    for statement in statements(policy):
        if is_grant_statement(statement):
            end = statement_end(statement)
            if statement["Sid"] in sids or (end is not None and end <= now):
                continue
        kept.append(statement)
    return _with_statements(policy, kept)


def keep_only(policy: dict, live_sids: set[str], now: datetime) -> dict:
    """Drift repair: drop every grant statement not in ``live_sids`` (or expired)."""
    return remove_grants(policy, grant_sids(policy) - live_sids, now)


def drop_unique_id_principals(policy: dict) -> dict:
    """Managed statements whose principal IAM turned into a unique id (user deleted) are dead."""
    kept = [
        s for s in statements(policy) if not (is_grant_statement(s) and principal_is_unique_id(s))
    ]
    return _with_statements(policy, kept)


def principal_is_unique_id(statement: dict) -> bool:
    """IAM shows a deleted user's principal as its unique id (``AIDA…``) instead of an ARN."""
    principal = statement.get("Principal", {})
    aws = principal.get("AWS") if isinstance(principal, dict) else None
    return isinstance(aws, str) and not aws.startswith("arn:")


def grant_changes(before: dict, after: dict) -> dict[str, list[dict]]:
    """The grant statements ``after`` adds to and removes from ``before``, each as its request
    id, principal and end: what an audit line about a trust write needs."""

    def grants(policy: dict) -> dict[str, dict]:
        return {s["Sid"]: s for s in statements(policy) if is_grant_statement(s)}

    def summary(statement: dict) -> dict:
        principal = statement.get("Principal", {})
        end = statement_end(statement)
        return {
            "request_id": request_id_of(statement),
            "principal": principal.get("AWS") if isinstance(principal, dict) else principal,
            "expires": iso(end) if end else None,
        }

    old, new = grants(before), grants(after)
    return {
        "added": [summary(new[sid]) for sid in new if new[sid] != old.get(sid)],
        "removed": [summary(old[sid]) for sid in old if sid not in new],
    }


def minified(policy: dict) -> str:
    return json.dumps(policy, separators=(",", ":"))


def check_quota(policy: dict, quota: int) -> None:
    size = len(minified(policy))
    if size > quota:
        raise QuotaExceeded(size, quota)


def free_slots(policy: dict, sample: Grant, quota: int) -> int:
    """How many more grants like ``sample`` fit, for `/access roles`."""
    # The placeholder goes away with the first grant, and the first statement of an empty
    # list needs no comma before it.
    kept = [s for s in statements(policy) if s.get("Sid") != PLACEHOLDER_SID]
    base_document = dict(policy, Statement=kept)
    base_document.setdefault("Version", "2012-10-17")
    base = len(minified(base_document)) - (0 if kept else 1)
    per_grant = len(minified(statement_for(sample))) + 1  # the comma between statements
    return max(0, (quota - base) // per_grant)
