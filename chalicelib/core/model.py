"""The access request and its lifecycle: one transitions table, pure functions, no I/O."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum


class State(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"
    DENIED = "DENIED"
    CANCELLED = "CANCELLED"
    LAPSED = "LAPSED"
    FAILED = "FAILED"
    EXTENDED = "EXTENDED"  # an extension that moved its grant's end (final)
    # Approved for a window that starts later (``starts_at``): nothing is written to IAM until
    # the sweep re-checks it at its start (core/schedule.py ``check_start``) and makes it
    # APPROVED, which the grant engine then writes as any approved request.
    SCHEDULED = "SCHEDULED"


TRANSITIONS: dict[State, frozenset[State]] = {
    # PENDING -> EXTENDED | FAILED: extensions only (applied, or their grant ended first).
    State.PENDING: frozenset(
        {
            State.PENDING,
            State.APPROVED,
            State.SCHEDULED,  # the quorum reached before the window's start
            State.DENIED,
            State.CANCELLED,
            State.LAPSED,
            State.EXTENDED,
            State.FAILED,
        }
    ),
    State.APPROVED: frozenset({State.ACTIVE, State.FAILED}),
    # SCHEDULED -> APPROVED at the start (still eligible); FAILED: not eligible any more at the
    # start; CANCELLED: withdrawn (by the requester) or called off (by an approver) before it.
    State.SCHEDULED: frozenset({State.APPROVED, State.FAILED, State.CANCELLED}),
    # ACTIVE -> FAILED: the grant became void under it (role or IAM user deleted, statement lost
    # and impossible to write again).
    State.ACTIVE: frozenset({State.EXPIRED, State.REVOKED, State.FAILED}),
}
FINAL_STATES = frozenset(s for s in State if s not in TRANSITIONS)
# Requests still in play: waiting for approvers, waiting for their start, being granted, or
# granted.
LIVE_STATES = (State.PENDING, State.SCHEDULED, State.APPROVED, State.ACTIVE)

# Crockford base32 without look-alikes: ids are typed back in `/access cancel <id>`, and they
# become part of an IAM Sid, which allows only letters and digits.
_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class TransitionError(Exception):
    """A state change the lifecycle does not allow (e.g. approving an expired request)."""


def new_request_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


def normalise_request_id(text: str) -> str:
    return text.strip().upper()


def is_request_id(text: str) -> bool:
    cleaned = normalise_request_id(text)
    return len(cleaned) == 10 and all(ch in _ID_ALPHABET for ch in cleaned)


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(microsecond=0)


def iso(value: datetime) -> str:
    return utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class AuditEntry:
    at: str
    actor: str  # Slack user id, or "switchback" for the broker itself
    action: str
    state: State
    detail: str = ""

    def to_dict(self) -> dict:
        return {
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "state": self.state.value,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: dict) -> AuditEntry:
        return cls(
            at=data["at"],
            actor=data["actor"],
            action=data["action"],
            state=State(data["state"]),
            detail=data.get("detail", ""),
        )


@dataclass(frozen=True)
class AccessRequest:
    id: str
    role: str  # policy name, e.g. ec2-admin
    role_arn: str
    requester: str  # Slack user id
    requester_name: str
    principal_arn: str  # the requester's IAM user
    duration_seconds: int
    reason: str
    created_at: str
    approval_deadline: str
    approvals_required: int
    require_mfa: bool = False
    state: State = State.PENDING
    approvals: tuple[str, ...] = ()  # Slack ids, in the order they approved
    ends_at: str | None = None  # set when approved; the grant's end
    response_url: str | None = None
    failure: str | None = None
    version: int = 0
    audit: tuple[AuditEntry, ...] = field(default_factory=tuple)
    # Approvers who were sent a direct message about it (each gets a follow-up when decided).
    told: tuple[str, ...] = ()
    # An extension of the ACTIVE grant ``extends`` by ``duration`` (approved like a request,
    # never granted on its own); a grant lists the extensions applied to it.
    extends: str | None = None
    extensions: tuple[str, ...] = ()
    # Break-glass: granted at once without approval, then acknowledged or flagged by an
    # approver (``review``: "acknowledged" | "flagged", by ``reviewed_by``).
    break_glass: bool = False
    review: str | None = None
    reviewed_by: str | None = None
    # A scoped grant: the name of one of the role's scopes, and its actions as they were when
    # the request was made or narrowed (what the approvers saw is what is written).
    scope: str | None = None
    scope_actions: tuple[str, ...] = ()
    # A scheduled window: it starts here (UTC) instead of at the approval.
    starts_at: str | None = None

    @property
    def session_name(self) -> str:
        """The IAM user name: what the console uses as RoleSessionName, so CloudTrail names it."""
        return self.principal_arn.rsplit("/", 1)[1]

    @property
    def duration(self) -> timedelta:
        return timedelta(seconds=self.duration_seconds)

    @property
    def sid(self) -> str:
        return f"Switchback{self.id}"

    def ends(self) -> datetime | None:
        return parse_iso(self.ends_at) if self.ends_at else None

    def starts(self) -> datetime | None:
        """A scheduled window's start (None: the window starts when it is approved)."""
        return parse_iso(self.starts_at) if self.starts_at else None

    def end_if_approved_at(self, now: datetime) -> datetime:
        """The grant's end if approved at ``now``: a scheduled window ends its duration after
        its start, whenever it is approved."""
        start = self.starts()
        return (start if start else utc(now)) + self.duration


def transition(
    request: AccessRequest,
    to: State,
    actor: str,
    action: str,
    now: datetime,
    detail: str = "",
    **changes,
) -> AccessRequest:
    """Return the request in state ``to`` with one more audit entry, or raise TransitionError."""
    if to not in TRANSITIONS.get(request.state, frozenset()):
        raise TransitionError(
            f"request {request.id} is {request.state.value.lower()}; "
            f"it cannot become {to.value.lower()}"
        )
    entry = AuditEntry(at=iso(now), actor=actor, action=action, state=to, detail=detail)
    return replace(request, state=to, audit=request.audit + (entry,), **changes)


def note(request: AccessRequest, actor: str, action: str, now: datetime, detail: str = ""):
    """The request unchanged but for one more audit entry (e.g. an operator looked at it)."""
    entry = AuditEntry(at=iso(now), actor=actor, action=action, state=request.state, detail=detail)
    return replace(request, audit=request.audit + (entry,))
