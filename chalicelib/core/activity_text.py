"""The activity report for people: one summary line, or the whole report as plain text.

Plain text only: whoever shows it escapes it for its medium (CloudTrail fields are partly
user-controlled).
"""

from __future__ import annotations

from chalicelib.core.activity_model import ActionCount, ActivityReport
from chalicelib.core.model import parse_iso


def clip_name(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _hhmm(text: str | None) -> str:
    return parse_iso(text).strftime("%H:%M") if text else "—"


def _listed(rows: tuple[ActionCount, ...], limit: int, with_resources: bool) -> str:
    parts = []
    for row in rows[:limit]:
        part = f"{row.action} ×{row.count}"
        if with_resources and row.resources:
            part += f" ({', '.join(clip_name(r) for r in row.resources)})"
        parts.append(part)
    if len(rows) > limit:
        parts.append("…")
    return ", ".join(parts)


def summary_line(report: ActivityReport, actions_shown: int = 5) -> str:
    """One line for people, e.g. ``alice used ec2-admin 10:02–10:47 UTC — 214 calls, 9 writes:
    ec2:RunInstances ×2 (i-0abc…), …; 1 denied: iam:CreateUser``. Plain text: whoever shows
    it escapes it for its medium (CloudTrail fields are partly user-controlled)."""
    who = (
        f"{report.person} ({report.session_name})"
        if report.person != report.session_name
        else report.person
    )
    if report.total == 0:
        line = (
            f"{who} made no calls with {report.role} between {_hhmm(report.window_start)} and "
            f"{_hhmm(report.window_end)} UTC"
        )
    else:
        line = (
            f"{who} used {report.role} {_hhmm(report.first_call)}–{_hhmm(report.last_call)} UTC — "
            f"{report.total} {'call' if report.total == 1 else 'calls'}, "
            f"{report.write_count} {'write' if report.write_count == 1 else 'writes'}"
        )
        if report.writes:
            line += ": " + _listed(report.writes, actions_shown, with_resources=True)
    if report.denied:
        line += f"; {report.denied_count} denied: " + _listed(report.denied, actions_shown, False)
    if report.errors:
        line += f"; {report.error_count} failed: " + _listed(report.errors, actions_shown, False)
    if report.truncated:
        line += f" (truncated: more than {report.total + report.not_counted} events)"
    return line


def render_text(report: ActivityReport) -> str:
    """The whole report for a terminal or a page (plain text, several lines)."""
    title = "Activity report" if report.final else "Activity so far (break-glass, hourly)"
    lines = [
        f"{title} for request {report.request_id}",
        summary_line(report),
        f"window read: {report.window_start} – {report.window_end}, regions "
        f"{', '.join(report.regions_read) or '—'}",
        f"calls: {report.total} ({report.read_only} read-only, {report.write_count} writes, "
        f"{report.denied_count} denied, {report.error_count} failed)",
    ]
    for heading, rows in (
        ("writes", report.writes),
        ("denied", report.denied),
        ("failed", report.errors),
    ):
        for row in rows:
            extra = f"  [{', '.join(row.errors)}]" if row.errors else ""
            names = f"  {', '.join(row.resources)}" if row.resources else ""
            lines.append(f"  {heading:<7} {row.action} ×{row.count}{names}{extra}")
    for sign_in in report.sign_ins:
        outcome = f" — {sign_in.error}" if sign_in.error else ""
        lines.append(f"  sign-in {sign_in.at} {sign_in.kind} in {sign_in.region or '—'}{outcome}")
    for chain in report.chaining:
        outcome = f" — {chain.error}" if chain.error else " — allowed"
        lines.append(f"  chain   {chain.at} {chain.action} → {chain.target or '?'}{outcome}")
    if report.regions:
        lines.append("regions: " + ", ".join(f"{r or '—'} {n}" for r, n in report.regions))
    if report.not_counted:
        lines.append(
            f"not counted: {report.not_counted} events under the name {report.session_name} "
            "from other roles, people or times"
        )
    if report.truncated:
        lines.append("TRUNCATED: the event cap was reached; read CloudTrail for the rest")
    return "\n".join(lines)
