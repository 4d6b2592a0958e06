"""Who a trust statement names: IAM user ARNs or Identity Center principal strings, and the
session name each of them takes (pure; see chalicelib/core/trust.py)."""

from __future__ import annotations

import re

from chalicelib.core import identity
from chalicelib.core.trust_sso import is_sso_statement


def principals_of(statement: dict) -> list[str]:
    """Who a statement trusts: IAM user ARNs, or Identity Center principal strings (each user
    name listed, after the role pattern; chalicelib/core/identity.py)."""
    if is_sso_statement(statement):
        try:
            patterns = statement["Condition"]["ArnLike"]["aws:PrincipalArn"]
            names = statement["Condition"]["StringEquals"]["sts:RoleSessionName"]
        except (KeyError, TypeError):
            return []
        patterns = [patterns] if isinstance(patterns, str) else patterns
        names = [names] if isinstance(names, str) else names
        if not isinstance(patterns, list) or not isinstance(names, list):
            return []
        return [
            f"{p}/{n}" for p in patterns for n in names if isinstance(p, str) and isinstance(n, str)
        ]
    principal = statement.get("Principal", {})
    if principal == "*":
        return ["*"]
    aws = principal.get("AWS") if isinstance(principal, dict) else None
    if isinstance(aws, str):
        return [aws]
    return [p for p in aws if isinstance(p, str)] if isinstance(aws, list) else []


# An IAM user's ARN: partition, account, optional path, and the user name (IAM's characters).
_USER_ARN = re.compile(
    r"arn:aws(?:-cn|-us-gov)?:iam::\d{12}:user/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})", re.ASCII
)
# A unique id as IAM shows it for a deleted principal: AIDA… (user), AROA… (role), …
_UNIQUE_ID = re.compile(r"A[A-Z]{3}[A-Z0-9]{12,124}")


def is_unique_id(principal: str) -> bool:
    """IAM shows a deleted user's principal as its unique id (``AIDA…``) instead of an ARN."""
    return _UNIQUE_ID.fullmatch(principal) is not None


def user_name(principal: str) -> str | None:
    """The session name a principal Switchback trusts takes: the IAM user name of a user ARN,
    or the user name of an Identity Center principal string (chalicelib/core/identity.py).
    None for anything else a hand edit may have put into one of our statements (``…:root``, a
    role ARN, ``*``, a unique id, a malformed string): nobody Switchback trusts, no session
    name to cut."""
    if not isinstance(principal, str):
        return None
    if identity.is_sso(principal):
        return identity.split(principal)[1]
    match = _USER_ARN.fullmatch(principal)
    return match.group(1) if match else None
