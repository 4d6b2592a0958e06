"""Outbox messages: added once, saved on the version read, due until sent."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.core.errors import StoreConflict
from tests.contract.kit import a_message, at


def test_an_added_message_is_version_one_and_reads_back_exactly(store) -> None:
    added = store.add_message(a_message("m1", fallback_url="http://127.0.0.1:9/y"))
    assert added == replace(a_message("m1", fallback_url="http://127.0.0.1:9/y"), version=1)
    assert store.get_message("m1") == added
    assert store.get_message("m9") is None


def test_adding_an_id_twice_conflicts_and_keeps_the_first(store) -> None:
    first = store.add_message(a_message("m1", payload='{"text": "first"}'))
    with pytest.raises(StoreConflict):
        store.add_message(a_message("m1", payload='{"text": "second"}'))
    assert store.get_message("m1") == first


def test_a_save_on_a_stale_read_conflicts_and_changes_nothing(store) -> None:
    read = store.add_message(a_message("m1"))
    sent = store.save_message(replace(read, status="SENT", attempts=1))
    assert sent.version == 2
    with pytest.raises(StoreConflict):
        store.save_message(replace(read, attempts=1, last_error="timeout"))
    assert store.get_message("m1") == sent
    with pytest.raises(StoreConflict):
        store.save_message(a_message("m2"))  # never added
    assert store.get_message("m2") is None


def test_only_pending_messages_are_due_by_their_next_attempt(store) -> None:
    store.add_message(a_message("m1", next_attempt_at=at(3)))
    store.add_message(a_message("m2", next_attempt_at=at(1)))
    store.add_message(a_message("m3", next_attempt_at=at(9)))
    sent = store.add_message(a_message("m4", next_attempt_at=at(0)))
    store.save_message(replace(sent, status="SENT"))
    gave_up = store.add_message(a_message("m5", next_attempt_at=at(0)))
    store.save_message(replace(gave_up, status="GAVE_UP"))
    assert [m.id for m in store.due_messages(at(3))] == ["m2", "m1"]
    assert [m.id for m in store.due_messages(at(0))] == []
    retried = store.save_message(replace(store.get_message("m3"), next_attempt_at=at(2)))
    assert [m.id for m in store.due_messages(at(2))] == ["m2", "m3"]
    assert store.due_messages(at(2))[1] == retried


def test_saving_several_writes_each_and_a_stale_one_costs_the_others_nothing(store) -> None:
    reads = [store.add_message(a_message(f"m{n}")) for n in range(3)]
    store.save_message(replace(reads[1], attempts=1))  # a sweep took it meanwhile
    saved = store.save_messages([replace(m, status="SENT", attempts=1) for m in reads])
    assert saved[1] is None
    assert [s.version for s in (saved[0], saved[2])] == [2, 2]
    assert [store.get_message(m.id).status for m in reads] == ["SENT", "PENDING", "SENT"]
    assert store.save_messages([]) == []


def test_saving_more_messages_than_one_transaction_holds(store) -> None:
    reads = [store.add_message(a_message(f"m{n:03d}")) for n in range(120)]
    saved = store.save_messages([replace(m, status="SENT") for m in reads])
    assert all(s is not None and s.version == 2 for s in saved)
    assert store.due_messages("9999") == []
