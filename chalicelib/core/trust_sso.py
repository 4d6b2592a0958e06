"""The trust statement for Identity Center people of one permission set, pinned to their own
session names (pure; see chalicelib/core/trust.py)."""

from __future__ import annotations

from datetime import datetime

from chalicelib.core.model import iso
from chalicelib.core.trust_sids import sso_sid_for

# Identity Center people: the caller's own session name is the one it asks for.
SSO_SESSION_PIN = "*:${sts:RoleSessionName}"


def sso_group_statement(
    tag: str,
    end: datetime,
    role_pattern: str,
    names: list[str],
    require_mfa: bool,
    start: datetime | None = None,
) -> dict:
    """The statement trusting Identity Center people of one permission set (``role_pattern``,
    see chalicelib/core/identity.py) by their user names, until ``end``.

    - ``Principal`` the account: a caller in it, ``aws:PrincipalArn`` its role's ARN with the
      path (for a role session, aws:PrincipalArn is the ARN of the role, not of the session:
      AWS global condition context keys, aws:PrincipalArn), matched by ``ArnLike`` whatever
      the role's suffix (wildcards in Principal are not allowed; ArnLike on aws:PrincipalArn
      is the documented way to name a role whose name varies);
    - ``StringEquals sts:RoleSessionName`` the granted user names: the new session is named
      after one of them;
    - the pin ``StringLike aws:userid "*:${sts:RoleSessionName}"``: the caller's own session
      is named exactly what it asks for. aws:userid of a role session is
      ``<role id>:<role session name>`` (AWS global condition context keys, aws:userid), and
      Identity Center names a person's session after their user name. So alice, granted, can
      take the session name ``alice`` only, never ``bob``, although both are listed; and bob
      holding no grant is refused whatever name he asks for. A global or a service's own key
      of the request can be used as a policy variable ("IAM policy elements: Variables and
      tags"), and sts:RoleSessionName is a key of every AssumeRole request
      ("Available keys for AWS STS"). Session names hold no ``*`` or ``?`` (STS: the
      RoleSessionName pattern is ``[\\w+=,.@-]*``), so the variable brings no wildcard in.
    - aws:username is absent for role sessions, so the IAM users' pin ``${aws:username}``
      cannot serve here; and a statement of several permission sets could not say which user
      comes through which set (conditions are ANDed, a key's values ORed), so one statement
      never mixes permission sets.
    """
    condition: dict = {
        "DateLessThan": {"aws:CurrentTime": iso(end)},
        "ArnLike": {"aws:PrincipalArn": role_pattern},
        "StringEquals": {"sts:RoleSessionName": _one_or_list(sorted(set(names)))},
        "StringLike": {"aws:userid": SSO_SESSION_PIN},
    }
    if start is not None:  # a scheduled window, written before its start (see group_statement)
        condition["DateGreaterThan"] = {"aws:CurrentTime": iso(start)}
    if require_mfa:
        condition["Bool"] = {"aws:MultiFactorAuthPresent": "true"}
    partition, account = role_pattern.split(":")[1], role_pattern.split(":")[4]
    return {
        "Sid": sso_sid_for(tag, end, require_mfa, role_pattern, start),
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
        "Action": "sts:AssumeRole",
        "Condition": condition,
    }


def _one_or_list(values: list[str]) -> str | list[str]:
    # IAM shows a one-element list as a plain string; write it that way to compare equal.
    return values[0] if len(values) == 1 else values


def is_sso_statement(statement: dict) -> bool:
    """Whether a statement names Identity Center people (by ``ArnLike aws:PrincipalArn``)."""
    condition = statement.get("Condition")
    return isinstance(condition, dict) and isinstance(condition.get("ArnLike"), dict)
