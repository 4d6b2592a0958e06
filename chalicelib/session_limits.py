"""The role's inline policy ``SwitchbackSessionLimits``: ending sessions STS already issued.

Removing a trust statement stops new sessions only. Credentials already issued live on for up
to the role's MaxSessionDuration, so each person who holds or recently held the role gets a
Deny on everything for their sessions issued before a cut, effective after it:

    StringEquals    aws:userid          "<RoleId>:<session name>"
    DateLessThan    aws:TokenIssueTime  <cut>
    DateGreaterThan aws:CurrentTime     <cut>

The *live* cut is the latest end of the person's live grants on the role (overlapping grants
never cut each other short); a revoke with no other live grant moves it to now. Once a cut has
passed it is *closed*; a closed cut is kept beside a new live one, so sessions from an ended or
revoked window do not come back when the same person is granted the role again. A closed cut
goes once ``cut + MaxSessionDuration`` has passed: no session issued before it can still live.

Pure functions over ``{session name: [cuts]}``; statements without our Sid prefix are kept as
they are.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta

from .model import iso, parse_iso, utc

POLICY_NAME = "SwitchbackSessionLimits"
SID_PREFIX = "SwitchbackSessionLimit"
# IAM's limit on all of a role's inline policies together, counted without whitespace.
INLINE_POLICY_QUOTA = 10_240

Cuts = dict[str, list[datetime]]  # session name -> cut times, at most one closed and one live


class LimitsTooLarge(Exception):
    """The session-limit policy would be larger than IAM accepts; nothing may be written."""

    def __init__(self, size: int, quota: int):
        self.size, self.quota = size, quota
        super().__init__(
            f"the role's {POLICY_NAME} policy would be {size} characters, over IAM's "
            f"{quota}-character limit for a role's inline policies; too many people hold or "
            "recently held this role — wait for older sessions to age out"
        )


def sid_for(session_name: str, cut: datetime) -> str:
    # Sids are letters and digits only; the hash keeps two names that clean up alike apart.
    readable = "".join(ch for ch in session_name if ch.isascii() and ch.isalnum())[:24]
    digest = hashlib.sha256(session_name.encode()).hexdigest()[:8]
    return f"{SID_PREFIX}{readable}{digest}T{iso(cut).replace('-', '').replace(':', '')[:-1]}"


def statement_for(role_id: str, session_name: str, cut: datetime) -> dict:
    at = iso(cut)
    return {
        "Sid": sid_for(session_name, cut),
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {
            "StringEquals": {"aws:userid": f"{role_id}:{session_name}"},
            "DateLessThan": {"aws:TokenIssueTime": at},
            "DateGreaterThan": {"aws:CurrentTime": at},
        },
    }


def _statements(policy: dict | None) -> list[dict]:
    if not policy:
        return []
    found = policy.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def is_managed(statement: dict) -> bool:
    sid = statement.get("Sid")
    return isinstance(sid, str) and sid.startswith(SID_PREFIX)


def _read(statement: dict) -> tuple[str, datetime] | None:
    try:
        condition = statement["Condition"]
        userid = condition["StringEquals"]["aws:userid"]
        cut = parse_iso(condition["DateGreaterThan"]["aws:CurrentTime"])
    except (KeyError, TypeError, ValueError):
        return None
    if not isinstance(userid, str) or ":" not in userid:
        return None
    return userid.split(":", 1)[1], cut


def cuts_of(policy: dict | None) -> Cuts:
    """The cuts our statements hold, per session name (unreadable ones are dropped)."""
    found: Cuts = {}
    for statement in _statements(policy):
        if is_managed(statement) and (read := _read(statement)):
            found.setdefault(read[0], []).append(read[1])
    return {name: sorted(set(cuts)) for name, cuts in found.items()}


def settle(
    current: Cuts,
    live: Mapping[str, datetime],
    ended: Mapping[str, datetime],
    now: datetime,
    max_session: timedelta,
) -> Cuts:
    """The cuts each person should have now.

    ``live``: session name -> latest end of that person's live grants (after ``now``).
    ``ended``: session name -> when a grant of theirs ended (expiry or revoke), known here.
    Anybody without a live grant gets a single closed cut, at the latest now: a live cut left
    behind (a revoke that crashed half-way, a hand edit) is drift and ends now. Closed cuts
    age out after ``max_session``.
    """
    now = utc(now)
    result: Cuts = {}
    for name in sorted(set(current) | set(live) | set(ended)):
        have = current.get(name, [])
        closed = [c for c in have if c <= now]
        if name in live:
            cuts = ([max(closed)] if closed else []) + [utc(live[name])]
        else:
            candidates = have + ([utc(ended[name])] if name in ended else [])
            cuts = [min(max(candidates), now)]
        cuts = [c for c in cuts if c > now or c + max_session > now]
        if cuts:
            result[name] = sorted(set(cuts))
    return result


def document(previous: dict | None, cuts: Cuts, role_id: str) -> dict | None:
    """The policy holding ``cuts`` (foreign statements of ``previous`` first, as they were);
    None when nothing is left, so the policy can be deleted."""
    foreign = [s for s in _statements(previous) if not is_managed(s)]
    ours = [
        statement_for(role_id, name, cut) for name in sorted(cuts) for cut in sorted(cuts[name])
    ]
    if not foreign and not ours:
        return None
    if previous is not None and _statements(previous) == foreign + ours:
        return previous  # unchanged: callers comparing before and after skip the write
    result = dict(previous or {})
    result["Version"] = result.get("Version", "2012-10-17")
    result["Statement"] = foreign + ours
    return result


def minified(policy: dict) -> str:
    return json.dumps(policy, separators=(",", ":"))


def check_quota(policy: dict | None, quota: int = INLINE_POLICY_QUOTA) -> None:
    size = len(minified(policy)) if policy else 0
    if size > quota:
        raise LimitsTooLarge(size, quota)


def denies(policy: dict | None, userid: str, issued: datetime, at: datetime) -> bool:
    """Whether ``policy`` denies a session of ``userid`` issued at ``issued``, used at ``at``:
    IAM's reading of our statements, for tests and for explaining a policy."""
    for statement in _statements(policy):
        if statement.get("Effect") != "Deny" or not is_managed(statement):
            continue
        condition = statement.get("Condition", {})
        try:
            if (
                condition["StringEquals"]["aws:userid"] == userid
                and utc(issued) < parse_iso(condition["DateLessThan"]["aws:TokenIssueTime"])
                and utc(at) > parse_iso(condition["DateGreaterThan"]["aws:CurrentTime"])
            ):
                return True
        except (KeyError, TypeError, ValueError):
            continue
    return False
