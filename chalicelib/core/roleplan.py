"""What one locked step on a role should write, decided from what IAM and the store hold (pure).

Every change to a role — a grant, a revoke, an expiry, a drift repair — is the same question:
given the role's trust policy and this deployment's session-limit policy as IAM holds them, the
role's cut ledger and its requests as the store holds them, what should both policies say now,
and which requests change state? Asking it whole each time (rather than applying a delta) is
what lets a crash between any two writes be repaired by simply asking again. The store, not
IAM, remembers who needs a cut: a deleted or edited session-limit policy is rebuilt whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.core import policy_docs, session_limits, trust
from chalicelib.core.model import AccessRequest, State, iso, utc
from chalicelib.core.schedule import START_LEAD
from chalicelib.core.scope_windows import ScopeWindow
from chalicelib.core.session_limits import Ledger
from chalicelib.core.trust import Grant, QuotaExceeded

WINDOW_OVER = "the access window ended before the grant could be written"
USER_DELETED = (
    "IAM replaced the grant's principal with a unique id, which means the IAM user was "
    "deleted; the grant is void"
)


@dataclass(frozen=True)
class RoleView:
    """One role as IAM and the store hold it, read under the role's lock."""

    role_arn: str
    role_id: str
    trust: dict
    limits: dict | None  # this deployment's session-limit inline policy, None if absent
    max_session: timedelta
    ledger: Ledger = field(default_factory=dict)
    tag: str = "D0000000"
    # Characters (as IAM counts them) of the role's other inline policies: they share IAM's
    # aggregate inline-policy quota with the session-limit policy. Measured under the lock.
    other_inline: int = 0


@dataclass(frozen=True)
class RolePlan:
    trust: dict
    limits: dict | None
    ledger: Ledger = field(default_factory=dict)
    activate: tuple[AccessRequest, ...] = ()  # APPROVED -> ACTIVE
    expire: tuple[AccessRequest, ...] = ()  # ACTIVE -> EXPIRED
    fail: tuple[tuple[AccessRequest, str], ...] = ()  # -> FAILED, with the reason
    added: tuple[str, ...] = ()  # request ids whose trust this plan writes anew
    drift: tuple[str, ...] = field(default=())  # what IAM held that the store did not explain
    # The trust policy without the grants this plan adds (None: the same as ``trust``): what
    # may still be written when IAM refuses the session limits, since it trusts nobody new.
    trust_without_added: dict | None = None

    def trust_removals(self) -> dict:
        return self.trust if self.trust_without_added is None else self.trust_without_added

    def trust_changed(self, view: RoleView) -> bool:
        return self.trust != view.trust

    def limits_changed(self, view: RoleView) -> bool:
        return self.limits != view.limits

    def ledger_changed(self, view: RoleView) -> bool:
        return self.ledger != view.ledger

    def changes_anything(self, view: RoleView) -> bool:
        return bool(
            self.trust_changed(view)
            or self.limits_changed(view)
            or self.ledger_changed(view)
            or self.activate
            or self.expire
            or self.fail
        )


def start_of(request: AccessRequest) -> datetime:
    """When the grant's window began: its approval (the end is the approval plus the duration)."""
    return utc(request.ends() - request.duration)


def scope_windows(people: Iterable[AccessRequest]) -> dict[str, list[ScopeWindow]]:
    """Each holder's live grants as their scope deny needs them (session name -> windows)."""
    found: dict[str, list[ScopeWindow]] = {}
    for holder in people:
        actions = tuple(holder.scope_actions) if holder.scope else None
        window = ScopeWindow(start_of(holder), utc(holder.ends()), actions)
        found.setdefault(holder.session_name, []).append(window)
    return found


