"""The slash-command language: ``request <role> [<duration>] <reason…>``, ``roles``, … (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from chalicelib.core.durations import DurationWords, read_duration
from chalicelib.core.schedule import StartWords, read_start

# A reason is a line or two for the approver (a ticket, what for); the ticket holds the rest.
# Longer ones are refused, not cut: a cut could drop the part that matters.
MAX_REASON_CHARS = 1000


@dataclass(frozen=True)
class RequestCommand:
    role: str
    duration: timedelta | None
    reason: str
    break_glass: bool = False  # `breakglass <role> [<duration>] <reason…>`
    # `scope=<name>`: part of the role (checked against the role by core/scopes.py).
    scope: str | None = None
    # `at <when>`: a window that starts later, as typed; core/schedule.py resolve_start reads
    # it in the person's time zone (which the command does not carry).
    start: StartWords | None = None


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
class UnsuspendCommand:
    person: str  # a Slack mention (<@U…>), a Slack user ID or a people.toml name
    role: str


@dataclass(frozen=True)
class BadCommand:
    problem: str
    show_usage: bool = True  # False when the one line says all (a wrong duration, say)


Command = RequestCommand | ExtendCommand | SimpleCommand | IdCommand | UnsuspendCommand | BadCommand


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
    if verb == "unsuspend":
        return _unsuspend(rest)
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
        options = _read_options(verb, role, rest, duration is None)
        if isinstance(options, BadCommand):
            return options
        scope, start, rest, late_duration = options
        duration = duration or late_duration
        # Keep the reason as typed (spacing included) after the words we consumed.
        reason = _tail(text, len(words) - len(rest))
        if len(reason) > MAX_REASON_CHARS:
            return BadCommand(
                f"Your reason is {len(reason):,} characters; keep it within "
                f"{MAX_REASON_CHARS:,} and link the ticket for the rest. Nothing was requested.",
                show_usage=False,
            )
        return RequestCommand(
            role=role,
            duration=duration,
            reason=reason,
            break_glass=verb == "breakglass",
            scope=scope,
            start=start,
        )
    return BadCommand(f"I don't know `{words[0][:40]}`.")


def _read_options(
    verb: str, role: str, words: list[str], duration_missing: bool
) -> tuple[str | None, StartWords | None, list[str], timedelta | None] | BadCommand:
    """``scope=<name>`` and ``at <when>`` after the duration, in either order, once each; a
    duration may also follow them (`request ec2-admin at 22:00 2h …`). Returns the scope, the
    start, the words left (the reason) and a duration read after the options."""
    scope: str | None = None
    start: StartWords | None = None
    rest = words
    while rest:
        word = rest[0].lower()
        if word.startswith("scope="):
            name = word.removeprefix("scope=").strip()
            if scope is not None:
                return BadCommand("Give `scope=` once. Nothing was requested.", False)
            if not name:
                return BadCommand(
                    f"Say which scope, e.g. `{verb} {role[:40]} 1h scope=read-only INC-7 …`; "
                    f"`roles` lists each role's scopes. Nothing was requested.",
                    False,
                )
            scope, rest = name[:64], rest[1:]
            continue
        if word == "at":
            found = read_start(rest[1:])
            if found.problem:
                return BadCommand(f"{found.problem} Nothing was requested.", False)
            if found.value is None:
                break  # `at` begins the reason (`at risk: …`)
            if verb == "breakglass":
                return BadCommand(
                    "Break-glass access is for now and cannot be scheduled; schedule a window "
                    f"with `request {role[:40]} 2h at {found.value.typed} …`. Nothing was "
                    "requested.",
                    False,
                )
            if start is not None:
                return BadCommand("Give `at <time>` once. Nothing was requested.", False)
            start, rest = found.value, rest[1 + found.used :]
            continue
        break
    late: timedelta | None = None
    if duration_missing and rest is not words:
        read = read_duration(rest)
        if read.problem:
            return BadCommand(_duration_problem(read, f"{verb} {role[:40]} …", rest), False)
        late, rest = read.value, rest[read.used :]
    return scope, start, rest, late


def _unsuspend(rest: list[str]) -> Command:
    """``unsuspend <person> <role>``: lift a break-glass suspension (the role's approvers)."""
    if len(rest) != 2:
        return BadCommand("`unsuspend` takes a person and a role, e.g. `unsuspend @alice ops`.")
    return UnsuspendCommand(rest[0], rest[1])


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
