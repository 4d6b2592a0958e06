"""What one locked step on a role should write, decided from what IAM and the store hold (pure).

Every change to a role — a grant, a revoke, an expiry, a drift repair — is the same question:
given the role's trust policy and ``SwitchbackSessionLimits`` policy as IAM holds them, and the
requests of this role as the store holds them, what should both policies say now, and which
requests change state? Asking it whole each time (rather than applying a delta) is what lets a
crash between any two writes be repaired by simply asking again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from . import session_limits
from .model import AccessRequest, State, parse_iso, utc
from .trust import (
    Grant,
    QuotaExceeded,
    add_grants,
    drop_unique_id_principals,
    is_grant_statement,
    keep_only,
    minified,
    principal_is_unique_id,
    request_id_of,
    statements,
)

WINDOW_OVER = "the access window ended before the grant could be written"
USER_DELETED = (
    "IAM replaced the grant's principal with a unique id, which means the IAM user was "
    "deleted; the grant is void"
)


@dataclass(frozen=True)
class RoleView:
    """One role as IAM holds it, read under the role's lock."""

    role_arn: str
    role_id: str
    trust: dict
    limits: dict | None  # the SwitchbackSessionLimits inline policy, None if absent
    max_session: timedelta


@dataclass(frozen=True)
class RolePlan:
    trust: dict
    limits: dict | None
    activate: tuple[AccessRequest, ...] = ()  # APPROVED -> ACTIVE
    expire: tuple[AccessRequest, ...] = ()  # ACTIVE -> EXPIRED
    fail: tuple[tuple[AccessRequest, str], ...] = ()  # -> FAILED, with the reason
    added: tuple[str, ...] = ()  # request ids whose trust statements this plan writes anew
    drift: tuple[str, ...] = field(default=())  # what IAM held that the store did not explain

    def trust_changed(self, view: RoleView) -> bool:
        return self.trust != view.trust

    def limits_changed(self, view: RoleView) -> bool:
        return self.limits != view.limits

    def changes_anything(self, view: RoleView) -> bool:
        return bool(
            self.trust_changed(view)
            or self.limits_changed(view)
            or self.activate
            or self.expire
            or self.fail
        )


def grant_of(request: AccessRequest) -> Grant:
    return Grant(
        request_id=request.id,
        principal_arn=request.principal_arn,
        session_name=request.session_name,
        ends=request.ends(),
        require_mfa=request.require_mfa,
    )


def grant_ids(trust: dict) -> set[str]:
    """Request ids named by the managed statements of a trust policy."""
    return {request_id_of(s) for s in statements(trust) if is_grant_statement(s)}


def access_ended_at(request: AccessRequest) -> datetime | None:
    """When an ended grant's access ended: its end, or the moment it was revoked or failed."""
    if request.state is State.EXPIRED:
        return request.ends()
    if request.state in (State.REVOKED, State.FAILED):
        for entry in reversed(request.audit):
            if entry.state is request.state:
                moment = parse_iso(entry.at)
                end = request.ends()
                return min(moment, end) if end else moment
    return None


