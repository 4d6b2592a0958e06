"""The slash-command language: ``request <role> [<duration>] <reason…>``, ``roles``, … (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from chalicelib.core.durations import (
    DurationError,
    looks_almost_like_duration,
    looks_like_duration,
    parse_duration,
    suggest_duration,
)

# A reason is a line or two for the approver (a ticket, what for); the ticket holds the rest.
# Longer ones are refused, not cut: a cut could drop the part that matters.
MAX_REASON_CHARS = 1000


@dataclass(frozen=True)
class RequestCommand:
    role: str
    duration: timedelta | None
    reason: str
    break_glass: bool = False  # `breakglass <role> [<duration>] <reason…>`


@dataclass(frozen=True)
class ExtendCommand:
    request_id: str
    duration: timedelta
    reason: str  # optional: may be empty


@dataclass(frozen=True)
class SimpleCommand:
    name: str  # roles, list, help


@dataclass(frozen=True)
class IdCommand:
    name: str  # cancel, revoke, approve, deny
    request_id: str


@dataclass(frozen=True)
class BadCommand:
    problem: str
    show_usage: bool = True  # False when the one line says all (a wrong duration, say)


Command = RequestCommand | ExtendCommand | SimpleCommand | IdCommand | BadCommand


def parse_command(text: str) -> Command:
    words = text.split()
    if not words:
        return SimpleCommand("help")
    verb, rest = words[0].lower(), words[1:]
    if verb in ("help", "roles", "list"):
        return SimpleCommand(verb)
    if verb in ("cancel", "revoke", "approve", "deny"):
        if len(rest) != 1:
            return BadCommand(f"`{verb}` takes one request id, e.g. `{verb} 7QK2M9TX4B`.")
        return IdCommand(verb, rest[0])
    if verb == "extend":
        if len(rest) >= 2 and looks_almost_like_duration(rest[1]):
            if not looks_like_duration(rest[1]):
                return BadCommand(_not_a_duration(rest[1]), show_usage=False)
        if len(rest) < 2 or not looks_like_duration(rest[1]):
            return BadCommand(
                "`extend` takes a grant's id and how much longer, e.g. "
                "`extend 7QK2M9TX4B 1h still resizing`."
            )
        try:
            duration = parse_duration(rest[1])
        except DurationError as error:
            return BadCommand(str(error), show_usage=False)
        reason = _tail(text, 3)
        if len(reason) > MAX_REASON_CHARS:
            return BadCommand(
                f"Your reason is {len(reason):,} characters; keep it within "
                f"{MAX_REASON_CHARS:,}. Nothing was requested.",
                show_usage=False,
            )
        return ExtendCommand(rest[0], duration, reason)
    if verb in ("request", "breakglass"):
        if not rest:
            return BadCommand(f"Say which role, e.g. `{verb} ec2-admin 1h INC-42 resize the ASG`.")
        role, rest = rest[0].lower(), rest[1:]
        duration = None
        if rest and looks_like_duration(rest[0]):
            try:
                duration = parse_duration(rest[0])
            except DurationError as error:
                return BadCommand(str(error), show_usage=False)
            rest = rest[1:]
        elif rest and looks_almost_like_duration(rest[0]):
            # Never read it as the start of the reason: the person meant a duration.
            return BadCommand(_not_a_duration(rest[0]), show_usage=False)
        # Keep the reason as typed (spacing included) after the words we consumed.
        reason = _tail(text, len(words) - len(rest))
        if len(reason) > MAX_REASON_CHARS:
            return BadCommand(
                f"Your reason is {len(reason):,} characters; keep it within "
                f"{MAX_REASON_CHARS:,} and link the ticket for the rest. Nothing was requested.",
                show_usage=False,
            )
        return RequestCommand(
            role=role, duration=duration, reason=reason, break_glass=verb == "breakglass"
        )
    return BadCommand(f"I don't know `{words[0][:40]}`.")


def _not_a_duration(word: str) -> str:
    shown = word[:20]
    meant = suggest_duration(word)
    if meant:
        return f"`{shown}` is not a duration. Did you mean `{meant}`? Nothing was requested."
    return f"`{shown}` is not a duration; write it like `15m`, `2h` or `1h30m`."


def _tail(text: str, skip_words: int) -> str:
    remaining = text.strip()
    for _ in range(skip_words):
        parts = remaining.split(None, 1)
        remaining = parts[1] if len(parts) > 1 else ""
    return remaining.strip()
