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
        raise DurationError(f"'{text[:40]}' is not a duration; write it like 15m, 2h or 1h30m")
    parts = _PART.findall(cleaned)
    units = [unit for _, unit in parts]
    order = "dhms"
    if len(set(units)) != len(units) or units != sorted(units, key=order.index):
        raise DurationError(f"'{text[:40]}' is not a duration; write it like 15m, 2h or 1h30m")
    if any(len(amount) > _MAX_DIGITS for amount, _ in parts):
        raise DurationError(f"'{text[:40]}' is far too long")
    seconds = sum(int(amount) * _UNIT_SECONDS[unit] for amount, unit in parts)
    if seconds <= 0:
        raise DurationError(f"'{text[:40]}' is zero; ask for at least 1m")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise DurationError(f"'{text[:40]}' is far too long") from None


def looks_like_duration(text: str) -> bool:
    return bool(_WHOLE.match(text.strip().lower()))


# What people type when they mean a duration: `90`, `1h30`, `30min`, `2hrs`, `1.5h`. Such a
# word is never taken as the start of a reason: it is refused with the duration it likely means.
_UNIT_WORDS = r"d|days?|h|hrs?|hours?|m|mins?|minutes?|s|secs?|seconds?"
_NEAR = re.compile(rf"^[0-9]+(?:[.,][0-9]+)?(?:(?:{_UNIT_WORDS})[0-9]*(?:[.,][0-9]+)?)*$")
_SPELLED = [
    (re.compile(r"days?"), "d"),
    (re.compile(r"hours?|hrs?"), "h"),
    (re.compile(r"minutes?|mins?"), "m"),
    (re.compile(r"seconds?|secs?"), "s"),
]
_NEXT_UNIT = {"d": "h", "h": "m", "m": "s"}


def looks_almost_like_duration(text: str) -> bool:
    """A word that is not a duration but is surely meant as one (``90``, ``1h30``, ``2hrs``)."""
    cleaned = text.strip().lower()
    return bool(_NEAR.match(cleaned)) and not _WHOLE.match(cleaned)


def suggest_duration(text: str) -> str | None:
    """The duration someone most likely meant by ``text`` (``90`` -> ``90m``), if any."""
    cleaned = text.strip().lower()
    if not _NEAR.match(cleaned) or len(cleaned) > 20:
        return None
    for spelled, unit in _SPELLED:
        cleaned = spelled.sub(unit, cleaned)
    cleaned = cleaned.replace(",", ".")
    if cleaned[-1].isdigit():  # a bare number counts in minutes; `1h30` means `1h30m`
        last_unit = next((c for c in reversed(cleaned) if c in _NEXT_UNIT or c == "s"), None)
        if last_unit == "s":
            return None
        cleaned += _NEXT_UNIT.get(last_unit, "m") if last_unit else "m"
    if "." in cleaned:
        parts = re.findall(r"([0-9]+(?:\.[0-9]+)?)([dhms])", cleaned)
        if "".join(a + u for a, u in parts) != cleaned:
            return None
        seconds = round(sum(float(a) * _UNIT_SECONDS[u] for a, u in parts))
        return format_duration(timedelta(seconds=seconds)) if seconds > 0 else None
    try:
        parse_duration(cleaned)
    except DurationError:
        return None
    return cleaned


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
