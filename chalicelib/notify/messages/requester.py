"""What the requester hears: updates, the granted message with its switch-role link, CLI
command and profile, reminders."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

from chalicelib.core.catalog import RoleSpec
from chalicelib.core.durations import format_duration
from chalicelib.core.identity import is_sso
from chalicelib.core.model import AccessRequest
from chalicelib.core.texts import utc_text  # shared with the use cases
from chalicelib.notify.messages.answers import _scope_note, capped_note
from chalicelib.notify.messages.markup import (
    ACTION_WORDS,
    SECTION_LIMIT,
    clip,
    escape,
    left_text,
    mention,
    scope_text,
    section,
    start_text,
    visible_line,
    when,
)


def to_requester(text: str) -> dict:
    # Messages sent later through response_url must say they replace nothing and stay private.
    return {
        "response_type": "ephemeral",
        "replace_original": False,
        "text": clip(text, SECTION_LIMIT),
        "blocks": [section(text)],
    }


def to_requester_in_channel(requester: str, text: str) -> dict:
    """The requester's message posted in the approvers' channel, once response_url is spent."""
    text = f"{mention(requester)} {text}"
    return {"text": clip(text, SECTION_LIMIT), "blocks": [section(text)]}


def direct_message(requester: str, text: str) -> dict:
    """chat.postMessage arguments for a direct message to the requester (needs a bot token)."""
    return {
        "channel": requester,
        "text": clip(text, SECTION_LIMIT),
        "blocks": [section(text)],
        "unfurl_links": False,
    }


# The console's sign-in host differs per partition (policies accept all three).
_SIGNIN_HOSTS = {
    "aws": "signin.aws.amazon.com",
    "aws-us-gov": "signin.amazonaws-us-gov.com",
    "aws-cn": "signin.amazonaws.cn",
}


def switch_role_url(role: RoleSpec | None, request: AccessRequest) -> str:
    partition, account = request.role_arn.split(":")[1], request.role_arn.split(":")[4]
    host = _SIGNIN_HOSTS.get(partition, _SIGNIN_HOSTS["aws"])
    # A role under a path is named with its path in the console's switch-role form.
    role_name = request.role_arn.split(":role/", 1)[1]
    display = f"{request.role}"[:64]
    query = urlencode(
        {"account": account, "roleName": role_name, "displayName": display}, quote_via=quote
    )
    return f"https://{host}/switchrole?{query}"


def cli_command(request: AccessRequest, mfa_serial: str | None = None) -> str:
    command = (
        f"aws sts assume-role --role-arn {request.role_arn} "
        f"--role-session-name {request.session_name}"
    )
    if request.require_mfa:
        command += f" --serial-number {mfa_serial or '<your MFA device ARN>'} --token-code <code>"
    return command


def aws_config_profile(request: AccessRequest) -> str:
    lines = [
        f"[profile {request.role}]",
        f"role_arn = {request.role_arn}",
        "source_profile = default",
        f"role_session_name = {request.session_name}",
    ]
    if request.require_mfa:
        lines.append("mfa_serial = <your MFA device ARN>")
    return "\n".join(lines)


# The profile an Identity Center person signs in with (`aws configure sso`); they name it.
SSO_PROFILE = "<your Identity Center profile>"


def sso_cli_command(request: AccessRequest) -> str:
    """The CLI command for an Identity Center person: from their Identity Center profile."""
    return (
        f"aws sso login --profile {SSO_PROFILE}\n"
        f"aws sts assume-role --role-arn {request.role_arn} "
        f"--role-session-name {request.session_name} --profile {SSO_PROFILE}"
    )


def sso_config_profile(request: AccessRequest) -> str:
    """A ~/.aws/config profile chained from the person's Identity Center profile, the session
    name pinned to their Identity Center user name (the trust statement requires it)."""
    return "\n".join(
        [
            f"[profile {request.role}]",
            f"role_arn = {request.role_arn}",
            f"source_profile = {SSO_PROFILE}",
            f"role_session_name = {request.session_name}",
        ]
    )


def sso_requester_granted(request: AccessRequest, role: RoleSpec | None) -> str:
    """The granted message for an Identity Center person: they switch from their Identity
    Center session, which is role chaining, so each session lasts at most one hour (AWS IAM
    User Guide, "Roles terms and concepts", role chaining)."""
    url = switch_role_url(role, request)
    approved_by = ", ".join(mention(a) for a in request.approvals)
    by = f"Approved by {approved_by}. " if approved_by else ""
    mfa = (
        "\n:warning: This role requires MFA, which an Identity Center session does not carry "
        "into the switch (`aws:MultiFactorAuthPresent`), so the switch will be refused; ask "
        "the role's owners."
        if request.require_mfa
        else ""
    )
    return (
        f":white_check_mark: Your access to `{escape(request.role)}` is granted until "
        f"{when(request.ends_at)} ({utc_text(request.ends_at)}), request `{request.id}`. "
        f"{by}\n"
        f"Switch from your IAM Identity Center session as `{escape(request.session_name)}` "
        "(your Identity Center user name; any other session name is refused).\n"
        f"*Console* (signed in through the AWS access portal): <{url}|switch role>\n"
        f"*CLI:* ```{sso_cli_command(request)}```\n"
        f"*~/.aws/config* (`{SSO_PROFILE}` being your `aws configure sso` profile): "
        f"```{sso_config_profile(request)}```\n"
        "A session switched to from Identity Center lasts at most one hour (role chaining): "
        "switch again, or let the CLI renew it, while the grant lasts. Every session of yours "
        f"on this role ends at {utc_text(request.ends_at)}.{mfa}\n"
        f"Done early? `/access revoke {request.id}`"
    )


def requester_granted(request: AccessRequest, role: RoleSpec | None) -> str:
    if is_sso(request.principal_arn):
        return sso_requester_granted(request, role)
    url = switch_role_url(role, request)
    approved_by = ", ".join(mention(a) for a in request.approvals)
    by = f"Approved by {approved_by}. " if approved_by else ""
    scope = f"\n*Scope:* {scope_text(request)}." if request.scope else ""
    since = f"from {when(request.starts_at)} " if request.starts_at else ""
    return (
        f":white_check_mark: Your access to `{escape(request.role)}` is granted {since}until "
        f"{when(request.ends_at)} ({utc_text(request.ends_at)}), request `{request.id}`. "
        f"{by}{scope}\n"
        f"*Console:* <{url}|switch role>\n"
        f"*CLI:* ```{cli_command(request)}```\n"
        f"*~/.aws/config:* ```{aws_config_profile(request)}```\n"
        f"Done early? `/access revoke {request.id}`"
    )


def requester_update(request: AccessRequest, what: str, by: str | None, detail: str = "") -> str:
    who = f" by {mention(by)}" if by and by != "switchback" else ""
    extra = f": {escape(visible_line(detail))}" if detail else ""
    if what == "failed":
        happened = "could not be granted"
    elif what in ("expired", "lapsed"):  # nobody did these: time did
        happened = f"has {ACTION_WORDS[what]}"
    else:
        happened = f"was {ACTION_WORDS.get(what, what)}"
    return f"Your request `{request.id}` for `{escape(request.role)}` {happened}{who}{extra}."


def requester_reminder(request: AccessRequest, now: datetime) -> str:
    left = left_text(request.ends() - now) if request.ends() else "soon"
    return (
        f":hourglass: Your access to `{escape(request.role)}` (request `{request.id}`) ends in "
        f"{left}, at {when(request.ends_at)} ({utc_text(request.ends_at)}). Sessions end then "
        f"too; save your work. Need longer? `/access extend {request.id} <duration> <reason>` "
        f"(e.g. `/access extend {request.id} 1h still resizing`), approved like a request "
        f"before it ends; or, once it has ended, ask again with "
        f"`/access request {escape(request.role)} …`."
    )


def requester_extended(
    grant: AccessRequest, added: timedelta, asked: timedelta, role: RoleSpec, by: str | None
) -> str:
    """To the requester once an extension is approved: the new end, and whether the role's
    maximum cut it."""
    who = f" by {mention(by)}" if by and by != "switchback" else ""
    return (
        f"Your access to `{escape(grant.role)}` (request `{grant.id}`) was extended{who} by "
        f"{format_duration(added)}{capped_note(added, asked, role)} — now until "
        f"{when(grant.ends_at)} ({utc_text(grant.ends_at)})."
    )


def requester_flagged(
    request: AccessRequest, by: str, why: str = "", was_active: bool = True
) -> str:
    """To the person who broke the glass when an approver flags the grant."""
    reason = f": {escape(visible_line(why))}" if why else ""
    if was_active:
        ended = (
            " Your access is revoked: the trust is removed and your sessions on the role end now."
        )
    else:
        ended = " It had already ended; nothing more changes on AWS."
    return (
        f":no_entry: Your break-glass grant `{request.id}` for `{escape(request.role)}` was "
        f"flagged by {mention(by)}{reason}.{ended} Talk to the approvers of "
        f"`{escape(request.role)}` about it."
    )


# -- scoped grants and scheduled windows (issue 23): the texts the use cases will show --------
def requester_narrowed(request: AccessRequest, by: str) -> str:
    """To the requester when an approver narrowed their pending request to a scope."""
    return (
        f":scissors: {mention(by)} narrowed your request `{request.id}` for "
        f"`{escape(request.role)}` to {scope_text(request)}. If it is approved, that is what "
        f"you get; ask again if you need more."
    )


def requester_scheduled(request: AccessRequest, by: str | None, tz_name: str | None = None) -> str:
    """To the requester when the approval reaching the quorum came before the window's start:
    when it starts (local time and UTC) and ends, that nothing works before, and how to call
    it off."""
    who = f" by {mention(by)}" if by and by != "switchback" else ""
    scope = f" Scope: {scope_text(request)}." if request.scope else ""
    return (
        f":calendar: Your request `{request.id}` for `{escape(request.role)}` was approved"
        f"{who}. It starts {start_text(request, tz_name)} and ends {when(request.ends_at)} "
        f"({utc_text(request.ends_at)}).{scope} Nothing works before the start; you get the "
        f"switch-role link then. Not needed any more? `/access cancel {request.id}`"
    )


def start_reminder(request: AccessRequest, now: datetime, tz_name: str | None = None) -> str:
    """The reminder before a scheduled window starts (core/schedule.py reminder_due)."""
    start = request.starts()
    left = left_text(start - now) if start else "soon"
    return (
        f":alarm_clock: Your window on `{escape(request.role)}` (request `{request.id}`) starts "
        f"in {left}, {start_text(request, tz_name)}, for {format_duration(request.duration)}"
        f"{_scope_note(request)}. You get the switch-role link at the start. Not needed any "
        f"more? `/access cancel {request.id}`"
    )
