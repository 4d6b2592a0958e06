"""The role's inline session-limit policy: ending sessions STS already issued (pure).

Removing trust stops new sessions only; credentials already issued live on for up to 12 hours
(the longest MaxSessionDuration). Each deployment keeps its own inline policy on the role,
``SwitchbackSessionLimits<tag>``, so two deployments never rewrite each other's cuts. It holds,
per person (``StringEqualsIgnoreCase aws:userid "<RoleId>:<session name>"``):

* a **live cut** while they hold a grant: Deny ``*`` when ``aws:CurrentTime`` >= their latest
  end. Whatever the session's issue time: a session obtained after the end (IAM propagation
  after a revoke, a trust statement ending later than this person) is denied too.
* a **closed cut** once a window of theirs ended (expiry, revoke, failure): Deny ``*`` for all
  their sessions; if they hold a newer grant, only for sessions issued before its start
  (``DateLessThan aws:TokenIssueTime <start>``), so old sessions never come back while new
  ones work. A closed cut is kept until 12 hours after the latest moment any trust statement of
  ours could still let them in (``keep``), whatever the role's MaxSessionDuration says now.
* the **chaining deny**: unless the role allows chaining, sessions of people holding a grant
  may not call any STS action that yields new credentials (``CHAINING_ACTIONS``:
  ``sts:AssumeRole*``, ``sts:AssumeRoot``, ``sts:GetFederationToken``,
  ``sts:GetSessionToken``, …): a chained session would not be covered by this role's cuts.

* a **scope deny** while they hold a scoped grant (core/scopes.py): Deny with ``NotAction``
  the scope's actions, so every action outside them is denied to their sessions ("such
  unlisted actions or services are denied if you use the Deny effect", AWS: "IAM JSON policy
  elements: NotAction"). It lasts exactly as long as they hold only scoped grants
  (``scope_statements``); past their last end the live cut denies everything anyway, and the
  next step on the role (at the latest the sweep that expires the grant) removes it.

``aws:userid`` of a role session is ``<RoleId>:<session name>`` (AWS: "AWS global condition
context keys", aws:userid), so ``<RoleId>:<name>`` matches exactly this role's sessions named
``<name>``, in any case (session and IAM user names hold no ``:``; see CUT_OPERATOR). Dates
use ``aws:CurrentTime`` and ``aws:TokenIssueTime`` (same page). An explicit Deny overrides
any Allow ("Policy evaluation logic").

The cut ledger (how long each cut is kept) is in cut_ledger.py; its names are importable
from here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from chalicelib.core.cut_ledger import (  # noqa: F401 (re-exported)
    LONGEST_SESSION,
    PROPAGATION_MARGIN,
    Ledger,
    LedgerEntry,
    aged,
    closed,
    held_by,
    holding,
    ledger_from_json,
    ledger_to_json,
    next_aging,
    trusted,
)
from chalicelib.core.model import iso, parse_iso, utc
from chalicelib.core.policy_docs import TooLarge, check_fits, size, statements
from chalicelib.core.scope_windows import ScopeWindow, person_scope

POLICY_PREFIX = "SwitchbackSessionLimits"
# IAM's limit on all of a role's inline policies together, counted without whitespace (AWS,
# "IAM and AWS STS quotas": "Role policy size ... 10,240 characters" for the aggregate of a
# role's inline policies). The role's other inline policies take their share of it first.
INLINE_POLICY_QUOTA = 10_240
BOUND_STEPS = (3600, 900, 60, 1)
# Every STS action that hands out new credentials or a token to get them elsewhere (AWS STS
# API Reference, "Actions"; a test checks the list against botocore's STS model): a session
# obtained through one of them is not a session of this role, so this role's cuts would not
# reach it. STS refuses some of them to role sessions today (GetSessionToken, GetFederationToken,
# AssumeRoot from outside the management account); denying them too costs nothing and holds if
# that ever changes. sts:GetCallerIdentity cannot be denied by any policy (STS API Reference,
# GetCallerIdentity), which is why access built on it outlives a cut (docs/security.md).
CHAINING_ACTIONS = [
    "sts:AssumeRole",
    "sts:AssumeRoleWithSAML",
    "sts:AssumeRoleWithWebIdentity",
    "sts:AssumeRoot",
    "sts:GetDelegatedAccessToken",
    "sts:GetFederationToken",
    "sts:GetScopedCredentials",
    "sts:GetSessionToken",
    "sts:GetWebIdentityToken",
]
# The chaining deny as policies written before AssumeRoot and GetSessionToken were added hold
# it: read as a chaining deny (so an upgrade is not reported as tampering) and rewritten whole.
LEGACY_CHAINING_ACTIONS = [
    "sts:AssumeRole",
    "sts:AssumeRoleWithSAML",
    "sts:AssumeRoleWithWebIdentity",
    "sts:GetFederationToken",
]


def policy_name(tag: str) -> str:
    return f"{POLICY_PREFIX}{tag}"


class LimitsTooLarge(TooLarge):
    """The session-limit policy would be larger than IAM accepts; nothing may be written."""

    what = "session-limit policy"
    advice = (
        "that is IAM's limit for a role's inline policies; too many people hold or recently "
        "held this role — wait for older sessions to age out"
    )

    def __init__(self, size: int, quota: int, others: int = 0):
        self.others = others
        if others:
            # Say it as IAM counts it: all of the role's inline policies together.
            self.advice = (
                f"the role's other inline policies already take {others} of IAM's "
                f"{quota + others}-character limit for all of a role's inline policies; "
                "make them smaller, or wait for older sessions to age out"
            )
        super().__init__(size, quota)


@dataclass(frozen=True)
class Cut:
    """What one person's sessions on the role are denied."""

    live_end: datetime | None = None  # every session denied from here on
    closed: bool = False  # a window of theirs ended: its sessions are denied
    closed_before: datetime | None = None  # ...only those issued before this (a newer grant)


