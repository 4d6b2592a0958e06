"""Editing a role's trust policy: pure functions ``(policy, holders, now) -> policy``.

A deployment owns exactly the statements whose Sid matches ``Switchback<tag>A|M<end>``, where
``tag`` is derived from its DynamoDB table (see ``deployment_tag``). Everything else — a
hand-written ``SwitchbackBreakGlassAdmins``, another deployment's statements — is carried
through untouched and in its original order.

People share statements. A statement lists many IAM users and pins the session name with the
policy variable ``${aws:username}``, so each listed user can only take their own user name as
session name, never another's (AWS: "IAM policy elements: Variables and tags", and the
``sts:RoleSessionName`` key in "Available keys for AWS STS", whose example trust policy is
exactly ``"StringEquals": {"sts:RoleSessionName": "${aws:username}"}``). A statement's
``DateLessThan aws:CurrentTime`` is its members' latest end rounded up to a step of the
ladder below: of the steps whose document fits the quota, the one that trusts nobody longer
past their own end. So a member may be trusted up to
``MAX_TRUST_LATENESS`` past their own end; that is safe because each person's exact end is
enforced to the second by the session-limit Deny (chalicelib/core/session_limits.py), which denies
every action of every session of theirs from that end on, whenever the session was issued;
and the sweep takes them out of the statement at their end.

A scheduled window (core/schedule.py) is written up to a minute before its start. Until the
start its holder is in a statement of their own start, ``Switchback<tag>A<end>S<start>``, which
also says ``DateGreaterThan aws:CurrentTime <start>`` (AWS: "Condition operators", date
condition operators; "IAM JSON policy elements: Sid": a Sid is unique within a policy, hence
the start in it). STS evaluates the condition when it issues a session, so the trust is shut
until the second the window starts, whenever it was written. Once the start has passed the
holder joins the shared statements at the next write.

The Sids are in trust_sids.py, the Identity Center statement in trust_sso.py, and who a
statement names in trust_principals.py; their names are importable from here too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from chalicelib.core import identity, session_limits
from chalicelib.core.model import AccessRequest, iso, parse_iso, utc
from chalicelib.core.policy_docs import TooLarge, fits, size, statements
from chalicelib.core.trust_principals import (  # noqa: F401 (re-exported)
    is_unique_id,
    principals_of,
    user_name,
)
from chalicelib.core.trust_sids import (  # noqa: F401 (re-exported)
    SID_PREFIX,
    deployment_tag,
    is_ours,
    sid_end,
    sid_for,
    sid_mfa,
    sid_start,
    sso_sid_for,
)
from chalicelib.core.trust_sso import (  # noqa: F401 (re-exported)
    SSO_SESSION_PIN,
    is_sso_statement,
    sso_group_statement,
)

PLACEHOLDER_SID = "SwitchbackPlaceholder"
DEFAULT_TRUST_QUOTA = 2048  # characters of the minified document; AWS can raise it to 4096
SESSION_NAME_PIN = "${aws:username}"
# Steps a statement's end is rounded up to, finest first; None: one statement for everybody,
# ending at the latest end. Ends lie at most max_duration (12 hours at most) ahead, so no
# statement ever ends more than 12 hours after one of its members' own end.
LADDER: tuple[int | None, ...] = (1, 60, 900, 3600, 4 * 3600, None)
MAX_TRUST_LATENESS = timedelta(hours=12)
# As long as a real role id (AROA + 17 characters): sizes the session-limit policy estimate.
ROLE_ID_STAND_IN = "AROA" + "X" * 17

# IAM rejects a trust policy without statements; this one trusts nobody.
PLACEHOLDER = {
    "Sid": PLACEHOLDER_SID,
    "Effect": "Deny",
    "Principal": {"AWS": "*"},
    "Action": "sts:AssumeRole",
}


class QuotaExceeded(TooLarge):
    """The trust policy would be larger than IAM accepts; nothing may be written."""

    what = "trust policy"
    advice = (
        "wait for a grant on this role to end, or ask AWS to raise the account's "
        "AssumeRolePolicySizeQuota"
    )


@dataclass(frozen=True)
class Grant:
    """What one approved request puts into a trust policy."""

    request_id: str
    principal_arn: str
    session_name: str
    ends: datetime
    require_mfa: bool = False
    starts: datetime | None = None  # a scheduled window: nobody is let in before it

    @classmethod
    def of(cls, request: AccessRequest, ends: datetime | None = None) -> Grant:
        """What ``request`` puts into the trust policy; ``ends`` when it is not yet granted
        (the review page shows what approving it would write)."""
        return cls(
            request_id=request.id,
            principal_arn=request.principal_arn,
            session_name=request.session_name,
            ends=ends or request.ends(),
            require_mfa=request.require_mfa,
            starts=request.starts(),
        )


def group_statement(
    tag: str,
    end: datetime,
    principals: list[str],
    require_mfa: bool,
    start: datetime | None = None,
) -> dict:
    condition: dict = {
        "DateLessThan": {"aws:CurrentTime": iso(end)},
        "StringEquals": {"sts:RoleSessionName": SESSION_NAME_PIN},
    }
    if start is not None:
        condition["DateGreaterThan"] = {"aws:CurrentTime": iso(start)}
    if require_mfa:
        condition["Bool"] = {"aws:MultiFactorAuthPresent": "true"}
    listed = sorted(set(principals))
    return {
        "Sid": sid_for(tag, end, require_mfa, start),
        "Effect": "Allow",
        # IAM shows a one-element list as a plain string; write it that way to compare equal.
        "Principal": {"AWS": listed[0] if len(listed) == 1 else listed},
        "Action": "sts:AssumeRole",
        "Condition": condition,
    }


def statement_for(grant: Grant, tag: str) -> dict:
    """The statement a grant writes when it has one to itself (the finest step)."""
    end = _round_up(grant.ends, 1)
    if identity.is_sso(grant.principal_arn):
        pattern, user = identity.split(grant.principal_arn)
        return sso_group_statement(tag, end, pattern, [user], grant.require_mfa, grant.starts)
    return group_statement(tag, end, [grant.principal_arn], grant.require_mfa, grant.starts)


def canonical(statement: dict, tag: str) -> dict | None:
    """What we write for one of our statements, given its Sid (end, MFA) and who it lists;
    None if no statement of ours lists them so (e.g. an Identity Center statement widened to
    several role patterns). Who is listed is for the caller to check person by person: an
    IAM statement keeps its own ``Principal`` here."""
    end = sid_end(statement)
    principals = principals_of(statement)
    if end is None or not principals:
        return None
    mfa = sid_mfa(statement)
    start = sid_start(statement)
    if is_sso_statement(statement):
        parts = {identity.split(p) for p in principals}
        patterns = {pattern for pattern, _ in parts}
        if len(patterns) != 1 or not all(identity.is_sso(p) for p in principals):
            return None
        made = sso_group_statement(tag, end, patterns.pop(), [u for _, u in parts], mfa, start)
        names = statement["Condition"]["StringEquals"]["sts:RoleSessionName"]
        made["Condition"]["StringEquals"]["sts:RoleSessionName"] = names
        return made
    made = group_statement(tag, end, principals, mfa, start)
    made["Principal"] = statement.get("Principal")
    return made


def statement_end(statement: dict) -> datetime | None:
    """The end a statement carries in its own condition, if readable."""
    try:
        return parse_iso(statement["Condition"]["DateLessThan"]["aws:CurrentTime"])
    except (KeyError, TypeError, ValueError):
        return None


def trusted(policy: dict, tag: str) -> dict[str, datetime]:
    """Principal ARN -> the latest end any of our statements trusts it until (as IAM holds
    it, hand edits included; an unreadable end counts as unbounded)."""
    found: dict[str, datetime] = {}
    for statement in statements(policy):
        if not is_ours(statement, tag):
            continue
        end = statement_end(statement) or datetime.max.replace(tzinfo=UTC)
        for principal in principals_of(statement):
            if principal not in found or found[principal] < end:
                found[principal] = end
    return found


def _round_up(moment: datetime, step: int) -> datetime:
    seconds = int(utc(moment).timestamp())
    return datetime.fromtimestamp(-(-seconds // step) * step, UTC)


def holder_statements(tag: str, holders: list[Grant], step: int | None) -> list[dict]:
    """Our statements for ``holders`` at one step of the ladder, in a stable order.

    A holder whose grants all start later (``Grant.starts``, kept by ``build`` only while in
    the future) is let in from the earliest of those starts, in a statement of that start;
    one who also holds a grant without a start is let in now, like everybody."""
    latest: dict[tuple[str, bool], datetime] = {}
    starts: dict[tuple[str, bool], datetime | None] = {}
    for grant in holders:
        key = (grant.principal_arn, grant.require_mfa)
        if key not in latest or latest[key] < utc(grant.ends):
            latest[key] = utc(grant.ends)
        start = utc(grant.starts) if grant.starts else None
        if key not in starts:
            starts[key] = start
        elif starts[key] is not None:
            starts[key] = None if start is None else min(starts[key], start)
    groups: dict[tuple[datetime, bool, datetime | None, str], list[str]] = {}
    for mfa in (False, True):
        ends = {p: e for (p, m), e in latest.items() if m is mfa}
        if not ends:
            continue
        group_end = _round_up(max(ends.values()), 1)
        for principal, end in ends.items():
            bucket = group_end if step is None else _round_up(end, step)
            # Identity Center people: one statement per permission set (sso_group_statement).
            pattern = identity.split(principal)[0] if identity.is_sso(principal) else ""
            key = (bucket, mfa, starts[(principal, mfa)], pattern)
            groups.setdefault(key, []).append(principal)
    return [
        sso_group_statement(
            tag, end, pattern, [identity.split(p)[1] for p in principals], mfa, start
        )
        if pattern
        else group_statement(tag, end, principals, mfa, start)
        for (end, mfa, start, pattern), principals in sorted(groups.items(), key=_group_order)
    ]


def _group_order(item) -> tuple:
    (end, mfa, start, pattern), _ = item
    return (end, mfa, start is not None, start or end, pattern)


def _with_statements(policy: dict, new_statements: list[dict]) -> dict:
    kept = [s for s in new_statements if s.get("Sid") != PLACEHOLDER_SID]
    if not kept:
        kept = [dict(PLACEHOLDER)]
    if kept == statements(policy):
        # Nothing changed: hand back the document as it was, so callers comparing before and
        # after skip the IAM write (a single-statement object stays as it is, too).
        return policy
    result = dict(policy)
    result.setdefault("Version", "2012-10-17")
    result["Statement"] = kept
    return result


def build(policy: dict, tag: str, holders: list[Grant], now: datetime, quota: int) -> dict:
    """The trust policy trusting exactly ``holders`` (those whose end is after ``now``) through
    our statements, foreign statements kept as they are, at the finest step that fits.

    Raises QuotaExceeded (with the size at the coarsest step) when nothing fits.
    """
    # A start that has passed lets nobody in later than no start: the holder shares the
    # statements of everybody else.
    live = [
        g if g.starts is None or utc(g.starts) > utc(now) else replace(g, starts=None)
        for g in holders
        if utc(g.ends) > utc(now)
    ]
    foreign = [s for s in statements(policy) if not is_ours(s, tag)]
    document = policy
    fitting: list[tuple[timedelta, int, dict]] = []
    for index, step in enumerate(LADDER):
        document = _with_statements(policy, foreign + holder_statements(tag, live, step))
        if fits(document, quota):
            # The step that trusts nobody longer than needed; the finer one on a tie.
            fitting.append((lateness(document, tag, live), index, document))
            if fitting[-1][0] == timedelta(0):
                break
    if fitting:
        return min(fitting, key=lambda found: found[:2])[2]
    raise QuotaExceeded(size(document), quota)


def lateness(policy: dict, tag: str, holders: list[Grant]) -> timedelta:
    """How long after their own end the policy trusts any holder at most (bench/, docs)."""
    trusted_until = trusted(policy, tag)
    late = timedelta(0)
    for grant in holders:
        if grant.principal_arn in trusted_until:
            late = max(late, trusted_until[grant.principal_arn] - utc(grant.ends))
    return late


def trust_changes(before: dict, after: dict, tag: str) -> dict[str, list[dict]]:
    """The principals ``after`` trusts anew (or until another end) and no longer trusts,
    compared with ``before``: what an audit line about a trust write needs."""
    old, new = trusted(before, tag), trusted(after, tag)
    return {
        "added": [
            {"principal": p, "until": iso(new[p])} for p in sorted(new) if new[p] != old.get(p)
        ],
        "removed": [{"principal": p} for p in sorted(old) if p not in new],
    }


def widens(before: dict, after: dict, tag: str) -> bool:
    """Whether ``after`` trusts anyone through our statements whom ``before`` did not, or
    until later: a document that does not widen may be written even when the session
    limits could not be (it only takes trust away)."""
    old, new = trusted(before, tag), trusted(after, tag)
    return any(p not in old or until > old[p] for p, until in new.items())


def free_slots(
    policy: dict,
    principal_arn: str,
    ends: datetime,
    quota: int,
    tag: str | None = None,
    require_mfa: bool = False,
) -> int:
    """How many more people like ``principal_arn`` (a grant ending at ``ends``) fit, for
    `/access roles`: at the coarsest step of the ladder, where each more person costs little
    more than their ARN in a principal list (an IAM user), or their user name in their
    permission set's statement (an Identity Center person, whose first grant on the role
    also costs that statement).

    ``tag`` None counts every deployment's statements as ours (a lone deployment, as `roles`
    sees it)."""
    foreign = [s for s in statements(policy) if not is_ours(s, tag)]
    holders = [
        Grant("", principal, "", sid_end(s) or ends, sid_mfa(s))
        for s in statements(policy)
        if is_ours(s, tag)
        for principal in principals_of(s)
    ]

    def fits_with(extra: int) -> bool:
        # Stand-ins as long as the asker's principal, each a different person (of the same
        # permission set, for an Identity Center person).
        more = [Grant("", _stand_in(principal_arn, n), "", ends, require_mfa) for n in range(extra)]
        document = _with_statements(
            policy, foreign + holder_statements(tag or "D0000000", holders + more, None)
        )
        # Each person also needs a live cut in the session-limit policy (10,240 characters
        # for all of a role's inline policies): at a 4,096 quota that binds first. Closed
        # cuts are not counted here; the grant itself checks both exactly.
        people = {
            name: g.ends for g in holders + more if (name := user_name(g.principal_arn)) is not None
        }
        limits = session_limits.document(
            {
                name: session_limits.Cut(live_end=ends + timedelta(seconds=n))
                for n, name in enumerate(sorted(people))
            },
            deny_chaining=True,
            role_id=ROLE_ID_STAND_IN,
        )
        return fits(document, quota) and fits(limits, session_limits.INLINE_POLICY_QUOTA)

    # More people never take less room: search the largest count that fits (about 20
    # documents built, on Slack's 3-second clock).
    low, high = 0, 1
    while high <= 1000 and fits_with(high):
        low, high = high, high * 2
    high = min(high, 1001)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits_with(middle) else (low, middle)
    return low


def _stand_in(principal: str, n: int) -> str:
    """Another person's principal as long as ``principal``: its last name part replaced by
    one made of ``n`` (at least 4 characters, so that distinct stand-ins never collide)."""
    prefix, _, name = principal.rpartition("/")
    digits = f"{n:04d}"
    return f"{prefix}/{name[: max(len(name) - len(digits), 0)]}{digits}"
