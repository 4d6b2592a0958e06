"""The slash-command language: ``request <role> [<duration>] <reason…>``, ``roles``, … (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from chalicelib.core.durations import DurationWords, read_duration

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
        read = read_duration(rest[1:])
        if read.problem:
            return BadCommand(_duration_problem(read, f"extend {_id_shown(rest)}", rest[1:]), False)
        if read.value is None:
            return BadCommand(
                "`extend` takes a grant's id and how much longer, e.g. "
                "`extend 7QK2M9TX4B 1h still resizing`."
            )
        reason = _tail(text, 2 + read.used)
        if len(reason) > MAX_REASON_CHARS:
            return BadCommand(
                f"Your reason is {len(reason):,} characters; keep it within "
                f"{MAX_REASON_CHARS:,}. Nothing was requested.",
                show_usage=False,
            )
        return ExtendCommand(rest[0], read.value, reason)
    if verb in ("request", "breakglass"):
        if not rest:
            return BadCommand(f"Say which role, e.g. `{verb} ec2-admin 1h INC-42 resize the ASG`.")
        role, rest = rest[0].lower(), rest[1:]
        # Never read a duration-like word as the start of the reason: refuse it instead.
        read = read_duration(rest)
        if read.problem:
            problem = _duration_problem(read, f"{verb} {role[:40]}", rest)
            return BadCommand(problem, show_usage=False)
        duration, rest = read.value, rest[read.used :]
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


def _duration_problem(read: DurationWords, before: str, words: list[str]) -> str:
    """One line: what is wrong with the duration, the accepted forms, and for a bare number
    the rule for reasons that start with one (they go after an explicit duration)."""
    problem = (read.problem or "").rstrip()
    if problem and problem[-1] not in ".?!":
        problem += "."
    if read.bare_number:
        problem += (
            " A reason that starts with a number goes after the duration: "
            f"`{before} 1h {words[0][:20]} …`."
        )
    return f"{problem} Nothing was requested."


def _id_shown(rest: list[str]) -> str:
    return rest[0][:20] if rest else "<id>"


def _tail(text: str, skip_words: int) -> str:
    remaining = text.strip()
    for _ in range(skip_words):
        parts = remaining.split(None, 1)
        remaining = parts[1] if len(parts) > 1 else ""
    return remaining.strip()
