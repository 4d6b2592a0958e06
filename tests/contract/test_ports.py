"""The DynamoDB repositories and the fakes both have every method of the Protocols they stand
for (chalicelib/ports.py), with the same parameters; the contract suite checks what they do."""

from __future__ import annotations

import inspect

import pytest

from chalicelib import ports
from chalicelib.aws.locks import HeldLock, LockRepository
from chalicelib.aws.messages import MessageRepository
from chalicelib.aws.records import RecordRepository
from chalicelib.aws.requests import RequestRepository
from chalicelib.aws.role_marks import RoleMarks
from chalicelib.aws.store import Repositories, Store
from testkit import fakes

PAIRS = [
    (ports.Requests, RequestRepository, fakes.FakeRequests),
    (ports.Messages, MessageRepository, fakes.FakeMessages),
    (ports.Locks, LockRepository, fakes.FakeLocks),
    (ports.HeldLock, HeldLock, fakes.FakeHeldLock),
    (ports.Records, RecordRepository, fakes.FakeRecords),
    (ports.RoleChecks, RoleMarks, fakes.FakeRoleChecks),
]


def methods(cls: type) -> dict[str, list[str]]:
    return {
        name: list(inspect.signature(member).parameters)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


@pytest.mark.parametrize(("port", "dynamodb", "fake"), PAIRS, ids=lambda c: c.__name__)
def test_both_implementations_have_the_ports_methods(port, dynamodb, fake) -> None:
    wanted = methods(port)
    assert wanted
    for implementation in (dynamodb, fake):
        found = methods(implementation)
        assert {name: found.get(name) for name in wanted} == wanted, implementation


def test_the_fake_store_has_the_stores_public_methods() -> None:
    assert issubclass(fakes.FakeStore, Repositories)
    assert set(methods(Store)) - set(methods(fakes.FakeStore)) == set()
