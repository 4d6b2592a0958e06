"""Past requests for an operator: "who had prod-admin last quarter?" (pure).

``tools.admin list --all [--role R] [--since 30d] [--csv]`` reads the requests from the store
and shows them through these functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from chalicelib.core.durations import format_duration, parse_duration
from chalicelib.core.model import AccessRequest, iso

CSV_COLUMNS = (
    "id",
    "role",
    "requester",
    "requester_name",
    "principal_arn",
    "state",
    "break_glass",
    "review",
    "reviewed_by",
    "duration",
    "created_at",
    "ends_at",
    "approvals",
    "extends",
    "reason",
)


def since_moment(text: str | None, now: datetime) -> str | None:
    """``--since 30d`` as the ISO moment it names (None: no limit). Raises DurationError."""
    return iso(now - parse_duration(text)) if text else None


def select(
    requests: Iterable[AccessRequest], role: str | None = None, since: str | None = None
) -> list[AccessRequest]:
    """Requests of every state, of ``role`` if given, created at or after ``since`` (ISO),
    oldest first."""
    chosen = [
        r
        for r in requests
        if (role is None or r.role == role) and (since is None or r.created_at >= since)
    ]
    return sorted(chosen, key=lambda r: (r.created_at, r.id))


def _cell(text: str) -> str:
    # A cell a spreadsheet would run as a formula (=, +, -, @) starts with a quote instead.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_line(cells: Iterable[str]) -> str:
    """RFC 4180: a cell holding a comma, quote or line break is quoted, quotes doubled."""
    quoted = []
    for cell in cells:
        if any(ch in cell for ch in ',"\r\n'):
            cell = '"' + cell.replace('"', '""') + '"'
        quoted.append(cell)
    return ",".join(quoted) + "\n"


def to_csv(requests: Iterable[AccessRequest]) -> str:
    """One row per request, the columns of CSV_COLUMNS; user text cannot become a formula."""
    lines = [_csv_line(CSV_COLUMNS)]
    for r in requests:
        row = {
            "id": r.id,
            "role": r.role,
            "requester": r.requester,
            "requester_name": r.requester_name,
            "principal_arn": r.principal_arn,
            "state": r.state.value,
            "break_glass": "yes" if r.break_glass else "",
            "review": r.review or "",
            "reviewed_by": r.reviewed_by or "",
            "duration": format_duration(r.duration),
            "created_at": r.created_at,
            "ends_at": r.ends_at or "",
            "approvals": " ".join(r.approvals),
            "extends": r.extends or "",
            "reason": r.reason,
        }
        lines.append(_csv_line(_cell(row[c]) for c in CSV_COLUMNS))
    return "".join(lines)
