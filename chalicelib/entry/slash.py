"""Answering ``/access …``: parse the text, run one use case, say what happened (ephemeral).

Whatever the text, the answer is a short ephemeral message: usage for nonsense, the reason for
a refusal, an apology (and a log line) for our own bugs — never a stack trace, never a 500.
"""

from __future__ import annotations

import difflib
import json
import logging
from dataclasses import dataclass
from datetime import datetime

from chalicelib import telemetry
from chalicelib.core.commands import (
    BadCommand,
    ExtendCommand,
    IdCommand,
    RequestCommand,
    SimpleCommand,
    parse_command,
)
from chalicelib.core.decisions import Refusal, Refused, requestable_roles
from chalicelib.core.durations import format_duration
from chalicelib.core.model import (
    LIVE_STATES,
    State,
    is_request_id,
    normalise_request_id,
)
from chalicelib.entry import errors, slack_signature
from chalicelib.notify import messages
from chalicelib.notify.messages import escape
from chalicelib.service import Switchback
from chalicelib.usecases.requesting import AlreadyPending

log = logging.getLogger("switchback.slash")


def usage(command: str) -> str:
    return (
        f"*Switchback* gives you temporary access to AWS roles, approved by a colleague.\n"
        f"• `{command} request <role> [<duration>] <reason>` — e.g. "
        f"`{command} request ec2-admin 1h INC-42 resize the ASG` (the duration defaults to "
        f"the role's)\n"
        f"• `{command} roles` — the roles you may request\n"
        f"• `{command} list` — your requests, and those waiting for you\n"
        f"• `{command} cancel <id>` — withdraw a pending request\n"
        f"• `{command} revoke <id>` — end an active grant now (yours, or one you approve)\n"
        f"• `{command} extend <id> <duration> [<reason>]` — ask for more time on your active "
        f"grant (approved like a request)\n"
        f"• `{command} breakglass <role> [<duration>] <reason>` — emergency access at once, "
        f"where the role allows it; the approvers are alerted and review it afterwards\n"
        f"• `{command} help` — this help\n"
        f"Durations: `15m`, `2h`, `1h30m`, `90m`, `2 hours`, `90 minutes`; at least 1m, at "
        f"most the role's maximum (`{command} roles`)."
    )


@dataclass(frozen=True)
class Arrival:
    """The headers that identify one signed delivery of a command by Slack."""

    timestamp: str
    signature: str
    retry_num: str | None = None


@dataclass(frozen=True)
class Answer:
    body: dict | str  # what Slack shows (JSON text when it is a kept earlier answer)
    ran: bool  # whether the command ran now (a replay or a refusal did not)


def handle_once(
    service: Switchback,
    arrival: Arrival,
    user: str,
    text: str,
    response_url: str | None,
    command_name: str,
) -> Answer:
    """Run a signed command at most once. Slack retries a slow command, and anyone who saw a
    signed request could send it again within the signature's 5 minutes: a copy gets the
    first answer (kept with the record of its arrival) or a one-line refusal, never a second
    run. If the check itself cannot run, nothing runs."""
    seen = slack_signature.replay_key(arrival.timestamp, arrival.signature)
    forget_at = slack_signature.forget_at(arrival.timestamp)
    try:
        first, earlier_answer = service.arrived(seen, forget_at)
    except Exception as error:  # slow AWS, or the table is missing: say so in Slack, not a 500
        errors.log(error, log, "cannot check the command against replays")
        words = errors.slack_words(error, command_name, nothing_ran=True)
        return Answer(messages.ephemeral(words), ran=False)
    retry = slack_signature.is_retry(arrival.retry_num)
    if not first or retry:
        telemetry.event("slack.replay", logging.WARNING, retry=retry, first=first)
        if earlier_answer:
            return Answer(earlier_answer, ran=False)
        refusal = slack_signature.REPLAY_REFUSAL.format(command=command_name)
        return Answer(messages.ephemeral(refusal), ran=False)
    answer = handle(service, user, text, response_url, command_name)
    try:
        service.answered(seen, json.dumps(answer), forget_at)
    except Exception:  # the answer still goes out; a copy arriving later gets the refusal
        log.warning("could not keep the answer for replays", exc_info=True)
    return Answer(answer, ran=True)


def handle(
    service: Switchback, user: str, text: str, response_url: str | None, command_name: str
) -> dict:
    # Slack sends &, < and > as entities; keep what the person typed.
    command = parse_command(messages.unescape(text))
    try:
        if isinstance(command, RequestCommand) and command.break_glass:
            return _break_glass(service, user, command, response_url)
        if isinstance(command, RequestCommand):
            return _request(service, user, command, response_url, command_name)
        if isinstance(command, ExtendCommand):
            return _extend(service, user, command, response_url, command_name)
        if isinstance(command, IdCommand):
            return _by_id(service, user, command)
        if isinstance(command, SimpleCommand) and command.name == "roles":
            return messages.ephemeral_lines(_roles(service, user))
        if isinstance(command, SimpleCommand) and command.name == "list":
            return messages.ephemeral_lines(_list(service, user, service.clock()))
        if isinstance(command, BadCommand) and not command.show_usage:
            return messages.ephemeral(escape(command.problem))
        if isinstance(command, BadCommand):
            return messages.ephemeral(f"{escape(command.problem)}\n\n{usage(command_name)}")
        return messages.ephemeral(usage(command_name))
    except Exception as error:  # what it means to the person: the one table, entry/errors.py
        errors.log(error, log, "slash command %r from %s failed", text[:200], user)
        new_request = isinstance(command, RequestCommand)
        return messages.ephemeral(errors.slack_words(error, command_name, new_request))


