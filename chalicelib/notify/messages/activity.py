"""The activity report of a grant, as a Slack message."""

from __future__ import annotations

from chalicelib.core.activity_model import ActivityReport
from chalicelib.core.activity_text import summary_line
from chalicelib.notify.messages.markup import (
    SECTION_LIMIT,
    clip,
    escape,
    review_url,
    sections,
    visible_line,
    when,
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
