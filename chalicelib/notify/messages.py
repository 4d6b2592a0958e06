"""What Switchback says in Slack: Block Kit payloads as plain dicts (pure, no slack_sdk import).

All user text goes through ``escape`` so ``<``, ``>`` and ``&`` cannot ping, link or break the
markup, and every section is ``verbatim`` so Slack does not turn a bare ``@here``, ``#channel``
or URL in it into a mention or a link. ``clip`` keeps every block within Slack's limits, so a
long reason is cut with an ellipsis instead of the whole message being refused.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

from chalicelib.core.activity import ActivityReport, summary_line
from chalicelib.core.catalog import RoleSpec
from chalicelib.core.durations import format_duration
from chalicelib.core.extensions import plan_extension
from chalicelib.core.groups import is_group
from chalicelib.core.identity import is_sso
from chalicelib.core.model import AccessRequest, State, iso, parse_iso

SECTION_LIMIT = 3000
BUTTON_LIMIT = 75
BLOCKS_LIMIT = 50  # blocks in one message
REASON_SHOWN = 2000  # characters of a reason in the approvers' message; the page shows it all
ACTION_WORDS = {
    "approved": "approved",
    "denied": "denied",
    "granted": "granted",
    "expired": "expired",
    "revoked": "revoked",
    "cancelled": "cancelled",
    "lapsed": "lapsed",
    "failed": "failed",
    "approval": "approved",
    "extended": "extended",
    "acknowledged": "acknowledged (break-glass reviewed)",
    "flagged": "FLAGGED (break-glass)",
}


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Undo Slack's own escaping of ``&``, ``<`` and ``>`` in the text it sends us, so what is
    stored is what the person typed (and is escaped again wherever it is shown)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# Characters that end a line somewhere (Slack, a browser, a terminal).
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
# Categories that print nothing or rearrange what follows: controls (Cc), format characters
# (Cf: bidi overrides and isolates, zero-width spaces and joiners, BOM, soft hyphen), private
# use (Co) and lone surrogates (Cs).
_INVISIBLE = frozenset({"Cc", "Cf", "Co", "Cs"})
LINE_BREAK_SHOWN = " ⏎ "


def visible_line(text: str) -> str:
    """User text as one line with nothing hidden: line breaks shown as ``⏎``, tabs as spaces,
    and every control, bidirectional or invisible character as ``⟨U+202E⟩``.

    So a reason cannot start a fake line ("Role: prod-admin", "Pre-approved by security") or
    reorder what the approver reads; what it really contains stays visible.
    """
    out = []
    for ch in text.replace("\r\n", "\n"):
        if ch in _LINE_BREAKS:
            out.append(LINE_BREAK_SHOWN)
        elif ch == "\t":
            out.append(" ")
        elif unicodedata.category(ch) in _INVISIBLE:
            out.append(f"⟨U+{ord(ch):04X}⟩")
        else:
            out.append(ch)
    return "".join(out)


def quoted(text: str, limit: int | None = None) -> str:
    """User text for Slack mrkdwn: one visible line, clipped, escaped, in quotation marks.
    Backticks are shown as ``ˋ``: a code span or block of the user's would look like ours."""
    line = visible_line(text)
    if limit is not None:
        line = clip(line, limit)
    return "“" + escape(line).replace("`", "ˋ") + "”"


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, ending in an ellipsis when cut. A cut never leaves half an
    entity (``&am``) or half a link or mention (``<https://…``) behind."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp, semi = cut.rfind("&"), cut.rfind(";")
    if amp > semi and len(cut) - amp <= 5:
        cut = cut[:amp]
    if cut.rfind("<") > cut.rfind(">"):
        cut = cut[: cut.rfind("<")]
    return cut + "…"


def section(markdown: str) -> dict:
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": clip(markdown, SECTION_LIMIT), "verbatim": True},
    }


def sections(lines: Iterable[str]) -> list[dict]:
    """Lines packed into as few sections as fit Slack's limits (a long ``list`` answer)."""
    blocks: list[dict] = []
    current = ""
    for line in lines:
        line = clip(line, SECTION_LIMIT)
        if current and len(current) + 1 + len(line) > SECTION_LIMIT:
            blocks.append(section(current))
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current or not blocks:
        blocks.append(section(current or " "))
    if len(blocks) > BLOCKS_LIMIT:
        blocks = blocks[: BLOCKS_LIMIT - 1] + [section("… and more; the rest is not shown.")]
    return blocks


OPERATOR_PREFIX = "aws:"  # actors named by their AWS identity (tools/admin.py)