def _request(
    service: Switchback,
    user: str,
    command: RequestCommand,
    response_url: str | None,
    command_name: str,
) -> dict:
    try:
        request = service.submit(user, command, response_url)
    except AlreadyPending as refusal:  # one pending request per person and role
        pending = refusal.pending
        return messages.ephemeral(
            f"{escape(refusal.message)} Approvers review it here: "
            f"<{messages.review_url(service.base_url, pending.id)}|review request {pending.id}>. "
            f"To ask differently, withdraw it first with `{command_name} cancel {pending.id}`."
        )
    except Refused as refusal:
        if refusal.reason not in (Refusal.UNKNOWN_ROLE, Refusal.NOT_A_REQUESTER):
            raise
        names = [r.name for r in requestable_roles(service.catalog, user, service.groups)]
        nearest = difflib.get_close_matches(command.role, names, n=1)
        unknown = refusal.reason is Refusal.UNKNOWN_ROLE  # a typo; otherwise whom to ask
        hint = f" Did you mean `{nearest[0]}`?" if nearest and unknown else ""
        listed = ", ".join(f"`{n}`" for n in names) or "none"
        first = (
            f"There is no role `{escape(messages.clip(command.role, 64))}`."
            if refusal.reason is Refusal.UNKNOWN_ROLE
            else escape(refusal.message)
        )
        return messages.ephemeral(
            f"{first}{hint}\nRoles you may request: {listed} (details: `{command_name} roles`)."
        )
    role = service.catalog.roles[request.role]
    return messages.ephemeral(
        messages.request_pending(request, role, command.duration, user, command_name)
    )


def _extend(
    service: Switchback,
    user: str,
    command: ExtendCommand,
    response_url: str | None,
    command_name: str,
) -> dict:
    extension = service.extend(user, command, response_url)
    grant = service.get(extension.extends)
    role = service.catalog.roles[extension.role]
    return messages.ephemeral(
        messages.extension_pending(extension, grant, role, service.clock(), command_name)
    )


def _break_glass(
    service: Switchback, user: str, command: RequestCommand, response_url: str | None
) -> dict:
    request = service.break_glass(user, command, response_url)
    if request.state is State.ACTIVE:
        status = "is granted now; the details follow here"
    else:
        status = f"is {request.state.value.lower()}" + (
            f": {escape(request.failure)}" if request.failure else "; I'll tell you here"
        )
    return messages.ephemeral(
        f":rotating_light: Break-glass request `{request.id}` for `{escape(request.role)}` "
        f"({format_duration(request.duration)}) {status}. The approvers are alerted and "
        "will review it afterwards."
    )


def _by_id(service: Switchback, user: str, command: IdCommand) -> dict:
    if not is_request_id(command.request_id):
        return messages.ephemeral(
            f"`{escape(command.request_id[:40])}` is not a request id "
            "(10 letters and digits, as in `list`)."
        )
    request_id = normalise_request_id(command.request_id)
    if command.name in ("approve", "deny"):
        return _review_link(service, request_id, command.name)
    if command.name == "cancel":
        request = service.cancel(request_id, user)
        return messages.ephemeral(
            f"Request `{request.id}` for `{escape(request.role)}` is cancelled; "
            "the approvers are told."
        )
    request, outcome = service.revoke_with_outcome(request_id, user)
    whose = (
        "Your access" if request.requester == user else f"{escape(request.requester_name)}'s access"
    )
    return messages.ephemeral(
        f"{whose} to `{escape(request.role)}` (request `{request.id}`) is revoked and "
        f"recorded. {escape(outcome)}"
    )


def _review_link(service: Switchback, request_id: str, verb: str) -> dict:
    """Decisions are made on the review page (signed in, the whole request in view)."""
    request = service.get(request_id)
    if request is None:
        return messages.ephemeral(f"There is no request `{request_id}`.")
    url = messages.review_url(service.base_url, request.id)
    return messages.ephemeral(
        f"Approving and denying happen on the review page, where you see the whole request: "
        f"<{url}|review request {request.id}> ({escape(request.requester_name)}, "
        f"`{escape(request.role)}`, {format_duration(request.duration)}). "
        f"Open it to {verb} it."
    )


def _roles(service: Switchback, user: str) -> list[str]:
    person = service.catalog.person(user)
    if person is None:
        return [
            "You are not in Switchback's directory (`people.toml`), so there are no roles you "
            "may request. Ask the platform team to add your Slack ID and your IAM user."
        ]
    roles = requestable_roles(service.catalog, user, service.groups)
    slots = service.free_slots(person, roles)
    return messages.roles_answer(roles, slots)


def _list(service: Switchback, user: str, now: datetime) -> list[str]:
    mine = [r for r in service.requests_of(user) if r.state in LIVE_STATES]
    waiting, unreviewed = service.awaiting(user, now), service.unreviewed(user)
    return messages.list_answer(mine, waiting, now, unreviewed, service.base_url)
