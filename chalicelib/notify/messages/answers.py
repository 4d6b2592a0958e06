"""The slash command's answers: `roles`, `list`, and the answers to `request` and `extend`."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from chalicelib.core.catalog import RoleSpec
from chalicelib.core.durations import format_duration
from chalicelib.core.extensions import plan_extension
from chalicelib.core.model import AccessRequest, State, iso, parse_iso
from chalicelib.core.schedule import local_text
from chalicelib.core.texts import extension_title, utc_text  # shared with the use cases
from chalicelib.notify.messages.approvers import approval_progress
from chalicelib.notify.messages.markup import (
    escape,
    left_text,
    mention,
    plural,
    quoted,
    review_url,
    scope_text,
)


# -- answers to `roles` and `list` -------------------------------------------------------------
def roles_answer(
    roles: list[RoleSpec],
    slots: dict[str, int | None],
    may_break_glass: Collection[str] | None = None,
    command: str = "/access",
) -> list[str]:
    """One line per role: what it is, how long, who approves, how many grants still fit, and
    whether this person may use break-glass on it. ``may_break_glass``: the names of the roles
    they may (decisions.break_glass_roles); None: the roles whose break-glass requesters are
    their requesters, which is everyone the line is shown to."""
    if not roles:
        return ["There are no roles you may request."]
    if may_break_glass is None:
        may_break_glass = {r.name for r in roles if r.break_glass and not r.break_glass_requesters}
    lines = ["*Roles you may request:*"]
    for role in roles:
        approvers = ", ".join(mention(a) for a in role.approvers)
        free = slots.get(role.name)
        room = "grant slots left: unknown right now" if free is None else f"{free} grant slots left"
        pattern = (
            f" · reason must match `{escape(role.reason_pattern)}`" if role.reason_pattern else ""
        )
        mfa = " · needs MFA" if role.require_mfa else ""
        lines.append(
            f"• `{role.name}` — {escape(role.description) or 'no description'} · default "
            f"{format_duration(role.default_duration)}, at most "
            f"{format_duration(role.max_duration)} · "
            f"{plural(role.approvals_required, 'approval')} from "
            f"{approvers} · {room}{mfa}{pattern}{_break_glass_note(role, may_break_glass, command)}"
        )
    return lines


def _break_glass_note(role: RoleSpec, may: Collection[str], command: str) -> str:
    if not role.break_glass or role.name not in may:
        return ""
    return (
        f" · break-glass for emergencies: `{command} breakglass {role.name} <reason>`, granted "
        f"at once for up to {format_duration(role.break_glass_max)}, reviewed afterwards"
    )


def list_answer(
    mine: list[AccessRequest],
    waiting: list[AccessRequest],
    now: datetime,
    unreviewed: list[AccessRequest] | None = None,
    base_url: str | None = None,
) -> list[str]:
    """``list``: the person's live requests, those waiting for their approval, then the
    break-glass grants waiting for their review (breakglass.awaiting_review)."""
    lines = ["*Your requests:*"]
    for r in sorted(mine, key=lambda r: r.created_at):
        lines.append(f"• `{r.id}` `{escape(r.role)}` {r.state.value.lower()}{_time_note(r, now)}")
    if not mine:
        lines.append("none pending or active")
    if waiting:
        lines.append("*Waiting for your approval:*")
        for r in sorted(waiting, key=lambda r: r.created_at):
            lines.append(
                f"• `{r.id}` {escape(r.requester_name)} → `{escape(r.role)}` "
                f"{format_duration(r.duration)} ({approval_progress(r)}, "
                f"lapses in {left_text(parse_iso(r.approval_deadline) - now)}): "
                f"{quoted(r.reason, 200)}"
            )
    if unreviewed:
        lines.append("*Break-glass grants waiting for your review:*")
        for r in sorted(unreviewed, key=lambda r: r.created_at):
            link = f" <{review_url(base_url, r.id)}|acknowledge or flag>" if base_url else ""
            lines.append(
                f"• `{r.id}` {escape(r.requester_name)} → `{escape(r.role)}` "
                f"{format_duration(r.duration)}, {r.state.value.lower()}, taken "
                f"{utc_text(r.created_at)}: {quoted(r.reason, 200)}{link}"
            )
    return lines


def _time_note(request: AccessRequest, now: datetime) -> str:
    if request.state is State.ACTIVE and request.ends_at:
        left = left_text(parse_iso(request.ends_at) - now)
        return f", {left} left (until {utc_text(request.ends_at)})"
    if request.state is State.PENDING:
        return (
            f" for {format_duration(request.duration)} ({approval_progress(request)}, lapses in "
            f"{left_text(parse_iso(request.approval_deadline) - now)})"
        )
    if request.state is State.SCHEDULED and request.starts_at:
        return (
            f", starts in {left_text(parse_iso(request.starts_at) - now)} "
            f"({utc_text(request.starts_at)}) for {format_duration(request.duration)}"
            f"{_scope_note(request)}"
        )
    if request.state is State.APPROVED:
        return ", being granted"
    return ""


def _scope_note(request: AccessRequest) -> str:
    return f", scope `{escape(request.scope)}`" if request.scope else ""


# -- answers the use cases will give (pure text; see each docstring for where it is used) ------
def request_pending(
    request: AccessRequest,
    role: RoleSpec,
    asked: timedelta | None,
    requester: str,
    command: str = "/access",
    tz_name: str | None = None,
) -> str:
    """The answer to ``request``: always the duration that will be used, saying when it is the
    role's default (``asked`` None), so a duration misread or left out shows at once; a
    scheduled window's start in the person's time (``tz_name``, from Slack) and in UTC, and a
    scope with its actions."""
    duration = format_duration(request.duration)
    if asked is None:
        how_long = (
            f"for {duration}, the role's default (ask for another with "
            f"`{command} request {escape(role.name)} 2h …`)"
        )
    else:
        how_long = f"for {duration}"
    approvers = ", ".join(mention(a) for a in role.approvers if a != requester) or "nobody"
    if request.starts_at:
        how_long += f", starting {local_text(parse_iso(request.starts_at), tz_name)}"
    scope = f" Scope: {scope_text(request)}." if request.scope else ""
    return (
        f":hourglass_flowing_sand: Request `{request.id}` for `{escape(role.name)}` "
        f"{how_long} is pending.{scope} "
        f"{plural(role.approvals_required, 'approval')} needed from: {approvers}.\n"
        f"I'll tell you here when it is decided. Withdraw it with "
        f"`{command} cancel {request.id}`."
    )


def capped_note(plan_added: timedelta, asked: timedelta, role: RoleSpec) -> str:
    """`` (3h asked; ec2-admin allows 4h at most from the approval, so 2h32m)`` when the
    role's maximum cut an extension; empty otherwise."""
    if plan_added >= asked:
        return ""
    return (
        f" ({format_duration(asked)} asked; `{escape(role.name)}` allows "
        f"{format_duration(role.max_duration)} at most from the approval, so "
        f"{format_duration(plan_added)})"
    )