def mention(slack_id: str) -> str:
    # An operator acting from the CLI is named by their AWS identity, not a Slack user.
    if slack_id.startswith(OPERATOR_PREFIX):
        return f"an operator (`{slack_id.removeprefix(OPERATOR_PREFIX)}`)"
    if is_group(slack_id):
        return f"<!subteam^{slack_id}>"  # a Slack user group, as Slack mentions one
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
        f"*Reason:* {quoted(request.reason, REASON_SHOWN)}\n"
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
    # detail may hold an approver's words (a deny reason): one line, nothing hidden
    extra = f" — {escape(visible_line(detail))}" if detail else ""
    text = (
        f"Request `{request.id}` ({escape(request.requester_name)}, `{escape(request.role)}`) "
        f"{ACTION_WORDS.get(what, what)}{who}{extra}."
    )
    return {"text": clip(text, SECTION_LIMIT), "blocks": [section(text)]}


def _review_button(base_url: str, request_id: str, label: str = "Review") -> dict:
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "style": "primary",
                "text": {"type": "plain_text", "text": clip(label, BUTTON_LIMIT)},
                "url": review_url(base_url, request_id),
                "action_id": "review",
            }
        ],
    }


def extension_title(extension: AccessRequest) -> str:
    """``extend 7QK2M9TX4B by 1h``: what an extension asks, as its review page shows it."""
    return f"extend {extension.extends} by {format_duration(extension.duration)}"


def approvers_new_extension(extension: AccessRequest, grant: AccessRequest, base_url: str) -> dict:
    text = f"{extension.requester_name} asks to {extension_title(extension)} ({extension.role})"
    reason = quoted(extension.reason, REASON_SHOWN) if extension.reason else "—"
    return {
        "text": escape(text),
        "blocks": [
            section(
                f":hourglass: *Extension request* `{extension.id}`: "
                f"*{escape(extension_title(extension))}*\n"
                f"*Requester:* {mention(extension.requester)} "
                f"({escape(extension.requester_name)})\n"
                f"*Role:* `{escape(extension.role)}` · now ends {when(grant.ends_at)}\n"
                f"*Reason:* {reason}\n"
                f"*Approvals:* {len(extension.approvals)} of {extension.approvals_required}"
            ),
            _review_button(base_url, extension.id),
        ],
    }


def break_glass_alarm(request: AccessRequest, role: RoleSpec | None, base_url: str) -> dict:
    """Loud, and unlike any other message: someone broke the glass."""
    within = format_duration(role.break_glass_review_within) if role else "24h"
    text = (
        f"BREAK-GLASS: {request.requester_name} took {request.role} for "
        f"{format_duration(request.duration)} without approval"
    )
    return {
        "text": f":rotating_light: {escape(text)}",
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": ":rotating_light: BREAK-GLASS access"},
            },
            section(
                f"<!here> *{mention(request.requester)} ({escape(request.requester_name)}) "
                f"took `{escape(request.role)}` for {format_duration(request.duration)} "
                f"without approval.*\n"
                f"*Reason:* {quoted(request.reason, REASON_SHOWN)}\n"
                f"*Request:* `{request.id}` · ends {when(request.ends_at)}\n"
                f"An approver of `{escape(request.role)}` must *Acknowledge* or *Flag* it "
                f"within {within}; Flag revokes it if it is still active."
            ),
            _review_button(base_url, request.id, "Acknowledge or flag"),
        ],
    }


def break_glass_review_reminder(
    request: AccessRequest, role: RoleSpec | None, base_url: str
) -> dict:
    within = format_duration(role.break_glass_review_within) if role else "24h"
    text = (
        f":rotating_light: Break-glass grant `{request.id}` ({escape(request.requester_name)}, "
        f"`{escape(request.role)}`) is still unreviewed after {within}: an approver must "
        f"acknowledge or flag it. <{review_url(base_url, request.id)}|Review>"
    )
    return {"text": clip(text, SECTION_LIMIT), "blocks": [section(text)]}


def approver_direct(payload: dict, approver: str) -> dict:
    """chat.postMessage arguments for one approver's direct copy of a channel message."""
    return {**payload, "channel": approver, "unfurl_links": False}


def approver_followup(request: AccessRequest, what: str, by: str | None) -> dict:
    """The short follow-up to an approver's direct message once the request is decided."""
    who = f" by {mention(by)}" if by and by != "switchback" else ""
    text = (
        f"Request `{request.id}` ({escape(request.requester_name)}, `{escape(request.role)}`) "
        f"{ACTION_WORDS.get(what, what)}{who} — nothing to do."
    )
    return {"text": clip(text, SECTION_LIMIT), "blocks": [section(text)], "unfurl_links": False}


def approvers_reminder(request: AccessRequest, base_url: str, now: datetime) -> dict:
    """The one reminder in the approvers' channel for a request still pending."""
    waited = format_duration(now - parse_iso(request.created_at))
    text = (
        f":bell: Still waiting for a decision after {waited}: request `{request.id}` "
        f"({escape(request.requester_name)}, `{escape(request.role)}`, "
        f"{format_duration(request.duration)}) — {approval_progress(request)}. "
        f"<{review_url(base_url, request.id)}|Review>"
    )
    return {"text": clip(text, SECTION_LIMIT), "blocks": [section(text)]}


