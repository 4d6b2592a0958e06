"""Durations as people type them in Slack: ``15m``, ``2h``, ``1h30m``, ``90s`` in policies."""

from __future__ import annotations

import re
from datetime import timedelta

# [0-9], not \d: \d also matches other scripts' digits, which int() then reads.
_PART = re.compile(r"([0-9]+)([dhms])")
_WHOLE = re.compile(r"^(?:[0-9]+[dhms])+$")
_MAX_DIGITS = 12  # int() refuses very long digit strings with a plain ValueError
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


class DurationError(ValueError):
    """A duration that cannot be read; the message is meant for the person who typed it."""


def parse_duration(text: str) -> timedelta:
    """Read ``1h30m``-style text. Each unit at most once, largest first, total above zero."""
    cleaned = text.strip().lower()
    if not cleaned or not _WHOLE.match(cleaned):
        raise DurationError(f"'{text}' is not a duration; write it like 15m, 2h or 1h30m")
    parts = _PART.findall(cleaned)
    units = [unit for _, unit in parts]
    order = "dhms"
    if len(set(units)) != len(units) or units != sorted(units, key=order.index):
        raise DurationError(f"'{text}' is not a duration; write it like 15m, 2h or 1h30m")
    if any(len(amount) > _MAX_DIGITS for amount, _ in parts):
        raise DurationError(f"'{text[:40]}' is far too long")
    seconds = sum(int(amount) * _UNIT_SECONDS[unit] for amount, unit in parts)
    if seconds <= 0:
        raise DurationError(f"'{text}' is zero; ask for at least 1m")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise DurationError(f"'{text}' is far too long") from None


def looks_like_duration(text: str) -> bool:
    return bool(_WHOLE.match(text.strip().lower()))


def format_duration(value: timedelta) -> str:
    """The shortest ``1h30m`` form; seconds only when there are any."""
    total = int(value.total_seconds())
    if total <= 0:
        return "0m"
    out = []
    for unit in "dhms":
        amount, total = divmod(total, _UNIT_SECONDS[unit])
        if amount:
            out.append(f"{amount}{unit}")
    return "".join(out)
