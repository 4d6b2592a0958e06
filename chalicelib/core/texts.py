"""Plain words about a request that the use cases and every channel share (pure).

Times as people read them (``2026-11-28 11:00:00 UTC``) and what an extension asks. Slack's
markup (escaping, mentions, Block Kit) stays in chalicelib/notify/messages.py, which uses these.
"""

from __future__ import annotations

from datetime import datetime

from chalicelib.core.durations import format_duration
from chalicelib.core.model import AccessRequest, parse_iso


def now_text(now: datetime) -> str:
    return now.strftime("%Y-%m-%d %H:%M:%S UTC")


def utc_text(value: str | None) -> str:
    return now_text(parse_iso(value)) if value else "—"


def extension_title(extension: AccessRequest) -> str:
    """``extend 7QK2M9TX4B by 1h``: what an extension asks, as its review page shows it."""
    return f"extend {extension.extends} by {format_duration(extension.duration)}"


# What a revoke tells the revoker when IAM took all of it, and when there was nothing to take
# (a scheduled window called off before its start). The review page redirects after either,
# and shows any other outcome in words.
REVOKED_IN_FULL = "The trust is removed and every session of theirs is denied from now on."
NOTHING_WRITTEN = "It had not started: nothing was written to AWS."
