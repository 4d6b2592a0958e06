"""The cut ledger: what the store remembers of each person on a role (how long a closed cut is
kept, which sessions it covers, which grants hold their trust), so that IAM need not (pure; the
policy itself is chalicelib/core/session_limits.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.core.model import iso, parse_iso, utc

LONGEST_SESSION = timedelta(hours=12)  # the highest MaxSessionDuration IAM allows
PROPAGATION_MARGIN = timedelta(minutes=5)  # IAM changes take seconds, rarely minutes, to apply


@dataclass(frozen=True)
class LedgerEntry:
    """What the store remembers of one person on one role (IAM need not remember it)."""

    trusted_until: datetime  # the latest end a statement of ours trusted them until
    keep: datetime  # their closed cut is kept until then
    closed: bool = False
    # Every session of their ended windows was issued before this: the end of the trust
    # they had then (STS checks a statement's DateLessThan when it issues a session).
    closed_until: datetime | None = None
    # The live grants (request ids) that hold this person's trust: the store's own record of
    # them, read consistently under the lock (an index query made before it may be stale).
    requests: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        found = {
            "trusted_until": iso(self.trusted_until),
            "keep": iso(self.keep),
            "closed": self.closed,
            "closed_until": iso(self.closed_until) if self.closed_until else None,
        }
        if self.requests:
            found["requests"] = list(self.requests)
        return found

    @classmethod
    def from_dict(cls, data: Mapping) -> LedgerEntry:
        until = data.get("closed_until")
        return cls(
            trusted_until=parse_iso(data["trusted_until"]),
            keep=parse_iso(data["keep"]),
            closed=bool(data.get("closed")),
            closed_until=parse_iso(until) if until else None,
            requests=tuple(data.get("requests") or ()),
        )


Ledger = dict[str, LedgerEntry]  # session name -> entry


def ledger_to_json(ledger: Ledger) -> str:
    return json.dumps({name: e.to_dict() for name, e in sorted(ledger.items())}, sort_keys=True)


def ledger_from_json(text: str | None) -> Ledger:
    if not text:
        return {}
    return {name: LedgerEntry.from_dict(data) for name, data in json.loads(text).items()}


def trusted(ledger: Ledger, name: str, until: datetime) -> Ledger:
    """``name`` is written into trust until ``until``: remember how long to keep a cut."""
    until = utc(until)
    entry = ledger.get(name)
    if entry is None:
        entry = LedgerEntry(until, until + LONGEST_SESSION)
    elif until > entry.trusted_until:
        entry = replace(entry, trusted_until=until, keep=max(entry.keep, until + LONGEST_SESSION))
    return {**ledger, name: entry}


def closed(ledger: Ledger, name: str, now: datetime, live_start: datetime | None = None) -> Ledger:
    """A window of ``name`` ended at or before ``now``: their sessions get a closed cut, kept
    12 hours past the latest end any trust statement of ours gave them (no session can be
    issued after it). Someone we never trusted (a hand edit) is kept 12 hours past now, and
    their sessions are taken as issued up to ``PROPAGATION_MARGIN`` after now (the removal of
    a hand-written statement takes effect only as IAM propagates it)."""
    now = utc(now)
    entry = ledger.get(name)
    if entry is None:
        entry = LedgerEntry(now + PROPAGATION_MARGIN, now + PROPAGATION_MARGIN + LONGEST_SESSION)
    keep = max(entry.keep, entry.trusted_until + LONGEST_SESSION)
    if live_start is None:  # their last window is over: its sessions predate its trust's end
        until = max(entry.closed_until or entry.trusted_until, entry.trusted_until)
    else:  # a grant that began at ``live_start`` goes on: deny what was issued before it
        until = max(entry.closed_until or utc(live_start), utc(live_start))
    return {**ledger, name: replace(entry, keep=keep, closed=True, closed_until=until)}


def holding(ledger: Ledger, grants: Mapping[str, Iterable[str]]) -> Ledger:
    """Record which live grants (session name -> request ids) hold each person's trust."""
    return {
        name: replace(entry, requests=tuple(sorted(set(grants.get(name, ())))))
        for name, entry in ledger.items()
    }


def held_by(ledger: Ledger) -> set[str]:
    """The request ids the ledger says hold trust on the role."""
    return {request_id for entry in ledger.values() for request_id in entry.requests}


def aged(ledger: Ledger, live: Mapping[str, object], now: datetime) -> Ledger:
    """Entries nobody needs any more: no live grant and past ``keep``."""
    return {n: e for n, e in ledger.items() if n in live or e.keep > utc(now)}


def next_aging(ledger: Ledger, now: datetime) -> datetime | None:
    """When the next closed cut is due to age out of the policy (its ``keep``), or None: the
    role has to be read then to remove it, even if nothing else happens to it."""
    now = utc(now)
    kept = [e.keep for e in ledger.values() if e.closed and e.keep > now]
    return min(kept) if kept else None
