"""Who may ask for what, and who may decide: pure rules with a reason for every refusal."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from chalicelib.core.catalog import Catalog, RoleSpec
from chalicelib.core.durations import format_duration
from chalicelib.core.groups import GroupsUnavailable, Members, listed, no_groups
from chalicelib.core.identity import is_sso
from chalicelib.core.model import AccessRequest, State, iso, parse_iso, transition
from chalicelib.core.patterns import matches
from chalicelib.core.refusal_texts import not_a_requester

MIN_DURATION = timedelta(minutes=1)


class Refusal(StrEnum):
    UNKNOWN_PERSON = "unknown_person"
    UNKNOWN_ROLE = "unknown_role"
    NOT_A_REQUESTER = "not_a_requester"
    DURATION_TOO_SHORT = "duration_too_short"
    DURATION_TOO_LONG = "duration_too_long"
    REASON_MISSING = "reason_missing"
    REASON_PATTERN = "reason_pattern"
    NOT_AN_APPROVER = "not_an_approver"
    OWN_REQUEST = "own_request"
    ALREADY_DECIDED = "already_decided"
    NOT_PENDING = "not_pending"
    REQUESTER_NOT_ELIGIBLE = "requester_not_eligible"
    PAST_DEADLINE = "past_deadline"
    GROUPS_UNAVAILABLE = "groups_unavailable"
    NO_BREAK_GLASS = "no_break_glass"
    NOT_BREAK_GLASS = "not_break_glass"
    ALREADY_REVIEWED = "already_reviewed"
    EXTENSION_PENDING = "extension_pending"
    ALREADY_PENDING = "already_pending"  # one pending request per person and role
    UNKNOWN_SCOPE = "unknown_scope"
    ALREADY_SCOPED = "already_scoped"
    START_IN_PAST = "start_in_past"
    START_TOO_FAR = "start_too_far"
    START_UNREADABLE = "start_unreadable"
    # the role requires MFA and the person is granted through IAM Identity Center
    MFA_NOT_CARRIED = "mfa_not_carried"
    BREAK_GLASS_SUSPENDED = "break_glass_suspended"  # flagged; an approver lifts it
    NOT_SUSPENDED = "not_suspended"


@dataclass(frozen=True)
class Refused(Exception):
    reason: Refusal
    message: str

    def __str__(self) -> str:
        return self.message


def _groups_refusal(error: GroupsUnavailable) -> Refused:
    return Refused(
        Refusal.GROUPS_UNAVAILABLE,
        f"Switchback cannot tell right now whether you may do this: {error}. Nothing was "
        "changed; try again in a minute.",
    )


def may_request(
    catalog: Catalog,
    requester: str,
    role: RoleSpec,
    members: Members = no_groups,
    break_glass: bool = False,
) -> bool:
    """Raises GroupsUnavailable when the answer depends on a group Slack cannot resolve."""
    entries = role.breakglass_requesters if break_glass else role.requesters
    return requester in catalog.people and listed(entries, requester, members)


def is_approver(catalog: Catalog, role: RoleSpec, user: str, members: Members = no_groups) -> bool:
    """Raises GroupsUnavailable when the answer depends on a group Slack cannot resolve."""
    return user in catalog.people and listed(role.approvers, user, members)


def requestable_roles(
    catalog: Catalog, requester: str, members: Members = no_groups
) -> list[RoleSpec]:
    """The roles ``requester`` may ask for; a role behind a group Slack cannot resolve now is
    left out (the request itself says why)."""
    found = []
    for role in sorted(catalog.roles.values(), key=lambda r: r.name):
        try:
            if may_request(catalog, requester, role, members):
                found.append(role)
        except GroupsUnavailable:
            continue
    return found


def mfa_not_carried(role: RoleSpec, principal: str, requester: bool = True) -> Refused | None:
    """The refusal for a grant that could never be used: ``role`` requires MFA and
    ``principal`` is an IAM Identity Center person. Identity Center asks for MFA at its own
    sign-in, but STS does not carry that into a switch from its session
    (``aws:MultiFactorAuthPresent`` is absent), so the trust statement's MFA condition refuses
    every switch (docs/grants.md, Identity Center people). None: nothing stands in the way."""
    if not (role.require_mfa and is_sso(principal)):
        return None
    who = "you" if requester else "the requester"
    why = (
        f"{role.name} requires MFA, and {who} would be granted through IAM Identity Center: "
        "AWS does not pass Identity Center's sign-in MFA on when switching to a role, so the "
        "role would refuse every switch and the grant could never be used."
    )
    if requester:
        then = (
            f" Nothing was requested. To use {role.name}, ask the platform team for an IAM "
            "user with MFA in policies/people.toml, or ask for a role that does not require MFA."
        )
    else:
        then = (
            " Deny this request; to be granted it, the requester needs an IAM user with MFA "
            "in policies/people.toml (the platform team adds it)."
        )
    return Refused(Refusal.MFA_NOT_CARRIED, why + then)


def break_glass_roles(
    catalog: Catalog, requester: str, members: Members = no_groups
) -> list[RoleSpec]:
    """The roles on which ``requester`` may use break-glass (a role behind a group Slack cannot
    resolve now is left out, as in requestable_roles)."""
    found = []
    for role in sorted(catalog.roles.values(), key=lambda r: r.name):
        try:
            if role.break_glass and may_request(catalog, requester, role, members, True):
                found.append(role)
        except GroupsUnavailable:
            continue
    return found


def check_request(
    catalog: Catalog,
    requester: str,
    role_name: str,
    duration: timedelta | None,
    reason: str,
    members: Members = no_groups,
    break_glass: bool = False,
) -> tuple[RoleSpec, timedelta]:
    """Validate a new request (with ``break_glass``, a break-glass one); return the role and
    the effective duration, or raise Refused."""
    if requester not in catalog.people:
        raise Refused(
            Refusal.UNKNOWN_PERSON,
            "You are not in Switchback's people list; ask the "
            "platform team to add your Slack ID and IAM user to policies/people.toml.",
        )
    role = catalog.role(role_name)
    if role is None:
        raise Refused(Refusal.UNKNOWN_ROLE, f"There is no role called '{role_name}'.")
    if break_glass and not role.break_glass:
        raise Refused(
            Refusal.NO_BREAK_GLASS,
            f"{role.name} has no break-glass access; use `request {role.name} …` instead.",
        )
    try:
        allowed = may_request(catalog, requester, role, members, break_glass)
    except GroupsUnavailable as error:
        raise _groups_refusal(error) from error
    if not allowed:
        raise Refused(Refusal.NOT_A_REQUESTER, not_a_requester(catalog, role, break_glass))
    unusable = mfa_not_carried(role, catalog.people[requester].aws)
    if unusable:
        raise unusable
    if break_glass:
        effective = duration or role.break_glass_max
        longest = role.break_glass_max
    else:
        effective = duration or role.default_duration
        longest = role.max_duration
    if effective < MIN_DURATION:
        raise Refused(Refusal.DURATION_TOO_SHORT, "Ask for at least 1m.")
    if effective > longest:
        what = "for break-glass " if break_glass else ""
        raise Refused(
            Refusal.DURATION_TOO_LONG,
            f"{format_duration(effective)} is longer than {role.name} allows "
            f"{what}({format_duration(longest)} at most).",
        )
    if not reason.strip():
        raise Refused(
            Refusal.REASON_MISSING,
            f"Say why you need it, e.g. `request {role.name} 1h INC-42 resize the ASG`.",
        )
    if role.reason_pattern and not matches(role.reason_pattern, reason):
        raise Refused(
            Refusal.REASON_PATTERN,
            f"{role.name} needs a reason matching "
            f"`{role.reason_pattern}` (for example a ticket id).",
        )
    return role, effective


def check_decider(
    catalog: Catalog,
    request: AccessRequest,
    approver: str,
    now: datetime,
    approving: bool = True,
    members: Members = no_groups,
) -> RoleSpec:
    """May ``approver`` approve (or, with ``approving=False``, deny) this request now?

    Eligibility is checked afresh. A deny needs only a rightful approver: a request that could
    no longer be granted as asked can still be turned down, instead of waiting to lapse.
    """
    if request.state is not State.PENDING:
        raise Refused(
            Refusal.NOT_PENDING, f"This request is already {request.state.value.lower()}."
        )
    if now >= parse_iso(request.approval_deadline):
        raise Refused(Refusal.PAST_DEADLINE, "Nobody decided in time; this request has lapsed.")
    role = catalog.role(request.role)
    if role is None or role.role_arn != request.role_arn:
        raise Refused(
            Refusal.UNKNOWN_ROLE, f"The role {request.role} is no longer in the policies."
        )
    if approver == request.requester:
        raise Refused(Refusal.OWN_REQUEST, "You cannot approve or deny your own request.")
    try:
        rightful = is_approver(catalog, role, approver, members)
    except GroupsUnavailable as error:
        raise _groups_refusal(error) from error
    if not rightful:
        raise Refused(Refusal.NOT_AN_APPROVER, f"You are not an approver of {role.name}.")
    if approver in request.approvals:
        raise Refused(Refusal.ALREADY_DECIDED, "You have already approved this request.")
    if not approving:
        return role
    person = catalog.person(request.requester)
    try:
        still_requester = may_request(catalog, request.requester, role, members)
    except GroupsUnavailable as error:
        raise _groups_refusal(error) from error
    if not still_requester or person is None or person.aws != request.principal_arn:
        raise Refused(
            Refusal.REQUESTER_NOT_ELIGIBLE,
            "The requester may no longer request "
            f"{role.name} (the policies changed since they asked).",
        )
    # The grant is written from the request, so a role tightened since it was made must not
    # be granted on the old terms (a longer window, or no MFA condition).
    if request.duration > role.max_duration:
        raise Refused(
            Refusal.DURATION_TOO_LONG,
            f"{role.name} now allows {format_duration(role.max_duration)} at most, and this "
            f"request asks for {format_duration(request.duration)}; the requester can ask again.",
        )
    if role.require_mfa and not request.require_mfa:
        raise Refused(
            Refusal.REQUESTER_NOT_ELIGIBLE,
            f"{role.name} now requires MFA, and this request was made before that; "
            "the requester can ask again.",
        )
    unusable = mfa_not_carried(role, request.principal_arn, requester=False)
    if unusable:
        raise unusable
    return role


def counted_approvals(
    request: AccessRequest, role: RoleSpec | None, members: Members = no_groups
) -> tuple[str, ...]:
    """The approvals that still count: given by someone who is still an approver of the role
    (never the requester; through a Slack user group too, asked now). ``role`` None: the role
    as the request was made. Raises GroupsUnavailable when an approval's standing depends on
    a group Slack cannot resolve now."""
    if role is None:
        return tuple(a for a in request.approvals if a != request.requester)
    return tuple(
        a
        for a in request.approvals
        if a != request.requester and listed(role.approvers, a, members)
    )


def approve(
    request: AccessRequest,
    approver: str,
    now: datetime,
    role: RoleSpec | None = None,
    members: Members = no_groups,
) -> AccessRequest:
    """Count one approval; the one that reaches the quorum moves the request to APPROVED.

    With ``role`` (the role as the policies say now), only approvals of its current approvers
    count, against its current ``approvals_required``: a policy change applies to requests
    already in flight."""
    approvals = request.approvals + (approver,)
    required = role.approvals_required if role else request.approvals_required
    try:
        counted = counted_approvals(replace(request, approvals=approvals), role, members)
    except GroupsUnavailable as error:
        raise _groups_refusal(error) from error
    if len(counted) >= required:
        start = request.starts()
        if start is not None and start > now:
            # A window that starts later: SCHEDULED until the sweep re-checks it at its start
            # (core/schedule.py check_start); nothing is written to IAM before.
            return transition(
                request,
                State.SCHEDULED,
                approver,
                "approved",
                now,
                detail=f"scheduled to start at {iso(start)}",
                approvals=approvals,
                approvals_required=required,
                ends_at=iso(start + request.duration),
            )
        # A scheduled window approved after its start keeps its end (it is shorter).
        ends = (start or now) + request.duration
        return transition(
            request,
            State.APPROVED,
            approver,
            "approved",
            now,
            approvals=approvals,
            approvals_required=required,
            ends_at=iso(ends),
        )
    return transition(
        request,
        State.PENDING,
        approver,
        "approval recorded",
        now,
        detail=f"{len(counted)} of {required}",
        approvals=approvals,
        approvals_required=required,
    )


def deny(request: AccessRequest, approver: str, now: datetime, reason: str = "") -> AccessRequest:
    return transition(request, State.DENIED, approver, "denied", now, detail=reason.strip())


def check_revoker(
    catalog: Catalog,
    request: AccessRequest,
    actor: str,
    members: Members = no_groups,
    operator: bool = False,
) -> None:
    """The one rule for ending a grant early: only while it is ACTIVE, and only by its
    requester, the role's current approvers (one known only through a group Slack cannot
    resolve now may not), or an operator with AWS credentials on the table (``operator``)."""
    if not (
        operator or actor == request.requester or _approves_now(catalog, request, actor, members)
    ):
        raise Refused(
            Refusal.NOT_AN_APPROVER,
            f"Only the requester or an approver of {request.role} can revoke it.",
        )
    if request.state is not State.ACTIVE:
        raise Refused(
            Refusal.NOT_PENDING,
            f"Request {request.id} is {request.state.value.lower()}, not active.",
        )


def may_revoke(
    catalog: Catalog, request: AccessRequest, actor: str, members: Members = no_groups
) -> bool:
    """Whether ``actor`` may end this grant now (check_revoker, as a yes or no)."""
    try:
        check_revoker(catalog, request, actor, members)
    except Refused:
        return False
    return True


def _approves_now(catalog: Catalog, request: AccessRequest, actor: str, members: Members) -> bool:
    role = catalog.role(request.role)
    try:
        return bool(role and is_approver(catalog, role, actor, members))
    except GroupsUnavailable:
        return False
