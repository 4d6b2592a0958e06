"""Answering ``/access …``: parse the text, run one use case, say what happened (ephemeral)."""

from __future__ import annotations

import difflib
from datetime import datetime

from . import messages
from .commands import BadCommand, IdCommand, RequestCommand, SimpleCommand, parse_command
from .decisions import Refusal, Refused, requestable_roles
from .durations import format_duration
from .errors import AwsUnavailable, LockBusy
from .messages import escape
from .model import State, is_request_id, normalise_request_id, parse_iso
from .service import Switchback


def usage(command: str) -> str:
    return (
        f"*Switchback* gives you temporary access to AWS roles, approved by a colleague.\n"
        f"• `{command} request <role> [<duration>] <reason>` — e.g. "
        f"`{command} request ec2-admin 1h INC-42 resize the ASG`\n"
        f"• `{command} roles` — the roles you may request\n"
        f"• `{command} list` — your requests, and those waiting for you\n"
        f"• `{command} cancel <id>` — withdraw a pending request\n"
        f"• `{command} revoke <id>` — end an active grant now\n"
        f"Durations: `15m`, `2h`, `1h30m`."
    )


def handle(
    service: Switchback, user: str, text: str, response_url: str | None, command_name: str
) -> dict:
    command = parse_command(text)
    try:
        if isinstance(command, RequestCommand):
            return _request(service, user, command, response_url, command_name)
        if isinstance(command, IdCommand):
            return _by_id(service, user, command)
        if isinstance(command, SimpleCommand) and command.name == "roles":
            return messages.ephemeral(_roles(service, user))
        if isinstance(command, SimpleCommand) and command.name == "list":
            return messages.ephemeral(_list(service, user, service.clock()))
        if isinstance(command, BadCommand):
            return messages.ephemeral(f"{escape(command.problem)}\n\n{usage(command_name)}")
        return messages.ephemeral(usage(command_name))
    except Refused as refusal:
        return messages.ephemeral(escape(refusal.message))
    except (AwsUnavailable, LockBusy) as error:
        return messages.ephemeral(
            f"AWS is busy right now ({escape(str(error))}); nothing was "
            "changed. Try again in a minute."
        )


def _request(
    service: Switchback,
    user: str,
    command: RequestCommand,
    response_url: str | None,
    command_name: str,
) -> dict:
    try:
        request = service.submit(user, command, response_url)
    except Refused as refusal:
        if refusal.reason is not Refusal.UNKNOWN_ROLE:
            raise
        names = [r.name for r in requestable_roles(service.catalog, user)]
        nearest = difflib.get_close_matches(command.role, names, n=1)
        hint = f" Did you mean `{nearest[0]}`?" if nearest else ""
        listed = ", ".join(f"`{n}`" for n in names) or "none"
        return messages.ephemeral(
            f"There is no role `{escape(command.role)}`.{hint}\nRoles you may request: {listed}."
        )
    role = service.catalog.roles[request.role]
    approvers = ", ".join(messages.mention(a) for a in role.approvers if a != user)
    return messages.ephemeral(
        f":hourglass_flowing_sand: Request `{request.id}` for `{escape(role.name)}` "
        f"({format_duration(request.duration)}) is pending. "
        f"{role.approvals_required} approval(s) needed from: {approvers}.\n"
        f"I'll tell you here when it is decided. Withdraw it with "
        f"`{command_name} cancel {request.id}`."
    )


def _by_id(service: Switchback, user: str, command: IdCommand) -> dict:
    if not is_request_id(command.request_id):
        return messages.ephemeral(
            f"`{escape(command.request_id[:40])}` is not a request id "
            "(10 letters and digits, as in `list`)."
        )
    request_id = normalise_request_id(command.request_id)
    if command.name == "cancel":
        request = service.cancel(request_id, user)
        return messages.ephemeral(f"Request `{request.id}` is cancelled.")
    request = service.revoke(request_id, user)
    return messages.ephemeral(
        f"Access of request `{request.id}` ({escape(request.requester_name)}"
        f", `{escape(request.role)}`) is revoked; the trust is removed."
    )


def _roles(service: Switchback, user: str) -> str:
    roles = requestable_roles(service.catalog, user)
    if not roles:
        return "There are no roles you may request."
    lines = ["*Roles you may request:*"]
    for role in roles:
        approvers = ", ".join(messages.mention(a) for a in role.approvers)
        lines.append(
            f"• `{role.name}` — {escape(role.description)} · default "
            f"{format_duration(role.default_duration)}, at most "
            f"{format_duration(role.max_duration)} · {role.approvals_required} "
            f"approval(s) from {approvers}"
        )
    return "\n".join(lines)


def _list(service: Switchback, user: str, now: datetime) -> str:
    mine = [
        r
        for r in service.store.requests_of(user)
        if r.state in (State.PENDING, State.APPROVED, State.ACTIVE)
    ]
    lines = []
    for r in mine:
        left = ""
        if r.state is State.ACTIVE and r.ends_at:
            left = f", {format_duration(parse_iso(r.ends_at) - now)} left"
        lines.append(f"• `{r.id}` `{escape(r.role)}` {r.state.value.lower()}{left}")
    waiting = [
        r
        for r in service.store.requests_in(State.PENDING)
        if r.requester != user
        and user not in r.approvals
        and (spec := service.catalog.role(r.role))
        and user in spec.approvers
    ]
    out = ["*Your requests:*"] + (lines or ["none pending or active"])
    if waiting:
        out.append("*Waiting for your approval:*")
        out += [
            f"• `{r.id}` {escape(r.requester_name)} → `{escape(r.role)}` "
            f"{format_duration(r.duration)}: {escape(r.reason[:200])}"
            for r in waiting
        ]
    return "\n".join(out)