def plan(
    view: RoleView,
    requests: Iterable[AccessRequest],
    now: datetime,
    trust_quota: int,
    limits_quota: int = session_limits.INLINE_POLICY_QUOTA,
    rejected: Mapping[str, str] | None = None,
    ineligible: Mapping[str, str] | None = None,
    allow_chaining: bool = False,
) -> RolePlan:
    """Both policies as they should be now, the ledger, and the state changes.

    ``requests``: this role's requests as the store holds them (read consistently) — at least
    every ACTIVE and APPROVED one, and REVOKED ones whose revoke is being written.
    ``rejected``: request ids IAM refused to trust (id -> IAM's words); they fail.
    ``ineligible``: request ids whose requester may no longer hold the role (id -> why); they
    end (ACTIVE) or fail (APPROVED).
    """
    now = utc(now)
    tag = view.tag
    rejected = rejected or {}
    ineligible = ineligible or {}
    mine = {r.id: r for r in requests if r.role_arn == view.role_arn}
    drift: list[str] = []
    fail: list[tuple[AccessRequest, str]] = []
    ledger: Ledger = dict(view.ledger)

    # What IAM trusts through our statements now.
    in_trust = trust.trusted(view.trust, tag)
    unique_ids = sorted(p for p in in_trust if trust.is_unique_id(p))
    if unique_ids:
        drift.append(f"dropped principals of deleted IAM users: {', '.join(unique_ids)}")
    for statement in policy_docs.statements(view.trust):
        if trust.is_ours(statement, tag) and (why := _edited(statement, tag)):
            drift.append(f"statement {statement['Sid']} was edited ({why}); rewrote it")

    active = sorted((r for r in mine.values() if r.state is State.ACTIVE), key=_order)
    approved = sorted((r for r in mine.values() if r.state is State.APPROVED), key=_order)
    expire = [r for r in active if r.ends() <= now]
    live: list[AccessRequest] = []
    for request in active:
        if request.ends() <= now:
            continue
        if request.id in ineligible:
            fail.append((request, ineligible[request.id]))
        elif unique_ids and request.principal_arn not in in_trust:
            fail.append((request, USER_DELETED))
        elif request.id in rejected:
            fail.append((request, rejected[request.id]))
        else:
            live.append(request)

    # Hand-widened trust: a principal nobody granted, or trusted past what we wrote.
    explained = {r.principal_arn for r in mine.values()}
    for principal, until in sorted(in_trust.items()):
        if trust.is_unique_id(principal):
            continue
        name = trust.user_name(principal)
        if name is None:
            # An account root, a role, a wildcard, a malformed string: never ours to trust.
            # Its statement is rewritten without it; its sessions carry no user name, so no
            # cut can name them (the role's own MaxSessionDuration ends them).
            drift.append(
                f"removed {principal}: not an IAM user, added by hand; sessions it may have "
                "taken cannot be cut by name"
            )
            continue
        entry = ledger.get(name)
        if principal not in explained and entry is None:
            drift.append(f"removed {principal}: trusted by hand, no grant behind it")
        elif entry is not None and until > entry.trusted_until:
            drift.append(
                f"{principal} was trusted until {iso(until)}, later than Switchback wrote "
                f"({iso(entry.trusted_until)}); rewrote its statement"
            )

    def live_map(people: list[AccessRequest]) -> dict[str, tuple[datetime, datetime]]:
        found: dict[str, tuple[datetime, datetime]] = {}
        for holder in people:
            start, end = start_of(holder), utc(holder.ends())
            if holder.session_name in found:
                old_start, old_end = found[holder.session_name]
                start, end = min(start, old_start), max(end, old_end)
            found[holder.session_name] = (start, end)
        return found

    present = [r for r in live if r.principal_arn in in_trust]
    holders: list[AccessRequest] = list(present)
    try:
        new_trust = trust.build(view.trust, tag, [Grant.of(r) for r in holders], now, trust_quota)
    except QuotaExceeded:
        # Already too large (a foreign statement grew): keep what is there; IAM decides.
        new_trust = trust.build(view.trust, tag, [Grant.of(r) for r in holders], now, 10**9)

    # Windows that ended: their people get a closed cut (grants that never got trust do not).
    starts = {name: start for name, (start, _) in live_map(live).items()}

    def close(name: str) -> None:
        nonlocal ledger
        ledger = session_limits.closed(ledger, name, now, starts.get(name))

    for request in expire:
        close(request.session_name)
    for request in mine.values():
        if request.state in (State.REVOKED, State.EXPIRED) or (
            request.state is State.FAILED and request.session_name in ledger
        ):
            close(request.session_name)
    for principal in in_trust:
        name = trust.user_name(principal)
        if name is None:
            continue
        if name not in starts:
            close(name)  # trusted without a live grant: sessions may exist

    def limits_for(people: list[AccessRequest], book: Ledger) -> dict | None:
        people_live = live_map(people)
        return session_limits.document(
            session_limits.cuts(session_limits.aged(book, people_live, now), people_live, now),
            deny_chaining=not allow_chaining,
            scopes=scope_windows(people),
            role_id=view.role_id,
        )

    added: list[str] = []
    activate: list[AccessRequest] = []
    trust_without_added = new_trust

    def try_add(request: AccessRequest) -> str | None:
        """Add one grant if both policies still fit; otherwise the reason it does not."""
        nonlocal new_trust
        try:
            candidate = trust.build(
                view.trust, tag, [Grant.of(r) for r in holders + [request]], now, trust_quota
            )
        except QuotaExceeded as error:
            return str(error)
        try:
            session_limits.check_quota(
                limits_for(holders + [request], ledger), limits_quota, view.other_inline
            )
        except session_limits.LimitsTooLarge as error:
            return str(error)
        new_trust = candidate
        holders.append(request)
        added.append(request.id)
        return None

    # An active grant whose trust is missing is written again, if it still fits.
    for request in live:
        if request in present:
            continue
        if reason := try_add(request):
            fail.append((request, f"its trust statement was missing and {reason}"))
        else:
            drift.append(f"wrote the missing trust of {request.id} ({request.principal_arn})")
    for request in approved:
        if request.ends() <= now:
            fail.append((request, WINDOW_OVER))
            if request.session_name in ledger:  # a step may have trusted it, then died
                close(request.session_name)
        elif (start := request.starts()) is not None and start - START_LEAD > now:
            continue  # a scheduled window is written at most START_LEAD before its start
        elif request.id in ineligible:
            fail.append((request, ineligible[request.id]))
        elif request.id in rejected:
            fail.append((request, rejected[request.id]))
        elif reason := try_add(request):
            fail.append((request, reason))
        else:
            activate.append(request)
    still_live = live_map(holders)
    for request, _ in fail:
        if request.state is State.ACTIVE:
            start = still_live.get(request.session_name, (None, None))[0]
            ledger = session_limits.closed(ledger, request.session_name, now, start)

    # Remember how long each holder is trusted, so their cut outlives every session.
    for principal, until in trust.trusted(new_trust, tag).items():
        if (name := trust.user_name(principal)) is not None:
            ledger = session_limits.trusted(ledger, name, until)
    holders_live = live_map(holders)
    ledger = session_limits.aged(ledger, holders_live, now)
    grants_held: dict[str, list[str]] = {}
    for holder in holders:
        grants_held.setdefault(holder.session_name, []).append(holder.id)
    ledger = session_limits.holding(ledger, grants_held)
    limits = limits_for(holders, ledger)

    # Tampering with the session limits: every cut the store says was needed before this
    # step must have been in IAM, at least as strict.
    needed = session_limits.cuts(
        session_limits.aged(dict(view.ledger), live_map(present), now), live_map(present), now
    )
    found, chaining = session_limits.read(view.limits, view.role_id)
    for name, cut in sorted(needed.items()):
        if why := session_limits.weaker(found.get(name), cut):
            drift.append(f"session limit of {name} was {why} in IAM; rebuilt it")
    present_scopes = session_limits.scope_statements(scope_windows(present))
    found_scopes = session_limits.read_scopes(view.limits)
    for statement in present_scopes:
        if statement not in found_scopes:
            ids = statement["Condition"]["StringLike"]["aws:userid"]
            who = ", ".join(i[2:] for i in ([ids] if isinstance(ids, str) else ids))
            drift.append(f"the scope deny of {who} was missing or changed in IAM; rebuilt it")
    if not allow_chaining:
        unchained = sorted(n for n, c in needed.items() if c.live_end and n not in chaining)
        if unchained:
            drift.append(f"role chaining was not denied to {', '.join(unchained)}; rebuilt it")

    return RolePlan(
        trust=new_trust,
        limits=limits,
        ledger=ledger,
        activate=tuple(activate),
        expire=tuple(expire),
        fail=tuple(fail),
        added=tuple(added),
        drift=tuple(drift),
        trust_without_added=trust_without_added if added else None,
    )


