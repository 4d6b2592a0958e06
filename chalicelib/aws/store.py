"""The store: four repositories over one DynamoDB table (table.py), under today's names.

``Store.requests`` (requests.py), ``.messages`` (outbox messages, messages.py), ``.locks``
(role locks, locks.py) and ``.records`` (cut ledger, Slack requests seen, response_url uses,
break-glass reviews; records.py). ``Repositories`` keeps the store's public methods, each
handing over to one repository, so callers move to the repositories at their own pace;
testkit/fakes.py builds the same face over in-memory repositories (``FakeStore``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from chalicelib.aws.locks import (  # noqa: F401 (the store's names, as callers import them)
    LOCK_RELEASE_SECONDS,
    LOCKED_STEP_SECONDS,
    PENDING_ATTRIBUTE,
    HeldLock,
    LockRepository,
)
from chalicelib.aws.messages import MessageRepository
from chalicelib.aws.messages import message_from as _message_from  # noqa: F401
from chalicelib.aws.records import UNREVIEWED, RecordRepository  # noqa: F401
from chalicelib.aws.requests import RequestRepository
from chalicelib.aws.table import (  # noqa: F401
    DUE_INDEX,
    INDEX_ACTIONS,
    ITEM_ACTIONS,
    LIVE_INDEX,
    PERSON_INDEX,
    RETENTION_SECONDS,
    TRANSACTION_BYTES,
    TRANSACTION_ITEMS,
    TTL_ATTRIBUTE,
    Table,
    table_definition,
)
from chalicelib.core.model import AccessRequest, State
from chalicelib.delivery.message import OutboxMessage
from chalicelib.ports import Locks, Messages, Records, Requests


class Repositories:
    """The store's public methods over four repositories (DynamoDB's or the fakes')."""

    def __init__(self, requests: Requests, messages: Messages, locks: Locks, records: Records):
        self.requests = requests
        self.messages = messages
        self.locks = locks
        self.records = records

    # -- requests ----------------------------------------------------------------------------
    def get_request(self, request_id: str) -> AccessRequest | None:
        return self.requests.get(request_id)

    def create_request(
        self, request: AccessRequest, messages: list[OutboxMessage] = ()
    ) -> AccessRequest:
        return self.requests.create(request, messages)

    def save_request(
        self, request: AccessRequest, messages: list[OutboxMessage] = ()
    ) -> AccessRequest:
        return self.requests.save(request, messages)

    def save_requests(
        self, changes: Sequence[tuple[AccessRequest, Sequence[OutboxMessage]]]
    ) -> list[AccessRequest | None]:
        return self.requests.save_each(changes)

    def save_pair(
        self, first: AccessRequest, second: AccessRequest, messages: list[OutboxMessage] = ()
    ) -> tuple[AccessRequest, AccessRequest]:
        return self.requests.save_pair(first, second, messages)

    def due_requests(self, state: State, until: str) -> list[AccessRequest]:
        return self.requests.due(state, until)

    def requests_in(self, state: State) -> list[AccessRequest]:
        return self.requests.in_state(state)

    def open_grants(self, role_arn: str) -> list[AccessRequest]:
        return self.requests.open_grants(role_arn)

    def pending_of_role(self, role_arn: str) -> list[AccessRequest]:
        return self.requests.pending_of_role(role_arn)

    def get_requests(self, request_ids: set[str]) -> list[AccessRequest]:
        return self.requests.get_many(request_ids)

    def requests_of(self, slack_id: str, limit: int = 50) -> list[AccessRequest]:
        return self.requests.of_person(slack_id, limit)

    def requests_since(self, slack_id: str, since: str | None = None) -> list[AccessRequest]:
        return self.requests.of_person_since(slack_id, since)

    def every_request_since(self, since: str | None = None) -> list[AccessRequest]:
        return self.requests.every_since(since)

    # -- outbox messages ---------------------------------------------------------------------
    def add_message(self, message: OutboxMessage) -> OutboxMessage:
        return self.messages.add(message)

    def save_message(self, message: OutboxMessage) -> OutboxMessage:
        return self.messages.save(message)

    def save_messages(self, messages: Sequence[OutboxMessage]) -> list[OutboxMessage | None]:
        return self.messages.save_each(messages)

    def due_messages(self, until: str) -> list[OutboxMessage]:
        return self.messages.due(until)

    def get_message(self, message_id: str) -> OutboxMessage | None:
        return self.messages.get(message_id)

    # -- locks -------------------------------------------------------------------------------
    def lock(
        self,
        name: str,
        lease_seconds: float = 30.0,
        wait_seconds: float = 20.0,
        clock=time.time,
        sleep=time.sleep,
        hand_over: str | None = None,
    ) -> AbstractContextManager[HeldLock]:
        return self.locks.hold(name, lease_seconds, wait_seconds, clock, sleep, hand_over)

    # -- records -----------------------------------------------------------------------------
    def read_cut_ledger(self, role_arn: str) -> tuple[str | None, int]:
        return self.records.read_cut_ledger(role_arn)

    def write_cut_ledger(self, role_arn: str, text: str, read_version: int) -> None:
        self.records.write_cut_ledger(role_arn, text, read_version)

    def take_response_use(self, request_id: str, limit: int, forget_at: int) -> bool:
        return self.records.take_response_use(request_id, limit, forget_at)

    def first_arrival(self, key: str, forget_at: int) -> tuple[bool, str | None]:
        return self.records.first_arrival(key, forget_at)

    def keep_answer(self, key: str, answer: str, forget_at: int) -> None:
        self.records.keep_answer(key, answer, forget_at)

    def await_review(self, request_id: str, due_at: str) -> None:
        self.records.await_review(request_id, due_at)

    def unreviewed(self, until: str) -> list[str]:
        return self.records.unreviewed(until)

    def reviewed(self, request_id: str) -> None:
        self.records.reviewed(request_id)

    def awaiting_review(self) -> list[str]:
        return self.records.awaiting_review()

    def suspend_break_glass(self, person: str, role: str, request_id: str) -> None:
        self.records.suspend_break_glass(person, role, request_id)

    def break_glass_suspension(self, person: str, role: str) -> str | None:
        return self.records.break_glass_suspension(person, role)

    def lift_break_glass_suspension(self, person: str, role: str) -> None:
        self.records.lift_break_glass_suspension(person, role)


class Store(Repositories):
    """The repositories over one DynamoDB table."""

    def __init__(self, client: Any, table_name: str):
        self.table = Table(client, table_name)
        self._table = table_name  # the deployment's name (aws/grants.py tags its Sids by it)
        super().__init__(
            RequestRepository(self.table),
            MessageRepository(self.table),
            LockRepository(self.table),
            RecordRepository(self.table),
        )

    @property
    def client(self) -> Any:
        """The boto3 DynamoDB client (tests and bench/ hook its events)."""
        return self.table.client
