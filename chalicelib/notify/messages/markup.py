"""Slack markup shared by every message: escaping, clipping, sections, mentions, plain answers."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import timedelta

from chalicelib.core.durations import format_duration
from chalicelib.core.groups import is_group
from chalicelib.core.model import AccessRequest, parse_iso
from chalicelib.core.schedule import local_text

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
    "scheduled": "approved for its later start",
    "started": "started",
    "narrowed": "narrowed to a scope",
}


ACTIONS_SHOWN = 20  # a scope's actions listed in a message; the review page lists them all


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


def scope_text(request: AccessRequest) -> str:
    """```read-only`` only: `ec2:Describe*`, `ec2:Get*` — everything else denied`` for a
    scoped request; empty for the whole role."""
    if not request.scope:
        return ""
    shown = request.scope_actions[:ACTIONS_SHOWN]
    listed = ", ".join(f"`{escape(a)}`" for a in shown)
    more = len(request.scope_actions) - len(shown)
    if more > 0:
        listed += f" and {more} more"
    return f"`{escape(request.scope)}` only: {listed} — every other action is denied"


def start_text(request: AccessRequest, tz_name: str | None = None) -> str:
    """When a scheduled window starts, in Slack's own rendering of the reader's time, and in
    UTC (with the person's local time when ``tz_name`` is known); empty if not scheduled."""
    if not request.starts_at:
        return ""
    return f"{when(request.starts_at)} ({local_text(parse_iso(request.starts_at), tz_name)})"


def plural(count: int, noun: str) -> str:
    """``1 approval``, ``2 approvals``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


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


def left_text(delta: timedelta) -> str:
    """Time left, to the minute once it is more than a couple of minutes."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds >= 120:
        seconds -= seconds % 60
    return format_duration(timedelta(seconds=seconds)) if seconds else "0s"
