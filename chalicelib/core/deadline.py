"""Time budgets for callers that must answer in time: a slash command (Slack gives 3 s) and a
review-page button (API Gateway gives 29 s).

``within(seconds)`` opens a budget for the current thread (a context variable, so the local
server's request threads each have their own). Every AWS client checks it before each HTTP
attempt (chalicelib/aws/clients.py): an attempt that could not finish within what is left (connect
plus read timeout of that client) is not sent, and raises BudgetSpent. The role lock waits no
longer than the budget either (chalicelib/aws/store.py). With no budget open (the sweep), nothing
is checked. Standard library only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from chalicelib.core.errors import BudgetSpent


@dataclass
class Budget:
    ends_at: float  # on ``clock``
    clock: Callable[[], float] = time.monotonic
    spent: bool = False  # an AWS call was refused for lack of time
    refused: list[str] = field(default_factory=list)

    def remaining(self) -> float:
        return self.ends_at - self.clock()

    def allow(self, operation: str, worst_case: float) -> None:
        """Raise BudgetSpent unless an attempt taking up to ``worst_case`` seconds still fits."""
        if self.remaining() < worst_case:
            self.spent = True
            self.refused.append(operation)
            raise BudgetSpent(f"no time left for {operation}")


_current: ContextVar[Budget | None] = ContextVar("switchback_budget", default=None)
_patience: ContextVar[float | None] = ContextVar("switchback_lock_patience", default=None)


def current() -> Budget | None:
    return _current.get()


@contextmanager
def within(seconds: float, clock: Callable[[], float] = time.monotonic) -> Iterator[Budget]:
    """Run the block under a budget of ``seconds`` from now (a budget already open and
    shorter wins)."""
    outer = _current.get()
    ends_at = clock() + seconds
    if outer is not None:
        ends_at = min(ends_at, outer.ends_at)
    budget = Budget(ends_at, clock)
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)
        if outer is not None and budget.spent:
            outer.spent = True
            outer.refused += budget.refused


@contextmanager
def cleanup(seconds: float, clock: Callable[[], float] = time.monotonic) -> Iterator[None]:
    """Give a block that undoes something (releasing a lock) at least ``seconds`` of its own,
    even if the caller's budget is spent, and all of the caller's time if more is left (a
    click with 20 s left must not leave its lock behind for want of 0.8 s: one retried
    attempt does not fit in that); with no budget open, nothing changes."""
    outer = _current.get()
    if outer is None:
        yield
        return
    token = _current.set(Budget(clock() + max(seconds, outer.remaining()), clock))
    try:
        yield
    finally:
        _current.reset(token)


@contextmanager
def lock_patience(seconds: float) -> Iterator[None]:
    """Wait at most ``seconds`` for a lock in this block (0: one try; the sweep's first pass)."""
    token = _patience.set(seconds)
    try:
        yield
    finally:
        _patience.reset(token)


def lock_wait(wanted: float, reserve: float) -> float:
    """How long to wait for a lock: ``wanted``, no longer than the block's patience, and never
    past the budget less ``reserve`` (the time the locked step needs to work and answer)."""
    patience = _patience.get()
    if patience is not None:
        wanted = min(wanted, patience)
    budget = _current.get()
    if budget is None:
        return wanted
    return max(0.0, min(wanted, budget.remaining() - reserve))
