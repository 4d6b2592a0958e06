"""What Switchback says in Slack: Block Kit payloads as plain dicts (pure, no slack_sdk import).

All user text goes through ``escape`` so ``<``, ``>`` and ``&`` cannot ping, link or break the
markup, and through ``clip`` so Slack never rejects a block for its length.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote, urlencode

from .durations import format_duration
from .model import AccessRequest, parse_iso
from .policies import RoleSpec

SECTION_LIMIT = 3000
BUTTON_LIMIT = 75
ACTION_WORDS = {
    "approved": "approved",
    "denied": "denied",
    "granted": "granted",
    "expired": "expired",
    "revoked": "revoked",
    "cancelled": "cancelled",
    "lapsed": "lapsed",
    "failed": "failed",
}


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def section(markdown: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(markdown, SECTION_LIMIT)}}


def mention(slack_id: str) -> str:
    return f"<@{slack_id}>"


def when(value: str | None) -> str:
    if not value:
        return "—"
    moment = parse_iso(value)
    # Slack renders this in each reader's own time zone; the fallback is UTC.
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time_secs}}|{value}>"


def review_url(base_url: str, request_id: str) -> str:
    return f"{base_url}/requests/{request_id}"


def _facts(request: AccessRequest, role: RoleSpec | None) -> str:
    description = f" — {escape(role.description)}" if role and role.description else ""
    return (
        f"*Requester:* {mention(request.requester)} ({escape(request.requester_name)})\n"
        f"*Role:* `{escape(request.role)}`{description}\n"
        f"*Duration:* {format_duration(request.duration)}\n"
        f"*Reason:* {escape(request.reason)}\n"
        f"*Request:* `{request.id}` · approvals {len(request.approvals)} of "
        f"{request.approvals_required}"
    )


def approvers_new_request(request: AccessRequest, role: RoleSpec | None, base_url: str) -> dict:
    text = (
        f"{request.requester_name} requests {request.role} for {format_duration(request.duration)}"
    )
    return {
        "text": escape(text),
        "blocks": [
            section(f":key: *Access request* `{request.id}`\n{_facts(request, role)}"),
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "style": "primary",
                        "text": {"type": "plain_text", "text": clip("Review", BUTTON_LIMIT)},
                        "url": review_url(base_url, request.id),
                        "action_id": "review",
                    }
                ],
            },
        ],
    }


def approvers_update(request: AccessRequest, what: str, by: str | None, detail: str = "") -> dict:
    """A follow-up in the approvers' channel: decided, granted, expired…"""
    who = f" by {mention(by)}" if by and by != "switchback" else ""
    extra = f" — {escape(detail)}" if detail else ""
    text = (
        f"Request `{request.id}` ({escape(request.requester_name)}, `{escape(request.role)}`) "
        f"{ACTION_WORDS.get(what, what)}{who}{extra}."
    )
    return {"text": clip(text, SECTION_LIMIT), "blocks": [section(text)]}


def ephemeral(text: str) -> dict:
    """An answer to a slash command that only its sender sees."""
    return {
        "response_type": "ephemeral",
        "text": clip(text, SECTION_LIMIT),
        "blocks": [section(text)],
    }


def to_requester(text: str) -> dict:
    # Messages sent later through response_url must say they replace nothing and stay private.
    return {
        "response_type": "ephemeral",
        "replace_original": False,
        "text": clip(text, SECTION_LIMIT),
        "blocks": [section(text)],
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


def requester_granted(request: AccessRequest, role: RoleSpec | None) -> str:
    url = switch_role_url(role, request)
    return (
        f":white_check_mark: Your access to `{escape(request.role)}` is granted until "
        f"{when(request.ends_at)} (request `{request.id}`).\n"
        f"*Console:* <{url}|switch role>\n"
        f"*CLI:* ```{cli_command(request)}```\n"
        f"*~/.aws/config:* ```{aws_config_profile(request)}```\n"
        f"Done early? `/access revoke {request.id}`"
    )


def requester_update(request: AccessRequest, what: str, by: str | None, detail: str = "") -> str:
    who = f" by {mention(by)}" if by and by != "switchback" else ""
    extra = f": {escape(detail)}" if detail else ""
    return (
        f"Your request `{request.id}` for `{escape(request.role)}` was "
        f"{ACTION_WORDS.get(what, what)}{who}{extra}."
    )


def now_text(now: datetime) -> str:
    return now.strftime("%Y-%m-%d %H:%M:%S UTC")
