"""Named locks in the table (``LOCK#<name>``): one conditional item each, with a lease.

A lease lets a crashed holder's lock lapse by itself (its end is also the item's TTL). A caller
that finds the lock held may leave an id with the live holder instead of waiting (hand-over):
the holder takes it before letting go, and a lock released with ids still in it lapses instead
of vanishing, so whoever takes it next inherits them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from chalicelib.aws.table import TTL_ATTRIBUTE, Table
from chalicelib.core import deadline
from chalicelib.core.errors import (
    AwsUnavailable,
    AwsUncertain,
    LockBusy,
    LockHandedOver,
    StoreConflict,
)

# On a role lock: ids that clicks left with its holder instead of waiting (a string set).
PENDING_ATTRIBUTE = "pending"
# What a locked step needs once it holds the lock, kept free of a caller's budget when waiting.
LOCKED_STEP_SECONDS = 5.0
# Releasing a lock may run past a spent budget by this much (a lock left behind would hold
# its role up for a whole lease); one attempt of one DeleteItem.
LOCK_RELEASE_SECONDS = 0.8


class LockRepository:
    def __init__(self, table: Table):
        self._table = table

    @contextmanager
    def hold(
        self,
        name: str,
        lease_seconds: float = 30.0,
        wait_seconds: float = 20.0,
        clock=time.time,
        sleep=time.sleep,
        hand_over: str | None = None,
    ) -> Iterator[HeldLock]:
        """Hold ``name`` exclusively, for a lease of ``lease_seconds`` at most. Raises LockBusy
        after ``wait_seconds`` (less if the caller's budget is shorter).

        ``hand_over``: an id to leave with a live holder instead of waiting (LockHandedOver):
        the holder takes it with ``take_pending`` before it lets go, and a lock left with ids
        in it hands them to whoever takes it next (``inherited``)."""
        table = self._table
        owner = uuid.uuid4().hex
        key = _key(name)
        # A caller with a deadline (a click) never waits longer than it can still answer in.
        give_up = clock() + deadline.lock_wait(wait_seconds, reserve=LOCKED_STEP_SECONDS)
        pause = 0.05
        held = HeldLock(table, key, owner)
        while True:
            now = clock()
            try:
                before = table.call(
                    "put_item",
                    Item=table.typed(
                        {**key, "owner": owner, TTL_ATTRIBUTE: int(now + lease_seconds) + 1}
                    ),
                    ConditionExpression="attribute_not_exists(pk) OR #expires < :now",
                    ExpressionAttributeNames={"#expires": TTL_ATTRIBUTE},
                    ExpressionAttributeValues=table.typed({":now": int(now)}),
                    ReturnValues="ALL_OLD",
                )
                held.inherited = _pending_of(before.get("Attributes"))
                break
            except (StoreConflict, AwsUncertain) as error:
                if table.maybe_ours(error) and table.holds(key, owner, "owner"):
                    break  # an earlier attempt took it; its answer was lost
                if isinstance(error, AwsUncertain):
                    raise
                if hand_over is not None and self.leave_with_holder(name, hand_over, now):
                    raise LockHandedOver(f"{name}: {hand_over} left with its holder") from None
                if now >= give_up:
                    raise LockBusy(f"{name} is locked by another process") from None
                sleep(pause)
                pause = min(pause * 2, 1.0)
        try:
            yield held
        finally:
            try:
                with deadline.cleanup(LOCK_RELEASE_SECONDS):  # even when the budget is spent
                    self._release(key, owner)
            except AwsUnavailable:
                pass  # AWS is slow or the budget is spent: the lease lapses by itself

    def leave_with_holder(self, name: str, item_id: str, now: float) -> bool:
        """Add ``item_id`` to a live lock's pending ids; False if no live holder has it."""
        try:
            self._table.call(
                "update_item",
                Key=self._table.typed(_key(name)),
                UpdateExpression="ADD #p :ids",
                ConditionExpression="attribute_exists(pk) AND #expires >= :now",
                ExpressionAttributeNames={"#p": PENDING_ATTRIBUTE, "#expires": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":ids": {"SS": [item_id]}, ":now": {"N": str(int(now))}},
            )
        except StoreConflict:
            return False  # released or lapsed meanwhile: try to take it instead
        return True

    def _release(self, key: dict, owner: str) -> None:
        """Delete our lock; if ids were left with it since our last ``take_pending``, end our
        lease instead, so whoever takes it next inherits them."""
        table = self._table
        names = {"#o": "owner", "#p": PENDING_ATTRIBUTE}
        mine = table.typed({":me": owner})
        try:
            table.call(
                "delete_item",
                Key=table.typed(key),
                ConditionExpression="#o = :me AND attribute_not_exists(#p)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=mine,
            )
            return
        except StoreConflict:
            pass  # not ours any more, or ids were left with it
        try:
            table.call(
                "update_item",
                Key=table.typed(key),
                UpdateExpression="SET #expires = :lapsed",
                ConditionExpression="#o = :me",
                ExpressionAttributeNames={"#o": "owner", "#expires": TTL_ATTRIBUTE},
                ExpressionAttributeValues={**mine, ":lapsed": {"N": "0"}},
            )
        except StoreConflict:
            pass  # our lease lapsed and someone else holds it now: not ours to touch


class HeldLock:
    """A lock this process holds: the ids a lapsed holder left with it, and the ids others
    leave with it while we hold it."""

    def __init__(self, table: Table, key: dict, owner: str):
        self._table, self._key, self._owner = table, key, owner
        self.inherited: set[str] = set()

    def take_pending(self) -> set[str]:
        """The ids left with the lock since we took it (or last asked), removed from it."""
        try:
            answer = self._table.call(
                "update_item",
                Key=self._table.typed(self._key),
                UpdateExpression="REMOVE #p",
                ConditionExpression="#o = :me AND attribute_exists(#p)",
                ExpressionAttributeNames={"#o": "owner", "#p": PENDING_ATTRIBUTE},
                ExpressionAttributeValues=self._table.typed({":me": self._owner}),
                ReturnValues="UPDATED_OLD",
            )
        except (StoreConflict, AwsUnavailable):
            return set()  # none left, or not ours: the lock's next holder or the sweep has them
        return _pending_of(answer.get("Attributes"))


def _key(name: str) -> dict:
    return {"pk": f"LOCK#{name}", "sk": "LOCK"}


def _pending_of(item: dict | None) -> set[str]:
    return set((item or {}).get(PENDING_ATTRIBUTE, {}).get("SS", []))
