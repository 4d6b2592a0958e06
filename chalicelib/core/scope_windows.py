"""When a person's sessions are held to which actions: the windows of their scoped grants and
the union of what is live at each moment (the scope deny itself is written by
session_limits.scope_statements)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from chalicelib.core.model import utc


@dataclass(frozen=True)
class ScopeWindow:
    """One live grant of a person, for their scope deny: when it lets them in, until when,
    and the actions it allows (None: the whole role)."""

    start: datetime
    end: datetime
    actions: tuple[str, ...] | None = None


Allowed = tuple[str, ...] | None  # a scope's actions; None: the whole role


def _union(found: Sequence[Allowed]) -> Allowed:
    if any(a is None for a in found):
        return None
    merged: dict[str, str] = {}  # IAM compares action names without regard to case
    for actions in found:
        for action in actions:
            merged.setdefault(action.lower(), action)
    return tuple(sorted(merged.values(), key=str.lower))


def person_scope(windows: Sequence[ScopeWindow]) -> list[tuple[tuple[str, ...], tuple]]:
    """When one person's sessions are held to which actions: ``(actions, (from, until))``
    pieces, ``from``/``until`` None where open. At each moment they may use the union of
    what their grants live then allow (the whole role if one of them is not scoped).

    Before their first start nobody trusts them (their first piece reaches back); after
    their last end the live cut denies everything (their last piece reaches on). In a gap
    between two windows of theirs the union of both sides holds: the earlier window's
    sessions live on until the live cut at the last end, as for people without scopes."""
    if not windows or all(w.actions is None for w in windows):
        return []
    points = sorted({utc(w.start) for w in windows} | {utc(w.end) for w in windows})
    pieces: list[list] = []
    for low, high in zip(points, points[1:], strict=False):
        covering = [w.actions for w in windows if utc(w.start) <= low and utc(w.end) >= high]
        pieces.append([low, high, _union(covering) if covering else "gap"])
    for index, piece in enumerate(pieces):
        if piece[2] == "gap":
            sides = [p[2] for p in (pieces[index - 1], pieces[index + 1])]
            piece[2] = _union([side for side in sides if side != "gap"])
    merged: list[list] = []
    for piece in pieces:
        if merged and merged[-1][2] == piece[2]:
            merged[-1][1] = piece[1]
        else:
            merged.append(piece)
    found = []
    for index, (low, high, allowed) in enumerate(merged):
        if allowed is None:
            continue
        since = None if index == 0 else low
        until = None if index == len(merged) - 1 else high
        found.append((allowed, (since, until)))
    return found
