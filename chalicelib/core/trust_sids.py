"""The Sids of our trust statements: ``Switchback<tag>A|M<end>[S<start>]`` for IAM users,
``Switchback<tag>S|T<end><digest>[S<start>]`` for Identity Center people; reading a statement's
end, start and MFA back from its Sid, and telling our statements from anybody else's (pure;
see chalicelib/core/trust.py)."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

from chalicelib.core.model import utc

SID_PREFIX = "Switchback"


def deployment_tag(table_name: str) -> str:
    """Eight letters and digits naming one deployment (a Sid allows nothing else)."""
    return "D" + hashlib.sha256(table_name.encode()).hexdigest()[:7].upper()


def _sid_pattern(tag: str | None) -> re.Pattern:
    # A|M: IAM users (M: the role requires MFA); S|T: Identity Center people of one permission
    # set (T: MFA required), with 8 hex digits naming the permission set's role pattern, so
    # statements of several permission sets ending at one moment keep distinct Sids.
    owner = re.escape(tag) if tag else "D[0-9A-F]{7}"
    return re.compile(
        rf"{SID_PREFIX}({owner})(?:([AM])(\d{{14}})|([ST])(\d{{14}})([0-9A-F]{{8}}))"
        r"(?:S(\d{14}))?"
    )


def sid_for(tag: str, end: datetime, require_mfa: bool, start: datetime | None = None) -> str:
    sid = f"{SID_PREFIX}{tag}{'M' if require_mfa else 'A'}{utc(end):%Y%m%d%H%M%S}"
    return f"{sid}S{utc(start):%Y%m%d%H%M%S}" if start else sid


def sso_sid_for(
    tag: str, end: datetime, require_mfa: bool, role_pattern: str, start: datetime | None = None
) -> str:
    digest = hashlib.sha256(role_pattern.encode()).hexdigest()[:8].upper()
    sid = f"{SID_PREFIX}{tag}{'T' if require_mfa else 'S'}{utc(end):%Y%m%d%H%M%S}{digest}"
    return f"{sid}S{utc(start):%Y%m%d%H%M%S}" if start else sid


def is_ours(statement: dict, tag: str | None) -> bool:
    """Whether ``statement`` is one this deployment writes (``tag`` None: any deployment)."""
    sid = statement.get("Sid")
    return isinstance(sid, str) and _sid_pattern(tag).fullmatch(sid) is not None


def sid_end(statement: dict) -> datetime | None:
    match = _sid_pattern(None).fullmatch(str(statement.get("Sid", "")))
    if not match:
        return None
    digits = match.group(3) or match.group(5)
    return datetime.strptime(digits, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def sid_start(statement: dict) -> datetime | None:
    """The start a scheduled statement's Sid names (None: not a scheduled statement)."""
    match = _sid_pattern(None).fullmatch(str(statement.get("Sid", "")))
    if not match or not match.group(7):
        return None
    return datetime.strptime(match.group(7), "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def sid_mfa(statement: dict) -> bool:
    """Whether one of our statements is for roles with ``require_mfa`` (``…M<end>``, or
    ``…T<end>`` for Identity Center people)."""
    match = _sid_pattern(None).fullmatch(str(statement.get("Sid", "")))
    return bool(match) and (match.group(2) or match.group(4)) in ("M", "T")
