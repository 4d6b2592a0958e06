"""DynamoDB adapter: requests, the outbox and role locks in one table.

Every change of a request is one conditional put on its ``version``, so two approvers racing
cannot both win; the messages the change owes are written in the same TransactWriteItems, so a
process that dies after the change can never have lost them. The ``due`` index is sparse: only
requests and messages that still need work carry its keys, so the sweeper's Queries grow with
the work due, not with the history kept. The ``live`` index holds each role's PENDING,
APPROVED and ACTIVE requests (also sparse), so a role's open work is read without anyone
else's.

Writes are idempotent across botocore's retries: each carries a fresh ``write_token``, and a
conditional failure on an item that holds our own token means an earlier attempt, whose answer
was lost, did the write: that is success. Timeouts and dropped connections become
AwsUnavailable, or AwsUncertain when a write was sent and its fate is unknown.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, replace
from typing import Any, TypeVar

from chalicelib.core import deadline
from chalicelib.core.errors import (
    AwsUnavailable,
    AwsUncertain,
    BudgetSpent,
    LockBusy,
    LockHandedOver,
    StoreConflict,
)
from chalicelib.core.model import (
    FINAL_STATES,
    LIVE_STATES,
    AccessRequest,
    AuditEntry,
    State,
    parse_iso,
)
from chalicelib.delivery.message import OutboxMessage, as_added

# Every DynamoDB action the store calls (the deploy policy is generated from these). Items are
# read and written on the table; Query only ever runs on the indexes.
ITEM_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",  # a role's requests, read consistently in one call by the sweep
    "dynamodb:PutItem",  # also what TransactWriteItems of puts needs: IAM has no action for it
    "dynamodb:DeleteItem",
    "dynamodb:UpdateItem",  # role locks only: ids left with a live holder (hand-over)
)
INDEX_ACTIONS = ("dynamodb:Query",)

DUE_INDEX = "due"
UNREVIEWED = "BREAKGLASS#UNREVIEWED"  # due index key of break-glass grants awaiting review
PERSON_INDEX = "by-person"
LIVE_INDEX = "live"  # a role's PENDING, APPROVED and ACTIVE requests
TRANSACTION_ITEMS = 100  # DynamoDB's limit per TransactWriteItems (and 4 MB in all)
# What ``save_requests`` puts in one transaction at most, in bytes of the items' DynamoDB JSON
# (a little more than DynamoDB counts: names and values only), under the 4 MB limit.
TRANSACTION_BYTES = 3_500_000
T = TypeVar("T")
_WRITES = {"put_item", "delete_item", "update_item", "transact_write_items"}
# The table's TTL attribute (epoch seconds): DynamoDB deletes an item some time after it.
# Locks carry their lease end here; finished requests and messages their retention end.
TTL_ATTRIBUTE = "expires"
# On a role lock: ids that clicks left with its holder instead of waiting (a string set).
PENDING_ATTRIBUTE = "pending"
# What a locked step needs once it holds the lock, kept free of a caller's budget when waiting.
LOCKED_STEP_SECONDS = 5.0
# Releasing a lock may run past a spent budget by this much (a lock left behind would hold
# its role up for a whole lease); one attempt of one DeleteItem.
LOCK_RELEASE_SECONDS = 0.8
RETENTION_SECONDS = 400 * 86400  # a year and a bit of history in the table; CloudTrail has more
# States whose requests the sweeper must look at, keyed by the time that matters.
_DUE_KEY = {State.PENDING: "approval_deadline", State.APPROVED: "ends_at", State.ACTIVE: "ends_at"}
_TRANSIENT = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
}


def table_definition(name: str) -> dict:
    """CreateTable arguments; the deploy template mirrors these keys and indexes."""

    def index(index_name: str, hash_key: str, range_key: str) -> dict:
        return {
            "IndexName": index_name,
            "KeySchema": [
                {"AttributeName": hash_key, "KeyType": "HASH"},
                {"AttributeName": range_key, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }

    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": a, "AttributeType": "S"}
            for a in (
                "pk",
                "sk",
                "due_pk",
                "due_at",
                "person_pk",
                "created_at",
                "live_pk",
                "live_sk",
            )
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            index(DUE_INDEX, "due_pk", "due_at"),
            index(PERSON_INDEX, "person_pk", "created_at"),
            index(LIVE_INDEX, "live_pk", "live_sk"),
        ],
    }


class Store:
    def __init__(self, client: Any, table_name: str):
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self._client = client
        self._table = table_name
        self._to_dynamo = TypeSerializer().serialize
        self._from_dynamo = TypeDeserializer().deserialize
        # Per thread: how many HTTP attempts the current call has sent (0 means a failed
        # write certainly changed nothing). Registered after the budget check, so an attempt
        # the budget refused is not counted.
        self._attempts = threading.local()
        events = client.meta.events
        events.register("before-call.dynamodb", self._call_starts)
        events.register("before-send.dynamodb", self._attempt_sent)

    def _call_starts(self, **_: Any) -> None:
        self._attempts.sent = 0

    def _attempt_sent(self, **_: Any) -> None:
        self._attempts.sent = getattr(self._attempts, "sent", 0) + 1

    @property
    def client(self) -> Any:
        """The boto3 DynamoDB client (tests and bench/ hook its events)."""
        return self._client

    # -- plumbing ---------------------------------------------------------------------------
    def _item(self, data: dict) -> dict:
        return {k: self._to_dynamo(v) for k, v in data.items() if v is not None}

    def _plain(self, item: dict) -> dict:
        return {k: self._from_dynamo(v) for k, v in item.items()}

    def _call(self, operation: str, **kwargs) -> dict:
        if operation != "transact_write_items":
            kwargs["TableName"] = self._table
        return self._guarded(operation, lambda: getattr(self._client, operation)(**kwargs))

    def _guarded(self, operation: str, call) -> dict:
        """Run one client call; translate what it raises into the project's errors."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return call()
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                raise StoreConflict(operation) from error
            if code == "TransactionCanceledException":
                reasons = {r.get("Code") for r in error.response.get("CancellationReasons", [])}
                if reasons & {"ConditionalCheckFailed", "TransactionConflict"}:
                    raise StoreConflict(operation) from error
                raise AwsUnavailable(f"DynamoDB {operation}: {sorted(reasons)}") from error
            if code in _TRANSIENT:
                raise AwsUnavailable(f"DynamoDB {operation}: {code}") from error
            raise
        except (BotoCoreError, BudgetSpent) as error:  # timeouts, dropped connections, no time
            if operation in _WRITES and getattr(self._attempts, "sent", 0):
                raise AwsUncertain(f"DynamoDB {operation}: {error}") from error
            if isinstance(error, BudgetSpent):
                raise
            raise AwsUnavailable(f"DynamoDB {operation}: {error}") from error

    def _maybe_ours(self, error: Exception) -> bool:
        """Whether the write that failed may have been done by an earlier attempt of its own:
        its fate is unknown, or botocore sent it more than once."""
        return isinstance(error, AwsUncertain) or getattr(self._attempts, "sent", 0) > 1

    def _written_by_us(self, key: dict, token: str, attribute: str = "write_token") -> bool:
        """Whether the item at ``key`` holds our ``token``: our own write landed (its answer
        lost to a timeout, and botocore's retry then failed our own condition)."""
        try:
            found = self._call("get_item", Key=self._item(key), ConsistentRead=True).get("Item")
        except AwsUnavailable:
            return False
        return bool(found) and found.get(attribute, {}).get("S") == token

    def _put_own(self, item: dict, condition: dict, messages: list[OutboxMessage] = ()) -> None:
        """Put ``item`` (with ``condition``) and ``messages`` (new) in one write; success if
        the item already holds this write's token. Raises StoreConflict, AwsUnavailable,
        AwsUncertain."""
        token = uuid.uuid4().hex
        item = {**item, "write_token": token}
        key = {"pk": item["pk"], "sk": item["sk"]}
        try:
            if messages:
                self._transact(item, condition, messages, token)
            else:
                self._call("put_item", Item=self._item(item), **condition)
        except (StoreConflict, AwsUncertain) as error:
            if self._maybe_ours(error) and self._written_by_us(key, token):
                return
            raise

    def _message_puts(self, messages: list[OutboxMessage]) -> list[dict]:
        """Transaction items that add ``messages`` to the outbox (each one new)."""
        return [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._item(_message_item(as_added(m))),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for m in messages
        ]

    def _transact(
        self, item: dict, condition: dict, messages: list[OutboxMessage], token: str
    ) -> None:
        if 1 + len(messages) > TRANSACTION_ITEMS:
            raise ValueError(f"{len(messages)} messages do not fit in one transaction")
        puts = [{"Put": {"TableName": self._table, "Item": self._item(item), **condition}}]
        puts += self._message_puts(messages)
        # The token also makes DynamoDB itself treat a retry within 10 minutes as the same
        # transaction (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/
        # API_TransactWriteItems.html, ClientRequestToken).
        self._call("transact_write_items", TransactItems=puts, ClientRequestToken=token)

    def _query(self, **kwargs) -> Iterator[dict]:
        while True:
            page = self._call("query", **kwargs)
            for item in page.get("Items", []):
                yield self._plain(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- requests ----------------------------------------------------------------------------
    def get_request(self, request_id: str) -> AccessRequest | None:
        found = self._call(
            "get_item",
            Key=self._item({"pk": f"REQ#{request_id}", "sk": "REQ"}),
            ConsistentRead=True,
        ).get("Item")
        return _request_from(self._plain(found)) if found else None

    def create_request(
        self, request: AccessRequest, messages: list[OutboxMessage] = ()
    ) -> AccessRequest:
        """Store a new request and the messages it owes, together."""
        saved = replace(request, version=1)
        self._put_own(
            _request_item(saved), {"ConditionExpression": "attribute_not_exists(pk)"}, messages
        )
        return saved

    def save_request(
        self, request: AccessRequest, messages: list[OutboxMessage] = ()
    ) -> AccessRequest:
        """Write ``request`` and the messages its change owes, together, if nobody changed it
        since it was read; raise StoreConflict if so."""
        saved = replace(request, version=request.version + 1)
        self._put_own(
            _request_item(saved),
            {
                "ConditionExpression": "version = :read",
                "ExpressionAttributeValues": self._item({":read": request.version}),
            },
            messages,
        )
        return saved

    def save_requests(
        self, changes: Sequence[tuple[AccessRequest, Sequence[OutboxMessage]]]
    ) -> list[AccessRequest | None]:
        """Write each changed request (if nobody changed it since it was read) together with
        the messages its change owes, several requests to a TransactWriteItems as fit (100
        items, 4 MB): a request and its messages are always in the same transaction.

        A request someone else changed meanwhile comes back None and costs the others
        nothing: a transaction cancelled by a failed condition is written again one request
        at a time. Raises AwsUnavailable, AwsUncertain (then a transaction's requests may or
        may not be written, all of them or none)."""
        saved: list[AccessRequest | None] = []
        for chunk in self._transactions(changes):
            if len(chunk) > 1:
                try:
                    saved += self._save_together(chunk)
                    continue
                except StoreConflict:
                    pass  # one of them was changed meanwhile: find out which, alone
            saved += [self._save_or_none(request, messages) for request, messages in chunk]
        return saved

    def _save_or_none(
        self, request: AccessRequest, messages: Sequence[OutboxMessage]
    ) -> AccessRequest | None:
        try:
            return self.save_request(request, list(messages))
        except StoreConflict:
            return None

    def _transactions(
        self, changes: Sequence[tuple[AccessRequest, Sequence[OutboxMessage]]]
    ) -> Iterator[list[tuple[AccessRequest, Sequence[OutboxMessage]]]]:
        """``changes`` cut into runs that fit one transaction each, in order."""
        for _, messages in changes:
            if 1 + len(messages) > TRANSACTION_ITEMS:
                raise ValueError(f"{len(messages)} messages do not fit in one transaction")
        return _runs(changes, lambda change: (1 + len(change[1]), self._size(*change)))

    def _size(self, request: AccessRequest, messages: Sequence[OutboxMessage]) -> int:
        """A request's and its messages' items in bytes of DynamoDB JSON (more than DynamoDB
        counts against the 4 MB: only names and values)."""
        return len(json.dumps(self._item(_request_item(request)))) + sum(
            len(json.dumps(self._item(_message_item(m)))) for m in messages
        )

    def _save_together(
        self, chunk: list[tuple[AccessRequest, Sequence[OutboxMessage]]]
    ) -> list[AccessRequest]:
        """One transaction: every request of ``chunk`` (each only if unchanged since read) and
        all their messages, or nothing. Raises StoreConflict, AwsUnavailable, AwsUncertain."""
        token = uuid.uuid4().hex
        saved = [replace(request, version=request.version + 1) for request, _ in chunk]
        puts = []
        for (old, messages), new in zip(chunk, saved, strict=True):
            puts.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": self._item({**_request_item(new), "write_token": token}),
                        "ConditionExpression": "version = :read",
                        "ExpressionAttributeValues": self._item({":read": old.version}),
                    }
                }
            )
            puts += self._message_puts(list(messages))
        try:
            self._call("transact_write_items", TransactItems=puts, ClientRequestToken=token)
        except (StoreConflict, AwsUncertain) as error:
            # All or nothing: our token on the first request means the whole of it landed.
            key = {"pk": f"REQ#{saved[0].id}", "sk": "REQ"}
            if not (self._maybe_ours(error) and self._written_by_us(key, token)):
                raise
        return saved

    def due_requests(self, state: State, until: str) -> list[AccessRequest]:
        """Requests in ``state`` whose deadline or end is at or before ``until`` (ISO time)."""
        return [
            _request_from(i)
            for i in self._query(
                IndexName=DUE_INDEX,
                KeyConditionExpression="due_pk = :pk AND due_at <= :until",
                ExpressionAttributeValues=self._item(
                    {":pk": f"STATE#{state.value}", ":until": until}
                ),
            )
        ]

    def requests_in(self, state: State) -> list[AccessRequest]:
        return self.due_requests(state, "9999")

    def open_grants(self, role_arn: str) -> list[AccessRequest]:
        """APPROVED and ACTIVE requests of one role: one Query of the sparse live index, so the
        cost follows this role's open grants, not other roles' nor the history kept."""
        return [
            _request_from(i)
            for i in self._query(
                IndexName=LIVE_INDEX,
                # ACTIVE#… and APPROVED#… sort before PENDING#…
                KeyConditionExpression="live_pk = :pk AND live_sk < :pending",
                ExpressionAttributeValues=self._item(
                    {":pk": f"ROLE#{role_arn}", ":pending": f"{State.PENDING.value}#"}
                ),
            )
        ]

    def pending_of_role(self, role_arn: str) -> list[AccessRequest]:
        """The role's PENDING requests, oldest first: one Query of the live index."""
        return [
            _request_from(i)
            for i in self._query(
                IndexName=LIVE_INDEX,
                KeyConditionExpression="live_pk = :pk AND begins_with(live_sk, :pending)",
                ExpressionAttributeValues=self._item(
                    {":pk": f"ROLE#{role_arn}", ":pending": f"{State.PENDING.value}#"}
                ),
            )
        ]

    def get_requests(self, request_ids: set[str]) -> list[AccessRequest]:
        """Strongly consistent reads of these requests (the index may lag a moment behind);
        ids with no request are left out."""
        keys = [self._item({"pk": f"REQ#{i}", "sk": "REQ"}) for i in sorted(request_ids)]
        found: list[AccessRequest] = []
        for start in range(0, len(keys), 100):  # BatchGetItem takes 100 keys at most
            pending: dict = {
                self._table: {"Keys": keys[start : start + 100], "ConsistentRead": True}
            }
            for _ in range(8):
                answer = self._batch_get(pending)
                found += [
                    _request_from(self._plain(i))
                    for i in answer.get("Responses", {}).get(self._table, [])
                ]
                pending = answer.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(0.05)
            else:
                raise AwsUnavailable("DynamoDB BatchGetItem: keys left unprocessed")
        return sorted(found, key=lambda r: r.id)

    def _batch_get(self, request_items: dict) -> dict:
        return self._guarded(
            "batch_get_item", lambda: self._client.batch_get_item(RequestItems=request_items)
        )

    def requests_of(self, slack_id: str, limit: int = 50) -> list[AccessRequest]:
        items = self._query(
            IndexName=PERSON_INDEX,
            KeyConditionExpression="person_pk = :pk",
            ExpressionAttributeValues=self._item({":pk": f"PERSON#{slack_id}"}),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [_request_from(i) for _, i in zip(range(limit), items, strict=False)]

    # -- a role's cut ledger (chalicelib/core/session_limits.py), written under its lock ------
    def read_cut_ledger(self, role_arn: str) -> tuple[str | None, int]:
        """The ledger's text and version (None, 0 if there is none), read consistently."""
        found = self._call(
            "get_item", Key=self._item(_ledger_key(role_arn)), ConsistentRead=True
        ).get("Item")
        if not found:
            return None, 0
        item = self._plain(found)
        return item.get("cuts"), int(item.get("version", 0))

    def write_cut_ledger(self, role_arn: str, text: str, read_version: int) -> None:
        """Write the ledger if it is still at ``read_version``; raises StoreConflict if not."""
        self._call(
            "put_item",
            Item=self._item({**_ledger_key(role_arn), "cuts": text, "version": read_version + 1}),
            ConditionExpression="attribute_not_exists(pk) OR version = :read",
            ExpressionAttributeValues=self._item({":read": read_version}),
        )

    # -- outbox ------------------------------------------------------------------------------
    def take_response_use(self, request_id: str, limit: int, forget_at: int) -> bool:
        """Count one more use of a request's response_url; False once ``limit`` are taken.

        A read, then a put conditional on what was read, so concurrent senders never exceed
        Slack's limit (GetItem and PutItem only: the broker's policy allows no UpdateItem).
        The counter carries ``forget_at`` (epoch seconds) in ``expires``, the table's TTL.
        """
        key = {"pk": f"RESPONSEURL#{request_id}", "sk": "USES"}
        for _ in range(8):
            found = self._call("get_item", Key=self._item(key), ConsistentRead=True).get("Item")
            uses = int(self._plain(found)["uses"]) if found else 0
            if uses >= limit:
                return False
            if found:
                condition = {
                    "ConditionExpression": "uses = :read",
                    "ExpressionAttributeValues": self._item({":read": uses}),
                }
            else:
                condition = {"ConditionExpression": "attribute_not_exists(pk)"}
            try:
                self._call(
                    "put_item",
                    Item=self._item({**key, "uses": uses + 1, "expires": forget_at}),
                    **condition,
                )
            except StoreConflict:
                continue  # another sender took one meanwhile: count again
            return True
        return False

    # -- Slack requests already seen ---------------------------------------------------------
    def first_arrival(self, key: str, forget_at: int) -> tuple[bool, str | None]:
        """Remember a signed Slack request; (True, None) the first time it arrives, else
        (False, the answer kept for it, if any). One conditional put decides, so two copies
        arriving at once cannot both be first."""
        item = {"pk": f"SLACKREQ#{key}", "sk": "SEEN"}
        try:
            self._call(
                "put_item",
                Item=self._item({**item, TTL_ATTRIBUTE: forget_at}),
                ConditionExpression="attribute_not_exists(pk)",
            )
            return True, None
        except StoreConflict:
            found = self._call("get_item", Key=self._item(item), ConsistentRead=True).get("Item")
            return False, (self._plain(found).get("answer") if found else None)

    def keep_answer(self, key: str, answer: str, forget_at: int) -> None:
        """The answer given to a Slack request, for a copy of it that arrives later."""
        item = {"pk": f"SLACKREQ#{key}", "sk": "SEEN", "answer": answer, TTL_ATTRIBUTE: forget_at}
        self._call("put_item", Item=self._item(item))

    def add_message(self, message: OutboxMessage) -> OutboxMessage:
        saved = as_added(message)
        self._put_own(_message_item(saved), {"ConditionExpression": "attribute_not_exists(pk)"})
        return saved

    def save_message(self, message: OutboxMessage) -> OutboxMessage:
        saved = replace(message, version=message.version + 1)
        self._put_own(
            _message_item(saved),
            {
                "ConditionExpression": "version = :read",
                "ExpressionAttributeValues": self._item({":read": message.version}),
            },
        )
        return saved

    def save_messages(self, messages: Sequence[OutboxMessage]) -> list[OutboxMessage | None]:
        """``save_message`` for several messages in as few writes as fit: one TransactWriteItems
        for up to 100 (a click that sent twenty messages records them at once). A message
        someone else changed meanwhile (a sweep that claimed it) comes back None and costs the
        others nothing: a transaction cancelled by a failed condition is written again one
        message at a time. Raises AwsUnavailable, AwsUncertain."""
        saved: list[OutboxMessage | None] = []
        weigh = lambda m: (1, len(json.dumps(self._item(_message_item(m)))))  # noqa: E731
        for run in _runs(messages, weigh):
            if len(run) > 1:
                try:
                    saved += self._save_messages_together(run)
                    continue
                except StoreConflict:
                    pass  # one of them was changed meanwhile: find out which, alone
            saved += [self._message_or_none(m) for m in run]
        return saved

    def _message_or_none(self, message: OutboxMessage) -> OutboxMessage | None:
        try:
            return self.save_message(message)
        except StoreConflict:
            return None

    def _save_messages_together(self, run: Sequence[OutboxMessage]) -> list[OutboxMessage]:
        """One transaction: every message of ``run``, each only if unchanged since read, or
        none. Raises StoreConflict, AwsUnavailable, AwsUncertain."""
        token = uuid.uuid4().hex
        saved = [replace(m, version=m.version + 1) for m in run]
        puts = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._item({**_message_item(new), "write_token": token}),
                    "ConditionExpression": "version = :read",
                    "ExpressionAttributeValues": self._item({":read": old.version}),
                }
            }
            for old, new in zip(run, saved, strict=True)
        ]
        try:
            self._call("transact_write_items", TransactItems=puts, ClientRequestToken=token)
        except (StoreConflict, AwsUncertain) as error:
            # All or nothing: our token on the first message means the whole of it landed.
            key = {"pk": f"MSG#{saved[0].id}", "sk": "MSG"}
            if not (self._maybe_ours(error) and self._written_by_us(key, token)):
                raise
        return saved

    def due_messages(self, until: str) -> list[OutboxMessage]:
        return [
            _message_from(i)
            for i in self._query(
                IndexName=DUE_INDEX,
                KeyConditionExpression="due_pk = :pk AND due_at <= :until",
                ExpressionAttributeValues=self._item({":pk": "OUTBOX", ":until": until}),
            )
        ]

    def get_message(self, message_id: str) -> OutboxMessage | None:
        found = self._call(
            "get_item",
            Key=self._item({"pk": f"MSG#{message_id}", "sk": "MSG"}),
            ConsistentRead=True,
        ).get("Item")
        return _message_from(self._plain(found)) if found else None

    # -- locks -------------------------------------------------------------------------------
    # -- extensions and break-glass reviews --------------------------------------------------
    def save_pair(
        self, first: AccessRequest, second: AccessRequest, messages: list[OutboxMessage] = ()
    ) -> tuple[AccessRequest, AccessRequest]:
        """Write two requests (each only if unchanged since read) and the messages their
        change owes in one transaction: all or nothing (an extension and the grant it moves).
        Raises StoreConflict, AwsUnavailable, AwsUncertain."""
        if 2 + len(messages) > TRANSACTION_ITEMS:
            raise ValueError(f"{len(messages)} messages do not fit in one transaction")
        token = uuid.uuid4().hex
        saved = [replace(r, version=r.version + 1) for r in (first, second)]
        puts = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._item({**_request_item(new), "write_token": token}),
                    "ConditionExpression": "version = :read",
                    "ExpressionAttributeValues": self._item({":read": old.version}),
                }
            }
            for old, new in zip((first, second), saved, strict=True)
        ]
        puts += self._message_puts(messages)
        try:
            self._call("transact_write_items", TransactItems=puts, ClientRequestToken=token)
        except (StoreConflict, AwsUncertain) as error:
            key = {"pk": f"REQ#{first.id}", "sk": "REQ"}
            if not (self._maybe_ours(error) and self._written_by_us(key, token)):
                raise
        return saved[0], saved[1]

    def await_review(self, request_id: str, due_at: str) -> None:
        """Remember that a break-glass grant needs reviewing by ``due_at`` (idempotent)."""
        self._call(
            "put_item",
            Item=self._item(
                {
                    "pk": f"REVIEW#{request_id}",
                    "sk": "REVIEW",
                    "request_id": request_id,
                    "due_pk": UNREVIEWED,
                    "due_at": due_at,
                }
            ),
        )

    def unreviewed(self, until: str) -> list[str]:
        """Ids of break-glass grants whose review was due at or before ``until``."""
        return [
            item["request_id"]
            for item in self._query(
                IndexName=DUE_INDEX,
                KeyConditionExpression="due_pk = :pk AND due_at <= :until",
                ExpressionAttributeValues=self._item({":pk": UNREVIEWED, ":until": until}),
            )
        ]

    def reviewed(self, request_id: str) -> None:
        self._call("delete_item", Key=self._item({"pk": f"REVIEW#{request_id}", "sk": "REVIEW"}))

    @contextmanager
    def lock(
        self,
        name: str,
        lease_seconds: float = 30.0,
        wait_seconds: float = 20.0,
        clock=time.time,
        sleep=time.sleep,
        hand_over: str | None = None,
    ) -> Iterator[HeldLock]:
        """Hold ``name`` exclusively. A lease lets a crashed holder's lock lapse by itself.

        ``hand_over``: an id to leave with a live holder instead of waiting (LockHandedOver):
        the holder takes it with ``take_pending`` before it lets go, and a lock left with ids
        in it hands them to whoever takes it next (``inherited``)."""
        owner = uuid.uuid4().hex
        key = {"pk": f"LOCK#{name}", "sk": "LOCK"}
        # A caller with a deadline (a click) never waits longer than it can still answer in.
        give_up = clock() + deadline.lock_wait(wait_seconds, reserve=LOCKED_STEP_SECONDS)
        pause = 0.05
        held = HeldLock(self, key, owner)
        while True:
            now = clock()
            try:
                before = self._call(
                    "put_item",
                    Item=self._item(
                        {**key, "owner": owner, TTL_ATTRIBUTE: int(now + lease_seconds) + 1}
                    ),
                    ConditionExpression="attribute_not_exists(pk) OR #expires < :now",
                    ExpressionAttributeNames={"#expires": TTL_ATTRIBUTE},
                    ExpressionAttributeValues=self._item({":now": int(now)}),
                    ReturnValues="ALL_OLD",
                )
                held.inherited = _pending_of(before.get("Attributes"))
                break
            except (StoreConflict, AwsUncertain) as error:
                if self._maybe_ours(error) and self._written_by_us(key, owner, "owner"):
                    break  # an earlier attempt took it; its answer was lost
                if isinstance(error, AwsUncertain):
                    raise
                if hand_over is not None and self._leave_with_holder(key, hand_over, now):
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

    def _leave_with_holder(self, key: dict, item_id: str, now: float) -> bool:
        """Add ``item_id`` to a live lock's pending ids; False if no live holder has it."""
        try:
            self._call(
                "update_item",
                Key=self._item(key),
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
        names = {"#o": "owner", "#p": PENDING_ATTRIBUTE}
        mine = self._item({":me": owner})
        try:
            self._call(
                "delete_item",
                Key=self._item(key),
                ConditionExpression="#o = :me AND attribute_not_exists(#p)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=mine,
            )
            return
        except StoreConflict:
            pass  # not ours any more, or ids were left with it
        try:
            self._call(
                "update_item",
                Key=self._item(key),
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

    def __init__(self, store: Store, key: dict, owner: str):
        self._store, self._key, self._owner = store, key, owner
        self.inherited: set[str] = set()

    def take_pending(self) -> set[str]:
        """The ids left with the lock since we took it (or last asked), removed from it."""
        try:
            answer = self._store._call(
                "update_item",
                Key=self._store._item(self._key),
                UpdateExpression="REMOVE #p",
                ConditionExpression="#o = :me AND attribute_exists(#p)",
                ExpressionAttributeNames={"#o": "owner", "#p": PENDING_ATTRIBUTE},
                ExpressionAttributeValues=self._store._item({":me": self._owner}),
                ReturnValues="UPDATED_OLD",
            )
        except (StoreConflict, AwsUnavailable):
            return set()  # none left, or not ours: the lock's next holder or the sweep has them
        return _pending_of(answer.get("Attributes"))


def _ledger_key(role_arn: str) -> dict:
    return {"pk": f"CUTS#{role_arn}", "sk": "CUTS"}


def _pending_of(item: dict | None) -> set[str]:
    return set((item or {}).get(PENDING_ATTRIBUTE, {}).get("SS", []))


def _runs(entries: Sequence[T], weigh: Callable[[T], tuple[int, int]]) -> Iterator[list[T]]:
    """``entries`` cut into runs that fit one transaction each, in order; ``weigh`` says an
    entry's items and bytes."""
    run: list[T] = []
    items = size = 0
    for entry in entries:
        count, weight = weigh(entry)
        if run and (items + count > TRANSACTION_ITEMS or size + weight > TRANSACTION_BYTES):
            yield run
            run, items, size = [], 0, 0
        run.append(entry)
        items += count
        size += weight
    if run:
        yield run


def _request_item(request: AccessRequest) -> dict:
    data = asdict(request)
    data["state"] = request.state.value
    data["approvals"] = list(request.approvals)
    data["told"] = list(request.told)
    data["extensions"] = list(request.extensions)
    data["audit"] = [entry.to_dict() for entry in request.audit]
    item = {
        "pk": f"REQ#{request.id}",
        "sk": "REQ",
        "person_pk": f"PERSON#{request.requester}",
        **data,
    }
    if request.state in LIVE_STATES:
        item["live_pk"] = f"ROLE#{request.role_arn}"
        item["live_sk"] = f"{request.state.value}#{request.created_at}#{request.id}"
    due_field = _DUE_KEY.get(request.state)
    if due_field and data.get(due_field):
        item["due_pk"] = f"STATE#{request.state.value}"
        item["due_at"] = data[due_field]
    if request.state in FINAL_STATES and request.audit:
        item[TTL_ATTRIBUTE] = _retained_until(request.audit[-1].at)
    return item


def _retained_until(finished_at: str) -> int:
    return int(parse_iso(finished_at).timestamp()) + RETENTION_SECONDS


def _request_from(item: dict) -> AccessRequest:
    fields = {name: item.get(name) for name in AccessRequest.__dataclass_fields__}
    fields["state"] = State(item["state"])
    fields["approvals"] = tuple(item.get("approvals") or ())
    fields["told"] = tuple(item.get("told") or ())
    fields["extensions"] = tuple(item.get("extensions") or ())
    fields["break_glass"] = bool(item.get("break_glass"))
    fields["audit"] = tuple(AuditEntry.from_dict(e) for e in item.get("audit") or ())
    for number in ("duration_seconds", "approvals_required", "version"):
        fields[number] = int(item[number])
    fields["require_mfa"] = bool(item.get("require_mfa"))
    return AccessRequest(**fields)


def _message_item(message: OutboxMessage) -> dict:
    item = {"pk": f"MSG#{message.id}", "sk": "MSG", **asdict(message)}
    if message.status == "PENDING":
        item["due_pk"] = "OUTBOX"
        item["due_at"] = message.next_attempt_at
    else:
        item[TTL_ATTRIBUTE] = _retained_until(message.created_at)
    return item


def _message_from(item: dict) -> OutboxMessage:
    fields = {name: item.get(name) for name in OutboxMessage.__dataclass_fields__}
    fields["attempts"] = int(item["attempts"])
    fields["version"] = int(item["version"])
    fields["last_error"] = item.get("last_error") or ""
    return OutboxMessage(**fields)
