"""Small records: a role's cut ledger, Slack requests seen, response_url uses, reviews."""

from __future__ import annotations

import threading

import pytest

from chalicelib.core.errors import StoreConflict
from tests.contract.kit import OTHER_ROLE, ROLE, at

FORGET_AT = 1_900_000_000


def test_a_cut_ledger_is_written_on_the_version_read(store) -> None:
    assert store.read_cut_ledger(ROLE) == (None, 0)
    store.write_cut_ledger(ROLE, '{"alice": 1}', 0)
    assert store.read_cut_ledger(ROLE) == ('{"alice": 1}', 1)
    with pytest.raises(StoreConflict):
        store.write_cut_ledger(ROLE, '{"bob": 1}', 0)  # read before the first write
    store.write_cut_ledger(ROLE, '{"alice": 2}', 1)
    assert store.read_cut_ledger(ROLE) == ('{"alice": 2}', 2)
    assert store.read_cut_ledger(OTHER_ROLE) == (None, 0)


def test_response_url_uses_stop_at_the_limit_for_each_request(store) -> None:
    assert [store.take_response_use("R1", 3, FORGET_AT) for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    assert store.take_response_use("R2", 3, FORGET_AT)
    assert store.take_response_use("R1", 4, FORGET_AT)  # a higher limit counts on from 3
    assert not store.take_response_use("R1", 4, FORGET_AT)


def test_senders_side_by_side_never_take_more_uses_than_the_limit(store) -> None:
    taken: list[bool] = []

    def send() -> None:
        for _ in range(3):
            taken.append(store.take_response_use("R1", 5, FORGET_AT))

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # a sender that lost every race may give up early; the count still never passes 5
    later = [store.take_response_use("R1", 5, FORGET_AT) for _ in range(6)]
    assert taken.count(True) + later.count(True) == 5


def test_a_signed_request_arrives_first_once_and_its_answer_is_kept(store) -> None:
    assert store.first_arrival("k1", FORGET_AT) == (True, None)
    assert store.first_arrival("k1", FORGET_AT) == (False, None)  # no answer yet
    store.keep_answer("k1", "Request 0000000001 sent", FORGET_AT)
    assert store.first_arrival("k1", FORGET_AT) == (False, "Request 0000000001 sent")
    assert store.first_arrival("k2", FORGET_AT) == (True, None)


def test_copies_arriving_at_once_have_one_first(store) -> None:
    firsts: list[bool] = []
    threads = [
        threading.Thread(target=lambda: firsts.append(store.first_arrival("k", FORGET_AT)[0]))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(firsts) == [False, False, False, True]


def test_reviews_are_due_by_their_time_until_reviewed(store) -> None:
    store.await_review("0000000002", at(30))
    store.await_review("0000000001", at(10))
    store.await_review("0000000001", at(10))  # again: idempotent
    store.await_review("0000000003", at(90))
    assert store.unreviewed(at(9)) == []
    assert store.unreviewed(at(30)) == ["0000000001", "0000000002"]
    store.reviewed("0000000001")
    store.reviewed("0000000009")  # never awaited: nothing to do
    assert store.unreviewed(at(90)) == ["0000000002", "0000000003"]


def test_an_owed_activity_report_is_due_by_its_time_until_made(store) -> None:
    records = store.records
    records.owe_report("0000000002", at(30))
    records.owe_report("0000000001", at(10))
    records.owe_report("0000000001", at(10))  # again: idempotent
    assert records.owed_reports(at(9)) == []
    assert records.owed_reports(at(30)) == [("0000000001", at(10), 0), ("0000000002", at(30), 0)]
    records.owe_report("0000000001", at(70), reported=1)  # an hourly one made: the next
    assert records.owed_reports(at(30)) == [("0000000002", at(30), 0)]
    records.report_made("0000000002")
    records.report_made("0000000009")  # never owed: nothing to do
    assert records.owed_reports(at(90)) == [("0000000001", at(70), 1)]


def test_the_last_activity_report_is_kept(store) -> None:
    records = store.records
    assert records.kept_report("0000000001") is None
    records.keep_report("0000000001", '{"a": 1}')
    records.keep_report("0000000001", '{"a": 2}')
    assert records.kept_report("0000000001") == '{"a": 2}'
    assert records.kept_report("0000000002") is None


def test_every_review_still_owed_is_listed_due_or_not(store) -> None:
    assert store.awaiting_review() == []
    store.await_review("0000000002", at(30))
    store.await_review("0000000001", at(900))
    assert store.awaiting_review() == ["0000000002", "0000000001"]  # soonest due first
    store.reviewed("0000000002")
    assert store.awaiting_review() == ["0000000001"]
