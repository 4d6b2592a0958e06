"""What the approvers' channel and approvers' direct messages say."""

from __future__ import annotations

from datetime import datetime

from chalicelib.core.catalog import RoleSpec
from chalicelib.core.durations import format_duration
from chalicelib.core.identity import describe, is_sso
from chalicelib.core.model import AccessRequest, parse_iso
from chalicelib.core.texts import extension_title, utc_text  # shared with the use cases
from chalicelib.notify.messages.markup import (
    ACTION_WORDS,
    BUTTON_LIMIT,
    REASON_SHOWN,
    SECTION_LIMIT,
    clip,
    escape,
    mention,
    plural,
    quoted,
    review_url,
    scope_text,
    section,
    start_text,
    visible_line,
    when,
)


def _facts(request: AccessRequest, role: RoleSpec | None) -> str:
    description = f" — {escape(role.description)}" if role and role.description else ""
    scope = f"*Scope:* {scope_text(request)}\n" if request.scope else ""
    starts = f"*Starts:* {start_text(request)}\n" if request.starts_at else ""
    # An Identity Center person in words (an IAM user is their Slack name, as before).
    signs_in = (
        f"*Signs in as:* {escape(describe(request.principal_arn))}\n"
        if is_sso(request.principal_arn)
        else ""
    )
    return (
        f"*Requester:* {mention(request.requester)} ({escape(request.requester_name)})\n"
        f"{signs_in}"
        f"*Role:* `{escape(request.role)}`{description}\n"
        f"{scope}{starts}"
        f"*Duration:* {format_duration(request.duration)}\n"
        f"*Reason:* {quoted(request.reason, REASON_SHOWN)}\n"
        f"*Request:* `{request.id}` · approvals {len(request.approvals)} of "
        f"{request.approvals_required}"
    )


def approvers_new_request(request: AccessRequest, role: RoleSpec | None, base_url: str) -> dict:
    text = (
        f"{request.requester_name} requests {request.role} for {format_duration(request.duration)}"
    )
    if request.scope:
        text += f" (scope {request.scope} only)"
    if request.starts_at:
        text += f" from {utc_text(request.starts_at)}"
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


def approval_progress(request: AccessRequest) -> str:
    """``1 of 2 approvals; 1 more needed`` for a request still waiting for approvers."""
    missing = request.approvals_required - len(request.approvals)
    return (
        f"{len(request.approvals)} of {plural(request.approvals_required, 'approval')}; "
        f"{missing} more needed"
    )
