"""Durations as people type them in Slack: ``15m``, ``2h``, ``1h30m``, ``90s`` in policies."""

from __future__ import annotations

import re
from dataclasses import dataclass
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


# -- durations in a command's words ---------------------------------------------------------------
# In `/access request <role> [<duration>] <reason…>` the words right after the role are the
# duration when they look like one: `2h`, `1h30m`, `2 hours`, `90 minutes`, `1 day`, `2 h`,
# `1 hour 30 minutes`. Words there that look like a duration but are not one (`1:30`, `-5m`,
# `1.5h`, `2hours30`, a bare `90`, `two hours`) are refused, never read as the reason's start.
ACCEPTED_FORMS = "Durations look like `15m`, `2h`, `1h30m` or `2 hours`."
UNIT_WORDS = {
    "d": "d",
    "day": "d",
    "days": "d",
    "h": "h",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
    "m": "m",
    "min": "m",
    "mins": "m",
    "minute": "m",
    "minutes": "m",
    "s": "s",
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
}
_NUMBER = re.compile(r"^[0-9]+$")
_SIGNED = re.compile(r"^[-+\u2212\u2013][0-9]")  # -5m, +5m, −5m (minus sign), –5m (en dash)
_CLOCK = re.compile(r"^[0-9]{1,3}:[0-9]{2}(?::[0-9]{2})?$")  # 1:30, 01:30:00
_DECIMAL = re.compile(r"^[0-9]+[.,][0-9]+$")  # 1.5: hours or minutes? Not guessed
# PT1H, P1D (ISO 8601); not `P1`, an incident priority
_ISO = re.compile(r"^p(?:[0-9]+d)?(?:t(?:[0-9]+h)?(?:[0-9]+m)?(?:[0-9]+s)?)?$")
_NUMBER_WORDS = frozenset(
    "a an half one two three four five six seven eight nine ten eleven twelve fifteen twenty "
    "thirty forty fifty sixty ninety couple few several".split()
)
_TRAILING = ".,;:!?"
# Spelled-out amounts are refused only before these (`a second look` is a reason).
_SPELLED_UNITS = frozenset(
    {"day", "days", "hour", "hours", "hr", "hrs", "min", "mins", "minute", "minutes"}
)


@dataclass(frozen=True)
class DurationWords:
    """What the words at a duration's place say: a duration (``value``, read from the first
    ``used`` words), nothing duration-like (``value`` None, ``used`` 0, ``problem`` None), or
    something duration-like that is not a duration (``problem``, meant for the person)."""

    value: timedelta | None
    used: int
    problem: str | None = None
    bare_number: bool = False  # the problem is a number without a unit (`2 servers down`)


def _units(compact: str) -> str:
    return "".join(unit for _, unit in _PART.findall(compact))


def _piece(words: list[str], at: int) -> tuple[str, int] | None:
    """The duration piece starting at ``words[at]`` in compact form, and how many words it
    takes: ``2h`` (1 word), ``2 hours`` (2 words); None when there is none."""
    if at >= len(words):
        return None
    word = words[at].lower()
    if _WHOLE.match(word.rstrip(_TRAILING)):  # `2h,` ends a duration as well as `2h`
        return word.rstrip(_TRAILING), 1
    unit = words[at + 1].lower().rstrip(_TRAILING) if at + 1 < len(words) else ""
    if _NUMBER.match(word) and unit in UNIT_WORDS:
        return word + UNIT_WORDS[unit], 2
    return None


def read_duration(words: list[str]) -> DurationWords:
    """Read the duration at the start of ``words`` (see the module's rules above).

    A piece in a smaller unit right after another joins it (`1h 30m`, `1 hour 30 minutes`,
    `1 hour and 30 minutes`); anything else after the duration is the reason's start, even a
    number (`1h 2 servers down`)."""
    first = _piece(words, 0)
    if first is None:
        return _not_a_duration(words)
    compact, used = first
    while True:
        at = used + 1 if used < len(words) and words[used].lower() == "and" else used
        following = _piece(words, at)
        if following is None:
            break
        units, last = _units(following[0]), _units(compact)
        order = "dhms"
        if not units or not last or order.index(units[0]) <= order.index(last[-1]):
            break
        if list(units) != sorted(units, key=order.index) or len(set(units)) != len(units):
            break
        compact += following[0]
        used = at + following[1]
    typed = " ".join(words[:used])
    try:
        return DurationWords(parse_duration(compact), used)
    except DurationError as error:
        return DurationWords(None, used, str(error).replace(f"'{compact[:40]}'", f"'{typed[:40]}'"))


def _not_a_duration(words: list[str]) -> DurationWords:
    if not words:
        return DurationWords(None, 0)
    word = words[0].lower()
    bare = word.rstrip(_TRAILING) or word
    shown = words[0][:20]
    if _SIGNED.match(word):
        return DurationWords(
            None,
            0,
            f"`{shown}` is not a duration: a duration is how long, never negative. "
            f"{ACCEPTED_FORMS}",
        )
    if _CLOCK.match(bare) or (_ISO.match(bare) and any(c.isdigit() for c in bare)):
        return DurationWords(None, 0, f"`{shown}` is not a duration. {ACCEPTED_FORMS}")
    spelled = [w.lower().rstrip(_TRAILING) for w in words[1:3]]
    if word in _NUMBER_WORDS and any(w in _SPELLED_UNITS for w in spelled):
        typed = " ".join(w[:20] for w in words[: 2 + (spelled[0] not in _SPELLED_UNITS)])
        return DurationWords(
            None,
            0,
            f"`{typed}` is not a duration: write the number in digits. {ACCEPTED_FORMS}",
        )
    if _DECIMAL.match(bare):
        return DurationWords(None, 0, f"`{shown}` is not a duration. {ACCEPTED_FORMS}")
    if bare != word and _NEAR.match(bare):
        meant = suggest_duration(bare)
        hint = f" Did you mean `{meant}`?" if meant else ""
        return DurationWords(None, 0, f"`{shown}` is not a duration.{hint} {ACCEPTED_FORMS}")
    if looks_almost_like_duration(word):
        meant = suggest_duration(word)
        if meant:
            problem = f"`{shown}` is not a duration. Did you mean `{meant}`? {ACCEPTED_FORMS}"
        else:
            problem = f"`{shown}` is not a duration; write it like `15m`, `2h` or `1h30m`."
        return DurationWords(None, 0, problem, bare_number=bool(_NUMBER.match(word)))
    return DurationWords(None, 0)
