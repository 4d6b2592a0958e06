"""Locks: one holder at a time, a lease that lapses, ids handed over to a live holder."""

from __future__ import annotations

import threading
import time

import pytest

from chalicelib.core.errors import LockBusy, LockHandedOver


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_lock_has_one_holder_until_released(store) -> None:
    with store.lock("role:x") as held:
        assert held.inherited == set()
        with pytest.raises(LockBusy):
            with store.lock("role:x", wait_seconds=0):
                pass
        with store.lock("role:y", wait_seconds=0):
            pass  # another name is another lock
    with store.lock("role:x", wait_seconds=0):
        pass  # released: free again


def test_a_lock_is_released_when_its_holder_fails(store) -> None:
    with pytest.raises(RuntimeError):
        with store.lock("role:x"):
            raise RuntimeError("the locked step failed")
    with store.lock("role:x", wait_seconds=0):
        pass


def test_a_waiter_gets_the_lock_once_it_is_released(store) -> None:
    slept: list[float] = []
    held = store.lock("role:x")
    held.__enter__()

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        held.__exit__(None, None, None)  # the holder lets go while we wait

    with store.lock("role:x", wait_seconds=5, sleep=sleep):
        pass
    assert len(slept) == 1


def test_a_dead_holders_lock_lapses_with_its_lease(store) -> None:
    clock = Clock()
    held = store.lock("role:y", lease_seconds=5, clock=clock)
    held.__enter__()  # a process that dies here never releases
    clock.now = 1005.0
    with pytest.raises(LockBusy):
        with store.lock("role:y", wait_seconds=0, clock=clock):
            pass  # lease still running
    clock.now = 1007.0
    with store.lock("role:y", wait_seconds=0, clock=clock):
        pass  # lease over: taken over


def test_a_live_holder_takes_the_ids_left_with_it(store) -> None:
    with store.lock("role:x") as held:
        with pytest.raises(LockHandedOver):
            with store.lock("role:x", wait_seconds=0, hand_over="R1"):
                pass
        assert store.locks.leave_with_holder("role:x", "R2", time.time())
        assert held.take_pending() == {"R1", "R2"}
        assert held.take_pending() == set()
    assert not store.locks.leave_with_holder("role:x", "R3", time.time())  # released: no holder


def test_hand_over_with_no_holder_takes_the_lock(store) -> None:
    with store.lock("role:x", wait_seconds=0, hand_over="R1") as held:
        assert held.inherited == set()
        assert held.take_pending() == set()


def test_ids_left_unclaimed_pass_to_the_next_holder_once(store) -> None:
    with store.lock("role:x") as held:
        assert store.locks.leave_with_holder("role:x", "R1", time.time())
        assert held.take_pending() == {"R1"}
        assert store.locks.leave_with_holder("role:x", "R2", time.time())
        # released without taking R2: the lock lapses instead of vanishing
    assert not store.locks.leave_with_holder(
        "role:x", "R9", time.time()
    )  # a lapsed lock: no holder
    with store.lock("role:x", wait_seconds=0) as next_holder:
        assert next_holder.inherited == {"R2"}
    with store.lock("role:x", wait_seconds=0) as after:
        assert after.inherited == set()  # taken once, gone


def test_a_holder_whose_lease_lapsed_takes_nothing_from_the_next(store) -> None:
    clock = Clock()
    late = store.lock("role:x", lease_seconds=5, clock=clock)
    held = late.__enter__()
    clock.now = 1010.0
    with store.lock("role:x", wait_seconds=0, clock=clock) as now_holder:
        assert store.locks.leave_with_holder("role:x", "R1", clock.now)
        assert held.take_pending() == set()  # not ours any more
        late.__exit__(None, None, None)  # nor ours to release
        assert now_holder.take_pending() == {"R1"}
        with pytest.raises(LockBusy):
            with store.lock("role:x", wait_seconds=0, clock=clock):
                pass


def test_a_lock_serialises_read_modify_write(store) -> None:
    counter = {"value": 0}

    def bump() -> None:
        for _ in range(5):
            with store.lock("role:z"):
                value = counter["value"]
                threading.Event().wait(0.002)
                counter["value"] = value + 1

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter["value"] == 20
