"""Extending an ACTIVE grant: who may ask, how far its end may move, and the grant as it is
once moved (pure rules; the service writes them).

An extension is its own request (``extends`` = the grant's id), approved by the same
approvers with the same quorum. On approval the grant's end moves later by the asked
duration, but never past ``max_duration`` from the moment of approval, and never earlier
than it is: an extension that would add nothing fails and leaves the grant as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.core.catalog import Catalog, RoleSpec
from chalicelib.core.decisions import MIN_DURATION, Refusal, Refused, _groups_refusal, may_request
from chalicelib.core.durations import format_duration
from chalicelib.core.groups import GroupsUnavailable, Members, no_groups
from chalicelib.core.model import AccessRequest, State, iso, note, parse_iso, utc
from chalicelib.core.texts import utc_text


def check_extension(
    catalog: Catalog,
    grant: AccessRequest | None,
    requester: str,
    by: timedelta,
    now: datetime,
    members: Members = no_groups,
) -> RoleSpec:
    """May ``requester`` ask to extend ``grant`` by ``by`` now? Return its role or raise
    Refused."""
    if grant is None or grant.extends is not None:
        raise Refused(Refusal.NOT_PENDING, "There is no such grant.")
    if grant.requester != requester:
        raise Refused(Refusal.NOT_A_REQUESTER, "Only the requester can extend their grant.")
    if grant.state is not State.ACTIVE or grant.ends() is None or grant.ends() <= now:
        raise Refused(
            Refusal.NOT_PENDING,
            f"Request {grant.id} is {grant.state.value.lower()}, not active: ask for a new "
            "grant instead.",
        )
    role = catalog.role(grant.role)
    if role is None or role.role_arn != grant.role_arn:
        raise Refused(Refusal.UNKNOWN_ROLE, f"The role {grant.role} is no longer in the policies.")
    try:
        allowed = may_request(catalog, requester, role, members)
    except GroupsUnavailable as error:
        raise _groups_refusal(error) from error
    if not allowed:
        raise Refused(Refusal.NOT_A_REQUESTER, f"You may no longer request {role.name}.")
    if by < MIN_DURATION:
        raise Refused(Refusal.DURATION_TOO_SHORT, "Extend by at least 1m.")
    if by > role.max_duration:
        raise Refused(
            Refusal.DURATION_TOO_LONG,
            f"{format_duration(by)} is longer than {role.name} allows "
            f"({format_duration(role.max_duration)} at most).",
        )
    return role


def extended_end(
    current_end: datetime, by: timedelta, now: datetime, max_duration: timedelta
) -> datetime | None:
    """The grant's new end: ``by`` later, at most ``max_duration`` from ``now``; None when
    that would not move it later (an extension never shortens a window)."""
    wanted = min(utc(current_end) + by, utc(now) + max_duration)
    return wanted if wanted > utc(current_end) else None


def extended(grant: AccessRequest, extension: AccessRequest, new_end: datetime, now: datetime):
    """``grant`` with its window ending at ``new_end``. The duration grows with it, so the
    window's start (its end minus its duration) stays where it was."""
    old_end = grant.ends()
    assert old_end is not None and new_end > old_end, "an extension never shortens a window"
    added = int((new_end - old_end).total_seconds())
    moved = replace(
        grant,
        ends_at=iso(new_end),
        duration_seconds=grant.duration_seconds + added,
        extensions=grant.extensions + (extension.id,),
    )
    return note(
        moved,
        extension.approvals[-1] if extension.approvals else extension.requester,
        "extended",
        now,
        detail=f"by {format_duration(timedelta(seconds=added))} to {utc_text(iso(new_end))} "
        f"(extension {extension.id})",
    )


@dataclass(frozen=True)
class ExtensionPlan:
    """What approving an extension at ``now`` does to its grant's end."""

    new_end: datetime | None  # None: it would add nothing (the grant already ends that late)
    added: timedelta  # how much later the grant ends; less than asked when capped
    asked: timedelta
    capped: bool  # cut by the role's max_duration, counted from the approval

    @property
    def cut_by(self) -> timedelta:
        return self.asked - self.added


def plan_extension(
    current_end: datetime, by: timedelta, now: datetime, max_duration: timedelta
) -> ExtensionPlan:
    """The end an approval at ``now`` gives: the grant's current end moved ``by`` later (not
    ``by`` after the approval), at most ``max_duration`` from ``now`` (extended_end)."""
    new_end = extended_end(current_end, by, now, max_duration)
    added = new_end - utc(current_end) if new_end else timedelta(0)
    return ExtensionPlan(new_end, added, by, capped=added < by)


def check_no_pending_extension(
    grant: AccessRequest, pending: list[AccessRequest], now: datetime
) -> None:
    """One pending extension per grant: a second one is refused, naming the first (approved
    one after the other, the second added what the first left, not what its page promised).
    ``pending``: the requester's extensions of this grant still PENDING."""
    for extension in pending:
        if (
            extension.extends == grant.id
            and extension.state is State.PENDING
            and parse_iso(extension.approval_deadline) > now
        ):
            raise Refused(
                Refusal.EXTENSION_PENDING,
                f"Extension {extension.id} of {grant.id} (by "
                f"{format_duration(extension.duration)}) is already waiting for approval; "
                f"withdraw it with `cancel {extension.id}` to ask differently.",
            )