def plural(count: int, noun: str) -> str:
    """``1 approval``, ``2 approvals``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def approval_progress(request: AccessRequest) -> str:
    """``1 of 2 approvals; 1 more needed`` for a request still waiting for approvers."""
    missing = request.approvals_required - len(request.approvals)
    return (
        f"{len(request.approvals)} of {plural(request.approvals_required, 'approval')}; "
        f"{missing} more needed"
    )


def ephemeral(text: str) -> dict:
    """An answer to a slash command that only its sender sees."""
    return {
        "response_type": "ephemeral",
        "text": clip(text, SECTION_LIMIT),
        "blocks": [section(text)],
    }


def ephemeral_lines(lines: list[str]) -> dict:
    """An ephemeral answer too long for one section (``list``, ``roles``)."""
    return {
        "response_type": "ephemeral",
        "text": clip("\n".join(lines), SECTION_LIMIT),
        "blocks": sections(lines),
    }


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
    return (
        f":white_check_mark: Your access to `{escape(request.role)}` is granted until "
        f"{when(request.ends_at)} ({utc_text(request.ends_at)}), request `{request.id}`. "
        f"{by}\n"
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


def now_text(now: datetime) -> str:
    return now.strftime("%Y-%m-%d %H:%M:%S UTC")


def utc_text(value: str | None) -> str:
    return now_text(parse_iso(value)) if value else "—"


def left_text(delta: timedelta) -> str:
    """Time left, to the minute once it is more than a couple of minutes."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds >= 120:
        seconds -= seconds % 60
    return format_duration(timedelta(seconds=seconds)) if seconds else "0s"


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
    if request.state is State.APPROVED:
        return ", being granted"
    return ""


# -- answers the use cases will give (pure text; see each docstring for where it is used) ------
def request_pending(
    request: AccessRequest,
    role: RoleSpec,
    asked: timedelta | None,
    requester: str,
    command: str = "/access",
) -> str:
    """The answer to ``request``: always the duration that will be used, saying when it is the
    role's default (``asked`` None), so a duration misread or left out shows at once."""
    duration = format_duration(request.duration)
    if asked is None:
        how_long = (
            f"for {duration}, the role's default (ask for another with "
            f"`{command} request {escape(role.name)} 2h …`)"
        )
    else:
        how_long = f"for {duration}"
    approvers = ", ".join(mention(a) for a in role.approvers if a != requester) or "nobody"
    return (
        f":hourglass_flowing_sand: Request `{request.id}` for `{escape(role.name)}` "
        f"{how_long} is pending. "
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


def _cloudtrail_text(text: str, limit: int = 80) -> str:
    """Text from CloudTrail (resource names, error codes: partly chosen by whoever made the
    call) for mrkdwn: one visible line, clipped, escaped, no backticks of its own."""
    return escape(clip(visible_line(text), limit)).replace("`", "ˋ")


def activity_report(report: ActivityReport, base_url: str) -> dict:
    """The activity report of a grant (core/activity.py), for the requester's thread and the
    approvers' channel: the summary, then writes, denied and failed calls, sign-ins, role
    chaining and regions, each line escaped."""
    title = "Activity report" if report.final else "Break-glass activity so far"
    summary = _cloudtrail_text(summary_line(report), SECTION_LIMIT)
    lines = [f":mag: *{title}* · request `{report.request_id}`\n{summary}"]
    for heading, rows in (
        ("Writes", report.writes),
        ("Denied", report.denied),
        ("Failed", report.errors),
    ):
        for row in rows:
            names = ", ".join(_cloudtrail_text(r, 40) for r in row.resources)
            codes = ", ".join(_cloudtrail_text(c, 60) for c in row.errors)
            lines.append(
                f"• {heading.lower()}: `{_cloudtrail_text(row.action)}` ×{row.count}"
                + (f" — {names}" if names else "")
                + (f" ({codes})" if codes else "")
            )
    for sign_in in report.sign_ins:
        outcome = f" — {_cloudtrail_text(sign_in.error)}" if sign_in.error else ""
        lines.append(
            f"• sign-in: {_cloudtrail_text(sign_in.kind)} at {when(sign_in.at)} in "
            f"{_cloudtrail_text(sign_in.region or '—')}{outcome}"
        )
    for chain in report.chaining:
        outcome = f" — {_cloudtrail_text(chain.error)}" if chain.error else " — allowed"
        lines.append(
            f"• role chaining: `{_cloudtrail_text(chain.action)}` → "
            f"`{_cloudtrail_text(chain.target or '?', 200)}`{outcome}"
        )
    if report.regions:
        seen = ", ".join(f"{_cloudtrail_text(r or '—')} {n}" for r, n in report.regions)
        lines.append(f"Regions: {seen}")
    if report.truncated:
        lines.append(":warning: Truncated: more events than one report reads; see CloudTrail.")
    lines.append(f"<{review_url(base_url, report.request_id)}|Review page>")
    text = f"{title}: {summary}"
    return {"text": clip(text, SECTION_LIMIT), "blocks": sections(lines)}