def plan(
    view: RoleView,
    requests: Iterable[AccessRequest],
    now: datetime,
    trust_quota: int,
    limits_quota: int = session_limits.INLINE_POLICY_QUOTA,
    rejected: Mapping[str, str] | None = None,
) -> RolePlan:
    """Both policies as they should be now, and the state changes that go with them.

    ``requests``: this role's requests as the store holds them (read consistently) — at least
    every ACTIVE and APPROVED one and every one a managed trust statement names.
    ``rejected``: request ids IAM refused to trust (id -> IAM's words); they fail.
    """
    now = utc(now)
    rejected = rejected or {}
    mine = {r.id: r for r in requests if r.role_arn == view.role_arn}
    drift: list[str] = []
    fail: list[tuple[AccessRequest, str]] = []

    # Statements whose principal IAM turned into a unique id: the user is gone.
    voided = {
        request_id_of(s)
        for s in statements(view.trust)
        if is_grant_statement(s) and principal_is_unique_id(s)
    }
    trust = drop_unique_id_principals(view.trust)
    if voided:
        drift.append(f"dropped statements of deleted IAM users: {', '.join(sorted(voided))}")

    active = sorted((r for r in mine.values() if r.state is State.ACTIVE), key=_order)
    approved = sorted((r for r in mine.values() if r.state is State.APPROVED), key=_order)
    expire = [r for r in active if r.ends() <= now]
    live: list[AccessRequest] = []
    for request in active:
        if request.ends() <= now:
            continue
        if request.id in voided:
            fail.append((request, USER_DELETED))
        elif request.id in rejected:
            fail.append((request, rejected[request.id]))
        else:
            live.append(request)

    # Trust: only live grants stay, each in its canonical form (a hand edit is undone).
    present = grant_ids(trust)
    kept = keep_only(trust, {r.sid for r in live}, now)
    # A REVOKED grant's statement is the revoke's own second half, not drift.
    revoked = {r.id for r in mine.values() if r.state is State.REVOKED}
    orphans = present - {r.id for r in live + expire + approved} - revoked
    if orphans:
        drift.append(f"removed statements with no active grant: {', '.join(sorted(orphans))}")
    trust = add_grants(kept, [grant_of(r) for r in live if r.id in present], now)

    # Session limits: people holding a live grant keep a live cut at their latest end; the
    # others get a closed cut (at most now), which ages out after MaxSessionDuration.
    current_cuts = session_limits.cuts_of(view.limits)
    ended: dict[str, datetime] = {}
    for request in mine.values():
        if (moment := access_ended_at(request)) is not None:
            _latest(ended, request.session_name, moment)
    for request in expire:
        _latest(ended, request.session_name, request.ends())
    holders = [r for r in live if r.id in present]

    def limits_for(people: list[AccessRequest]) -> dict | None:
        ends: dict[str, datetime] = {}
        for holder in people:
            _latest(ends, holder.session_name, holder.ends())
        cuts = session_limits.settle(current_cuts, ends, ended, now, view.max_session)
        return session_limits.document(view.limits, cuts, view.role_id)

    added: list[str] = []
    activate: list[AccessRequest] = []

    def try_add(request: AccessRequest) -> str | None:
        """Add one grant if both policies still fit; otherwise the reason it does not."""
        nonlocal trust
        candidate = add_grants(trust, [grant_of(request)], now)
        size = len(minified(candidate))
        if size > trust_quota:
            return str(QuotaExceeded(size, trust_quota))
        try:
            session_limits.check_quota(limits_for(holders + [request]), limits_quota)
        except session_limits.LimitsTooLarge as error:
            return str(error)
        trust = candidate
        holders.append(request)
        added.append(request.id)
        return None

    # An active grant whose statement is missing is written again, if it still fits.
    for request in live:
        if request.id in present:
            continue
        if reason := try_add(request):
            fail.append((request, f"its trust statement was missing and {reason}"))
        else:
            drift.append(f"wrote the missing statement of {request.id} again")
    for request in approved:
        if request.ends() <= now:
            fail.append((request, WINDOW_OVER))
        elif request.id in rejected:
            fail.append((request, rejected[request.id]))
        elif reason := try_add(request):
            fail.append((request, reason))
        else:
            activate.append(request)
    for request, _ in fail:
        if request.state is State.ACTIVE:
            _latest(ended, request.session_name, now)
    limits = limits_for(holders)
    holder_names = {r.session_name for r in holders}
    for name, cuts in sorted(current_cuts.items()):
        if name not in holder_names and name not in ended and max(cuts) > now:
            drift.append(f"ended the sessions of {name} now: no live grant behind their limit")

    return RolePlan(
        trust=trust,
        limits=limits,
        activate=tuple(activate),
        expire=tuple(expire),
        fail=tuple(fail),
        added=tuple(added),
        drift=tuple(drift),
    )


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


def _latest(ends: dict[str, datetime], name: str, moment: datetime) -> None:
    moment = utc(moment)
    if name not in ends or ends[name] < moment:
        ends[name] = moment
