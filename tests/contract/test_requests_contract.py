"""Requests: versions, conflicts, changes with their messages all or nothing, the queries."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.core.errors import StoreConflict
from chalicelib.core.model import State, iso, note
from tests.contract.kit import NOW, OTHER_ROLE, ROLE, a_message, a_request, at, moved


def ids(requests) -> list[str]:
    return [r.id for r in requests]


# -- versions and conflicts --------------------------------------------------------------------
def test_a_new_request_is_version_one_and_reads_back_exactly(store) -> None:
    saved = store.create_request(a_request(response_url="https://hooks.example/x"))
    assert saved.version == 1
    assert store.get_request(saved.id) == saved
    assert store.get_request("NOSUCHID00") is None


def test_creating_an_existing_id_conflicts_and_keeps_the_first(store) -> None:
    first = store.create_request(a_request(reason="first"))
    with pytest.raises(StoreConflict):
        store.create_request(a_request(reason="second"))
    assert store.get_request(first.id) == first


def test_each_save_moves_the_version_on(store) -> None:
    saved = store.create_request(a_request())
    again = store.save_request(note(saved, "U0BOB", "looked", NOW))
    assert again.version == 2
    assert store.save_request(note(again, "U0BOB", "looked", NOW)).version == 3
    assert store.get_request(saved.id).version == 3


def test_a_save_on_a_stale_read_conflicts_and_changes_nothing(store) -> None:
    read = store.create_request(a_request())
    cancelled = store.save_request(moved(read, State.CANCELLED))
    with pytest.raises(StoreConflict):
        store.save_request(moved(read, State.DENIED))
    assert store.get_request(read.id) == cancelled


def test_saving_a_request_never_stored_conflicts(store) -> None:
    with pytest.raises(StoreConflict):
        store.save_request(a_request())
    assert store.get_request(a_request().id) is None


# -- a change and its messages -----------------------------------------------------------------
def test_a_new_request_stores_its_messages_with_it(store) -> None:
    store.create_request(a_request(), [a_message("m1"), a_message("m2")])
    assert store.get_message("m1") == replace(a_message("m1"), version=1)
    assert [m.id for m in store.due_messages(at(1))] == ["m1", "m2"]


def test_a_change_that_conflicts_stores_none_of_its_messages(store) -> None:
    read = store.create_request(a_request())
    store.save_request(note(read, "U0BOB", "looked", NOW))
    with pytest.raises(StoreConflict):
        store.save_request(moved(read, State.DENIED), [a_message("m1")])
    with pytest.raises(StoreConflict):
        store.create_request(a_request(), [a_message("m2")])
    assert store.get_message("m1") is None
    assert store.get_message("m2") is None


def test_a_message_id_already_stored_fails_the_whole_change(store) -> None:
    store.add_message(a_message("m1", payload="{}"))
    read = store.create_request(a_request())
    with pytest.raises(StoreConflict):
        store.save_request(moved(read, State.DENIED), [a_message("m2"), a_message("m1")])
    assert store.get_request(read.id) == read
    assert store.get_message("m2") is None


def test_a_change_with_more_messages_than_a_transaction_holds_is_refused(store) -> None:
    too_many = [a_message(f"m{n}") for n in range(100)]
    with pytest.raises(ValueError):
        store.create_request(a_request(), too_many)
    read = store.create_request(a_request())
    with pytest.raises(ValueError):
        store.save_requests([(moved(read, State.DENIED), too_many)])
    assert store.get_request(read.id) == read
    assert store.get_message("m0") is None


# -- pairs and batches -------------------------------------------------------------------------
def _active(request_id: str, store, ends_in: float = 30):
    return store.create_request(a_request(request_id, State.ACTIVE, ends_at=at(ends_in)))


def test_a_pair_is_written_together_with_its_messages(store) -> None:
    grant = _active("G000000001", store)
    extension = store.create_request(a_request("X000000001", extends=grant.id))
    one, two = store.save_pair(
        replace(note(grant, "U0BOB", "extended", NOW), ends_at=at(90)),
        moved(extension, State.EXTENDED),
        [a_message("m1", grant.id)],
    )
    assert (one.version, two.version) == (2, 2)
    assert store.get_request(grant.id) == one
    assert store.get_request(extension.id) == two
    assert store.get_message("m1").version == 1


def test_a_pair_with_one_stale_read_writes_neither(store) -> None:
    grant = _active("G000000001", store)
    extension = store.create_request(a_request("X000000001", extends=grant.id))
    store.save_request(note(extension, "U0CAROL", "looked", NOW))  # someone else, meanwhile
    with pytest.raises(StoreConflict):
        store.save_pair(
            replace(grant, ends_at=at(90)), moved(extension, State.EXTENDED), [a_message("m1")]
        )
    assert store.get_request(grant.id) == grant
    assert store.get_request(extension.id).state is State.PENDING
    assert store.get_message("m1") is None


def test_a_batch_writes_every_change_with_its_own_messages(store) -> None:
    reads = [_active(f"G00000000{n}", store) for n in range(3)]
    saved = store.save_requests(
        [(moved(r, State.EXPIRED), [a_message(f"m{r.id}", r.id)]) for r in reads]
    )
    assert [s.version for s in saved] == [2, 2, 2]
    assert [store.get_request(r.id) for r in reads] == saved
    assert all(store.get_message(f"m{r.id}") for r in reads)


def test_a_stale_change_in_a_batch_comes_back_none_and_costs_the_others_nothing(store) -> None:
    reads = [_active(f"G00000000{n}", store) for n in range(3)]
    store.save_request(note(reads[1], "aws:operator", "looked", NOW))  # meanwhile
    saved = store.save_requests(
        [(moved(r, State.EXPIRED), [a_message(f"m{r.id}", r.id)]) for r in reads]
    )
    assert saved[1] is None
    assert [store.get_request(r.id).state for r in reads] == [
        State.EXPIRED,
        State.ACTIVE,
        State.EXPIRED,
    ]
    assert [bool(store.get_message(f"m{r.id}")) for r in reads] == [True, False, True]


def test_a_batch_larger_than_one_transaction_is_all_written(store) -> None:
    reads = [_active(f"G{n:09d}", store) for n in range(40)]  # 40 x 3 items: two transactions
    changes = [
        (moved(r, State.EXPIRED), [a_message(f"a{r.id}", r.id), a_message(f"b{r.id}", r.id)])
        for r in reads
    ]
    saved = store.save_requests(changes)
    assert all(s is not None and s.version == 2 for s in saved)
    assert {r.state for r in store.get_requests({r.id for r in reads})} == {State.EXPIRED}
    assert len(store.due_messages(at(1))) == 80


# -- queries -----------------------------------------------------------------------------------
def test_the_due_query_holds_only_work_that_is_due_by_its_time(store) -> None:
    store.create_request(a_request("0000000001", State.ACTIVE, ends_at=at(5)))
    store.create_request(a_request("0000000002", State.ACTIVE, ends_at=at(120)))
    done = store.create_request(a_request("0000000003", State.ACTIVE, ends_at=at(4)))
    store.save_request(moved(done, State.EXPIRED))
    store.create_request(a_request("0000000004", State.ACTIVE, ends_at=at(3)))
    store.create_request(a_request("0000000005"))  # pending: deadline in an hour
    store.create_request(a_request("0000000006", State.APPROVED, ends_at=at(2)))
    assert ids(store.due_requests(State.ACTIVE, at(10))) == ["0000000004", "0000000001"]
    assert ids(store.due_requests(State.ACTIVE, at(5))) == ["0000000004", "0000000001"]
    assert ids(store.due_requests(State.PENDING, at(59))) == []
    assert ids(store.due_requests(State.PENDING, at(60))) == ["0000000005"]
    assert ids(store.due_requests(State.APPROVED, at(10))) == ["0000000006"]
    assert store.due_requests(State.EXPIRED, "9999") == []  # finished: never due


def test_requests_in_a_state_are_the_sweeps_work_in_it(store) -> None:
    store.create_request(a_request("0000000001", State.ACTIVE, ends_at=at(5)))
    store.create_request(a_request("0000000002", State.ACTIVE, ends_at=at(120)))
    store.create_request(a_request("0000000003"))
    denied = store.create_request(a_request("0000000004"))
    store.save_request(moved(denied, State.DENIED))
    assert ids(store.requests_in(State.ACTIVE)) == ["0000000001", "0000000002"]
    assert ids(store.requests_in(State.PENDING)) == ["0000000003"]
    assert store.requests_in(State.DENIED) == []


def test_open_grants_are_a_roles_active_then_approved_requests_oldest_first(store) -> None:
    def created(request_id: str, minutes: float, state: State, role: str = ROLE):
        return store.create_request(
            a_request(request_id, state, created_at=at(minutes), ends_at=at(90), role_arn=role)
        )

    created("0000000001", 3, State.APPROVED)
    created("0000000002", 2, State.ACTIVE)
    created("0000000003", 1, State.ACTIVE)
    created("0000000004", 0, State.PENDING)
    created("0000000005", 0, State.ACTIVE, OTHER_ROLE)
    store.save_request(moved(created("0000000006", 0, State.ACTIVE), State.EXPIRED))
    assert ids(store.open_grants(ROLE)) == ["0000000003", "0000000002", "0000000001"]
    assert ids(store.open_grants(OTHER_ROLE)) == ["0000000005"]
    assert store.open_grants("arn:aws:iam::123456789012:role/None") == []


def test_pending_of_a_role_oldest_first_and_gone_once_decided(store) -> None:
    def created(request_id: str, minutes: float, role: str = ROLE):
        return store.create_request(a_request(request_id, created_at=at(minutes), role_arn=role))

    created("0000000001", 2)
    created("0000000002", 1)
    decided = created("0000000003", 0)
    created("0000000004", 0, OTHER_ROLE)
    store.create_request(a_request("0000000005", State.ACTIVE, ends_at=at(9)))
    assert ids(store.pending_of_role(ROLE)) == ["0000000003", "0000000002", "0000000001"]
    store.save_request(moved(decided, State.APPROVED, ends_at=at(30)))
    assert ids(store.pending_of_role(ROLE)) == ["0000000002", "0000000001"]
    assert ids(store.open_grants(ROLE)) == ["0000000005", "0000000003"]


def test_requests_by_id_read_back_by_id_leaving_out_unknown_ones(store) -> None:
    for n in (3, 1, 2):
        store.create_request(a_request(f"000000000{n}"))
    found = store.get_requests({"0000000002", "0000000003", "0000000001", "0000000009"})
    assert ids(found) == ["0000000001", "0000000002", "0000000003"]
    assert found[0] == store.get_request("0000000001")
    assert store.get_requests(set()) == []


def test_more_requests_by_id_than_one_read_holds(store) -> None:
    wanted = {f"R{n:09d}" for n in range(105)}  # BatchGetItem reads 100 keys at a time
    for request_id in sorted(wanted):
        store.create_request(a_request(request_id))
    assert ids(store.get_requests(wanted)) == sorted(wanted)


def test_a_persons_requests_newest_first_up_to_a_limit(store) -> None:
    for n in range(4):
        store.create_request(a_request(f"000000000{n}", created_at=iso(NOW.replace(hour=n))))
    store.create_request(a_request("0000000009", requester="U0BOB"))
    assert ids(store.requests_of("U0ALICE")) == [f"000000000{n}" for n in (3, 2, 1, 0)]
    assert ids(store.requests_of("U0ALICE", limit=2)) == ["0000000003", "0000000002"]
    assert ids(store.requests_of("U0BOB")) == ["0000000009"]
    assert store.requests_of("U0NOBODY") == []


def test_a_persons_requests_since_a_moment_oldest_first_in_every_state(store) -> None:
    for n in range(4):
        store.create_request(a_request(f"000000000{n}", created_at=iso(NOW.replace(hour=n))))
    store.create_request(a_request("0000000005", State.DENIED, created_at=at(600)))
    store.create_request(a_request("0000000009", requester="U0BOB"))
    everything = ["0000000000", "0000000001", "0000000002", "0000000003", "0000000005"]
    assert ids(store.requests_since("U0ALICE")) == everything
    since = iso(NOW.replace(hour=2))
    assert ids(store.requests_since("U0ALICE", since)) == everything[2:]
    assert store.requests_since("U0NOBODY", since) == []


def test_every_request_since_a_moment_whoever_made_it_oldest_first(store) -> None:
    store.create_request(a_request("0000000001", created_at=iso(NOW.replace(hour=1))))
    store.create_request(a_request("0000000002", State.DENIED, created_at=iso(NOW.replace(hour=2))))
    store.create_request(
        a_request("0000000003", requester="U0GONE", created_at=iso(NOW.replace(hour=3)))
    )
    store.add_message(a_message("m1"))  # not a request: never listed
    assert ids(store.every_request_since()) == ["0000000001", "0000000002", "0000000003"]
    assert ids(store.every_request_since(iso(NOW.replace(hour=2)))) == ["0000000002", "0000000003"]