def extension_pending(
    extension: AccessRequest,
    grant: AccessRequest,
    role: RoleSpec,
    now: datetime,
    command: str = "/access",
) -> str:
    """The answer to ``extend``: who it waits for, the end meanwhile, and the end if approved
    now (the grant's current end moved later, capped by the role's maximum; say so)."""
    current_end = grant.ends()
    approvers = ", ".join(mention(a) for a in role.approvers if a != extension.requester)
    if current_end is None:
        if_now = ""
    else:
        plan = plan_extension(current_end, extension.duration, now, role.max_duration)
        if plan.new_end is None:
            if_now = (
                f" Approved now it would add nothing: `{escape(role.name)}` allows "
                f"{format_duration(role.max_duration)} at most from the approval."
            )
        else:
            if_now = (
                f" Approved now, it ends at {utc_text(iso(plan.new_end))}, "
                f"{format_duration(plan.added)} later"
                f"{capped_note(plan.added, extension.duration, role)}."
            )
    return (
        f":hourglass_flowing_sand: Request `{extension.id}` to "
        f"{escape(extension_title(extension))} is pending; your access goes on until "
        f"{utc_text(grant.ends_at)} meanwhile.{if_now} "
        f"{plural(extension.approvals_required, 'approval')} needed from: "
        f"{approvers or 'nobody'}. Withdraw it with `{command} cancel {extension.id}`."
    )


def scheduled_summary(request: AccessRequest, now: datetime) -> str:
    """Plain text (the review page escapes it, the operator CLI prints it): ``starts
    2026-12-05 21:00:00 UTC (in 6d11h), ends 2026-12-05 23:00:00 UTC``; empty when the
    request is not a scheduled window."""
    start = request.starts()
    if start is None:
        return ""
    if start > now:
        when_text = f"starts {utc_text(request.starts_at)} (in {left_text(start - now)})"
    else:
        when_text = f"started {utc_text(request.starts_at)}"
    ends = f", ends {utc_text(request.ends_at)}" if request.ends_at else ""
    return when_text + ends


def scope_summary(request: AccessRequest) -> str:
    """Plain text for the review page and the CLI: ``read-only: ec2:Describe*, ec2:Get*
    (every other action denied)``; ``the whole role`` when not scoped."""
    if not request.scope:
        return "the whole role"
    return f"{request.scope}: {', '.join(request.scope_actions)} (every other action denied)"


def scheduled_line(request: AccessRequest, now: datetime) -> str:
    """One plain line per scheduled window for ``tools.admin list``."""
    return (
        f"{request.id}  {request.requester_name} -> {request.role}  "
        f"{request.state.value.lower()}  {format_duration(request.duration)}, "
        f"{scheduled_summary(request, now)}, {scope_summary(request)}"
    )
