"""A person's break-glass on a role, suspended after a flag until an approver lifts it."""

from __future__ import annotations


def test_a_suspension_names_its_flagged_request_until_lifted(store) -> None:
    assert store.break_glass_suspension("U0ALICE", "ops") is None
    store.suspend_break_glass("U0ALICE", "ops", "0000000001")
    store.suspend_break_glass("U0ALICE", "ops", "0000000001")  # again: idempotent
    assert store.break_glass_suspension("U0ALICE", "ops") == "0000000001"
    # one person on one role only
    assert store.break_glass_suspension("U0ALICE", "ec2-admin") is None
    assert store.break_glass_suspension("U0DAVE", "ops") is None
    store.suspend_break_glass("U0ALICE", "ops", "0000000002")  # a later flag: the later one
    assert store.break_glass_suspension("U0ALICE", "ops") == "0000000002"
    store.lift_break_glass_suspension("U0ALICE", "ops")
    assert store.break_glass_suspension("U0ALICE", "ops") is None
    store.lift_break_glass_suspension("U0ALICE", "ops")  # nothing to lift: no error