def cuts(
    ledger: Ledger, live: Mapping[str, tuple[datetime, datetime]], now: datetime
) -> dict[str, Cut]:
    """Each person's cut now. ``live``: session name -> (start, latest end) of their live
    grants (start: the earliest approval among them)."""
    now = utc(now)
    result: dict[str, Cut] = {}
    for name in sorted(set(ledger) | set(live)):
        entry = ledger.get(name)
        is_closed = bool(entry and entry.closed and entry.keep > now)
        start, end = live.get(name, (None, None))
        if end is None and not is_closed:
            continue
        before = None
        if is_closed and start:
            before = shared_bound(entry.closed_until or entry.trusted_until, utc(start))
        result[name] = Cut(
            live_end=utc(end) if end else None, closed=is_closed, closed_before=before
        )
    return result


def shared_bound(issued_before: datetime, new_start: datetime) -> datetime:
    """The ``aws:TokenIssueTime`` bound of a closed cut beside a newer grant: any moment from
    ``issued_before`` (every old session was issued before it) to ``new_start`` (every new
    session is issued after it) denies exactly the old sessions. Take the roundest such
    moment, so that people re-granted about the same time share one statement."""
    if issued_before >= new_start:
        return new_start
    for step in BOUND_STEPS:
        seconds = int(issued_before.timestamp())
        rounded = datetime.fromtimestamp(-(-seconds // step) * step, UTC)
        if rounded <= new_start:
            return rounded
    return new_start


# Who a cut names. With the role's id (what plans write): ``StringEqualsIgnoreCase aws:userid
# "<RoleId>:<name>"``. IAM names ignore case, and the session name a person takes comes in the
# case IAM holds their user name in (the trust statement pins it to ${aws:username}), which
# need not be the case people.toml spells it in; ``StringEqualsIgnoreCase`` matches it either
# way (AWS, "IAM JSON policy elements: Condition operators", String condition operators;
# ``StringLike`` is case-sensitive and has no ignore-case form). Without the role id (the
# review page's preview, size estimates): ``StringLike "*:<name>"``, the form policies
# written before this one hold; read() understands both.
CUT_OPERATOR = "StringEqualsIgnoreCase"
PREVIEW_OPERATOR = "StringLike"


def _userids(names, role_id: str | None) -> str | list[str]:
    ids = [f"{role_id or '*'}:{name}" for name in sorted(names)]
    return ids[0] if len(ids) == 1 else ids


def _deny(
    names,
    condition: dict | None = None,
    actions: str | list[str] = "*",
    element: str = "Action",
    role_id: str | None = None,
) -> dict:
    operator = CUT_OPERATOR if role_id else PREVIEW_OPERATOR
    statement_condition = {operator: {"aws:userid": _userids(names, role_id)}}
    statement_condition.update(condition or {})
    return {
        "Effect": "Deny",
        element: actions,
        "Resource": "*",
        "Condition": statement_condition,
    }


def scope_statements(
    windows: Mapping[str, Sequence[ScopeWindow]], role_id: str | None = None
) -> list[dict]:
    """The scope denies for every person (session name -> their live grants): Deny
    ``NotAction`` the allowed actions, from/until the moments their allowance changes
    (``DateGreaterThanEquals``/``DateLessThan aws:CurrentTime``). People held to the same
    actions over the same time share a statement."""
    groups: dict[tuple, list[str]] = {}
    for name, person_windows in sorted(windows.items()):
        for allowed, (since, until) in person_scope(person_windows):
            groups.setdefault((allowed, since, until), []).append(name)

    def order(key: tuple) -> tuple:
        allowed, since, until = key
        return (
            since or datetime.min.replace(tzinfo=UTC),
            until or datetime.max.replace(tzinfo=UTC),
            allowed,
        )

    found = []
    for key in sorted(groups, key=order):
        allowed, since, until = key
        condition: dict = {}
        if since is not None:
            condition["DateGreaterThanEquals"] = {"aws:CurrentTime": iso(since)}
        if until is not None:
            condition["DateLessThan"] = {"aws:CurrentTime": iso(until)}
        actions = allowed[0] if len(allowed) == 1 else list(allowed)
        found.append(_deny(groups[key], condition, actions, element="NotAction", role_id=role_id))
    return found


def document(
    person_cuts: Mapping[str, Cut],
    deny_chaining: bool,
    scopes: Mapping[str, Sequence[ScopeWindow]] | None = None,
    role_id: str | None = None,
) -> dict | None:
    """The whole policy for ``person_cuts`` (and the scope denies of the people holding
    scoped grants, ``scopes``: session name -> their live grants); None when nothing is left
    (delete the policy). People with the same cut share a statement. ``role_id``: the role's
    unique id (``AROA…``); every document written to IAM has it (see CUT_OPERATOR)."""
    closed_all = sorted(n for n, c in person_cuts.items() if c.closed and not c.closed_before)
    closed_before: dict[datetime, list[str]] = {}
    live: dict[datetime, list[str]] = {}
    for name, cut in sorted(person_cuts.items()):
        if cut.closed and cut.closed_before:
            closed_before.setdefault(cut.closed_before, []).append(name)
        if cut.live_end:
            live.setdefault(cut.live_end, []).append(name)
    found: list[dict] = []
    if closed_all:
        found.append(_deny(closed_all, role_id=role_id))
    for before, names in sorted(closed_before.items()):
        found.append(
            _deny(names, {"DateLessThan": {"aws:TokenIssueTime": iso(before)}}, role_id=role_id)
        )
    for end, names in sorted(live.items()):
        found.append(
            _deny(names, {"DateGreaterThanEquals": {"aws:CurrentTime": iso(end)}}, role_id=role_id)
        )
    found.extend(scope_statements(scopes or {}, role_id))
    holders = sorted(n for names in live.values() for n in names)
    if deny_chaining and holders:
        found.append(_deny(holders, actions=list(CHAINING_ACTIONS), role_id=role_id))
    if not found:
        return None
    return {"Version": "2012-10-17", "Statement": found}


def grant_statements(
    session_name: str,
    end: datetime,
    deny_chaining: bool,
    scope_actions: Sequence[str] | None = None,
    start: datetime | None = None,
    role_id: str | None = None,
) -> list[dict]:
    """The session-limit statements one grant adds for its holder (the review page shows
    them): the live cut at its end, the scope deny of a scoped grant (``scope_actions``,
    from ``start``), and the chaining deny unless the role allows chaining."""
    scopes = None
    if scope_actions:
        window = ScopeWindow(utc(start or end), utc(end), tuple(scope_actions))
        scopes = {session_name: [window]}
    made = document({session_name: Cut(live_end=utc(end))}, deny_chaining, scopes, role_id)
    return made["Statement"] if made else []


def _named(condition: dict, role_id: str | None) -> list[str]:
    """The session names a cut's condition names (popping that part of ``condition``): the
    ``<RoleId>:<name>`` form (only this role's id, when ``role_id`` is given) or the older
    ``*:<name>`` form. Raises KeyError when it names nobody in either form."""
    if CUT_OPERATOR in condition:
        ids = condition.pop(CUT_OPERATOR)["aws:userid"]
        names = []
        for value in [ids] if isinstance(ids, str) else ids:
            owner, _, name = str(value).partition(":")
            if name and (role_id is None or owner.upper() == role_id.upper()):
                names.append(name)
        return names
    ids = condition.pop(PREVIEW_OPERATOR)["aws:userid"]
    return [i[2:] for i in ([ids] if isinstance(ids, str) else ids) if i[:2] == "*:"]


def read(policy: dict | None, role_id: str | None = None) -> tuple[dict[str, Cut], set[str]]:
    """The cuts (and the names denied chaining) a policy of this shape holds: what a hand
    edit left. Statements of any other shape are ignored; with ``role_id``, so are names of
    another role's sessions (a cut edited to name another role id cuts nobody here)."""
    people: dict[str, dict] = {}
    chaining: set[str] = set()
    for statement in statements(policy):
        try:
            condition = dict(statement["Condition"])
            names = _named(condition, role_id)
            if statement.get("Effect") != "Deny" or statement.get("Resource") != "*":
                continue
            chains = statement.get("Action") in (CHAINING_ACTIONS, LEGACY_CHAINING_ACTIONS)
            if chains and not condition:
                chaining.update(names)
                continue
            if statement.get("Action") != "*":
                continue
            for name in names:
                person = people.setdefault(name, {})
                if not condition:
                    person["closed"] = True
                elif list(condition) == ["DateLessThan"]:
                    before = parse_iso(condition["DateLessThan"]["aws:TokenIssueTime"])
                    person["closed_before"] = before
                elif list(condition) == ["DateGreaterThanEquals"]:
                    person["live_end"] = parse_iso(
                        condition["DateGreaterThanEquals"]["aws:CurrentTime"]
                    )
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    result = {}
    for name, person in people.items():
        before = person.get("closed_before")
        result[name] = Cut(
            live_end=person.get("live_end"),
            closed=bool(person.get("closed") or before),
            closed_before=None if person.get("closed") else before,
        )
    return result, chaining


def weaker(found: Cut | None, needed: Cut) -> str | None:
    """How ``found`` (read from IAM) denies less than ``needed``, or None if it does not."""
    if found is None:
        return "missing"
    if needed.live_end and (found.live_end is None or found.live_end > needed.live_end):
        at = iso(found.live_end) if found.live_end else "none"
        return f"live cut at {at}, not {iso(needed.live_end)}"
    if needed.closed and not found.closed:
        return "closed cut missing"
    if needed.closed and needed.closed_before is None and found.closed_before is not None:
        return "closed cut narrowed"
    if needed.closed_before and found.closed_before and found.closed_before < needed.closed_before:
        return "closed cut narrowed"
    return None


def read_scopes(policy: dict | None) -> list[dict]:
    """The scope denies (``NotAction`` statements of our shape) a policy holds."""
    return [
        s
        for s in statements(policy)
        if isinstance(s, dict) and "NotAction" in s and s.get("Effect") == "Deny"
    ]


def check_quota(policy: dict | None, quota: int = INLINE_POLICY_QUOTA, others: int = 0) -> None:
    """Refuse a session-limit policy that would not fit beside ``others`` characters of the
    role's other inline policies (IAM's aggregate inline-policy quota)."""
    if others:
        if policy and size(policy) + others > quota:
            raise LimitsTooLarge(size(policy), quota - others, others)
        return
    check_fits(policy, quota, LimitsTooLarge)