def _edited(statement: dict, tag: str) -> str | None:
    """Why one of our statements differs from what we write for its Sid and members."""
    end = trust.sid_end(statement)
    principals = trust.principals_of(statement)
    if end is None or not principals:
        return "no principal left" if end else None
    principal = statement.get("Principal")
    if isinstance(principal, dict) and set(principal) - {"AWS"}:
        return f"principals other than IAM users were added ({', '.join(sorted(principal))})"
    # Who is listed is checked person by person (plan); here only the rest of the statement.
    canonical = trust.canonical(statement, tag)
    if statement == canonical:
        return None
    if trust.statement_end(statement) != end:
        return "its end was moved"
    return "its conditions or action were changed"


def plan_role_missing(
    role_arn: str, requests: Iterable[AccessRequest], now: datetime
) -> tuple[tuple[AccessRequest, ...], tuple[tuple[AccessRequest, str], ...]]:
    """The role was deleted: ended grants expire, the others fail with the reason."""
    now = utc(now)
    reason = f"the IAM role {role_arn} no longer exists"
    expire, fail = [], []
    for request in sorted(requests, key=_order):
        if request.role_arn != role_arn:
            continue
        if request.state is State.ACTIVE and request.ends() <= now:
            expire.append(request)
        elif request.state in (State.ACTIVE, State.APPROVED):
            fail.append((request, reason))
    return tuple(expire), tuple(fail)


def _order(request: AccessRequest) -> tuple[str, str]:
    return (request.ends_at or "", request.id)
