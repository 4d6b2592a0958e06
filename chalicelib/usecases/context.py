"""What every use case shares: the policies, the store, the role writer, the notification
port, the clock, where links point and who is in a Slack user group.

One mutable object, so that the facade (chalicelib/service.py) can swap the catalog or move
the clock for all the use cases at once (tests do both).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib.core.activity import CloudTrailPort
from chalicelib.core.activity_schedule import DEFAULT_DELAY
from chalicelib.core.events import Event
from chalicelib.core.groups import Members, no_groups
from chalicelib.core.model import AccessRequest, utc

if TYPE_CHECKING:
    from chalicelib.aws.grants import RoleWriter
    from chalicelib.aws.store import Store
    from chalicelib.core.catalog import Catalog
    from chalicelib.notify.port import Notifications
    from chalicelib.ports import RoleChecks

BROKER = "switchback"  # the actor of what Switchback does by itself (grant, expire, lapse)
# Who the broker acts for in this thread's pass: BROKER, or an operator (``aws:<ARN>``) who
# ran the sweep from the operator CLI; the audit entries of what the pass does name them.
_acting: ContextVar[str] = ContextVar("switchback_acting", default=BROKER)


def acting() -> str:
    """The actor of what the broker does now (BROKER unless an operator started it)."""
    return _acting.get()


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    token = _acting.set(actor)
    try:
        yield
    finally:
        _acting.reset(token)


def system_clock() -> datetime:
    return utc(datetime.now(UTC))


@dataclass
class Context:
    catalog: Catalog
    store: Store
    writer: RoleWriter
    # The notification port: told what happened; its subscribers decide who hears it.
    notify: Notifications
    clock: Callable[[], datetime] = system_clock
    base_url: str = ""  # where links in messages point
    # Who is in a Slack user group (approvers and requesters may name one): asked at every
    # decision, answered from a cache at most five minutes old.
    groups: Members = no_groups
    # A person's Slack time zone (IANA name), None when unknown: scheduled windows are read
    # in it (chalicelib/delivery/slack_time_zones.py).
    time_zone: Callable[[str], str | None] = lambda _user: None
    # The role checks the sweep owes (marks, the idle cursor: usecases/role_checks.py); None:
    # the sweep reads every role every pass.
    role_checks: RoleChecks | None = None
    # Activity reports: where CloudTrail is read (None: not here), and how long after a grant.
    cloudtrail: CloudTrailPort | None = None
    activity_delay: timedelta = DEFAULT_DELAY

    def event(
        self,
        name: str,
        request: AccessRequest | None,
        actor: str | None = None,
        detail: str = "",
        **more,
    ) -> Event:
        """``name`` happened to ``request`` now, by ``actor``."""
        return Event(name, self.clock(), request, actor, detail, base_url=self.base_url, **more)
