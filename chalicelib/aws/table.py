"""The one DynamoDB table: its client with errors translated, the versioned write, queries.

Every repository (requests.py, messages.py, locks.py, records.py) writes through this module.
A versioned write puts items each conditional on the ``version`` it was read at (or on being
new), all in one TransactWriteItems, or in one PutItem when it is a single item.

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
from dataclasses import dataclass
from typing import Any, TypeVar

from chalicelib.core.errors import AwsUnavailable, AwsUncertain, BudgetSpent, StoreConflict
from chalicelib.core.model import parse_iso

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
PERSON_INDEX = "by-person"
LIVE_INDEX = "live"  # a role's PENDING, APPROVED and ACTIVE requests
TRANSACTION_ITEMS = 100  # DynamoDB's limit per TransactWriteItems (and 4 MB in all)
# What one transaction holds at most, in bytes of the items' DynamoDB JSON (a little more than
# DynamoDB counts: names and values only), under the 4 MB limit.
TRANSACTION_BYTES = 3_500_000
# The table's TTL attribute (epoch seconds): DynamoDB deletes an item some time after it.
# Locks carry their lease end here; finished requests and messages their retention end.
TTL_ATTRIBUTE = "expires"
RETENTION_SECONDS = 400 * 86400  # a year and a bit of history in the table; CloudTrail has more
T = TypeVar("T")
_WRITES = {"put_item", "delete_item", "update_item", "transact_write_items"}
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


def retained_until(finished_at: str) -> int:
    """The TTL of an item finished at ``finished_at`` (ISO time): kept RETENTION_SECONDS."""
    return int(parse_iso(finished_at).timestamp()) + RETENTION_SECONDS


@dataclass(frozen=True)
class Put:
    """One item of a versioned write (plain values, ``pk`` and ``sk`` included): written only
    if it is new (``read`` None) or still at version ``read``; ``or_new`` also writes it if it
    does not exist at all."""

    item: dict
    read: int | None = None
    or_new: bool = False

    @property
    def key(self) -> dict:
        return {"pk": self.item["pk"], "sk": self.item["sk"]}


class Table:
    """One DynamoDB table through one boto3 client (its events carry the time budgets and the
    call observers, tools/aws_calls.py)."""

    def __init__(self, client: Any, name: str):
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self.client = client
        self.name = name
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

    # -- values and calls --------------------------------------------------------------------
    def typed(self, data: dict) -> dict:
        """Plain values as DynamoDB JSON; None values left out."""
        return {k: self._to_dynamo(v) for k, v in data.items() if v is not None}

    def plain(self, item: dict) -> dict:
        return {k: self._from_dynamo(v) for k, v in item.items()}

    def call(self, operation: str, **kwargs) -> dict:
        """One client call on this table (``operation`` as boto3 names it)."""
        if operation not in ("transact_write_items", "batch_get_item"):
            kwargs["TableName"] = self.name
        return self._guarded(operation, lambda: getattr(self.client, operation)(**kwargs))

    def _guarded(self, operation: str, call: Callable[[], dict]) -> dict:
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

    # -- our own write, after a lost answer --------------------------------------------------
    def maybe_ours(self, error: Exception) -> bool:
        """Whether the write that failed may have been done by an earlier attempt of its own:
        its fate is unknown, or botocore sent it more than once."""
        return isinstance(error, AwsUncertain) or getattr(self._attempts, "sent", 0) > 1

    def holds(self, key: dict, value: str, attribute: str = "write_token") -> bool:
        """Whether the item at ``key`` holds ``value`` in ``attribute``: our own write landed
        (its answer lost to a timeout, and botocore's retry then failed our own condition)."""
        try:
            found = self.get(key)
        except AwsUnavailable:
            return False
        return bool(found) and found.get(attribute) == value

    # -- reads -------------------------------------------------------------------------------
    def get(self, key: dict) -> dict | None:
        """The item at ``key``, read consistently; None if there is none."""
        found = self.call("get_item", Key=self.typed(key), ConsistentRead=True).get("Item")
        return self.plain(found) if found else None

    def get_many(self, keys: Sequence[dict]) -> list[dict]:
        """Consistent reads of these items (BatchGetItem, 100 keys a call); missing ones are
        left out, the order is DynamoDB's."""
        typed = [self.typed(k) for k in keys]
        found: list[dict] = []
        for start in range(0, len(typed), 100):  # BatchGetItem takes 100 keys at most
            pending: dict = {
                self.name: {"Keys": typed[start : start + 100], "ConsistentRead": True}
            }
            for _ in range(8):
                answer = self.call("batch_get_item", RequestItems=pending)
                found += [self.plain(i) for i in answer.get("Responses", {}).get(self.name, [])]
                pending = answer.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(0.05)
            else:
                raise AwsUnavailable("DynamoDB BatchGetItem: keys left unprocessed")
        return found

    def query(self, index: str, condition: str, values: dict, **kwargs) -> Iterator[dict]:
        """The items of one Query on ``index`` (``values`` plain), page after page."""
        kwargs.update(
            IndexName=index,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=self.typed(values),
        )
        while True:
            page = self.call("query", **kwargs)
            for item in page.get("Items", []):
                yield self.plain(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def scan(self, condition: str, values: dict) -> Iterator[dict]:
        """Every item of the table matching the filter ``condition``, page after page. It
        reads the whole table: for an operator's occasional question, never a request path."""
        kwargs = {"FilterExpression": condition, "ExpressionAttributeValues": self.typed(values)}
        while True:
            page = self.call("scan", **kwargs)
            for item in page.get("Items", []):
                yield self.plain(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def due(self, due_pk: str, until: str) -> Iterator[dict]:
        """Items of the sparse due index under ``due_pk`` due at or before ``until``."""
        return self.query(
            DUE_INDEX, "due_pk = :pk AND due_at <= :until", {":pk": due_pk, ":until": until}
        )

    # -- the versioned write -----------------------------------------------------------------
    def write(self, puts: Sequence[Put]) -> None:
        """Write ``puts`` all together or none: one PutItem for one item, else one
        TransactWriteItems. Success if the first item already holds this write's token (an
        earlier attempt did it). Raises StoreConflict (a condition failed: nothing written),
        AwsUnavailable, AwsUncertain, and ValueError if they cannot fit one transaction."""
        if len(puts) > TRANSACTION_ITEMS:
            raise ValueError(f"{len(puts)} items do not fit in one transaction")
        token = uuid.uuid4().hex
        try:
            if len(puts) == 1:
                self.call(
                    "put_item",
                    Item=self.typed({**puts[0].item, "write_token": token}),
                    **self._condition(puts[0]),
                )
            else:
                items = [
                    {
                        "Put": {
                            "TableName": self.name,
                            "Item": self.typed({**put.item, "write_token": token}),
                            **self._condition(put),
                        }
                    }
                    for put in puts
                ]
                # The token also makes DynamoDB itself treat a retry within 10 minutes as the
                # same transaction (https://docs.aws.amazon.com/amazondynamodb/latest/
                # APIReference/API_TransactWriteItems.html, ClientRequestToken).
                self.call("transact_write_items", TransactItems=items, ClientRequestToken=token)
        except (StoreConflict, AwsUncertain) as error:
            # All or nothing: our token on the first item means the whole of it landed.
            if not (self.maybe_ours(error) and self.holds(puts[0].key, token)):
                raise

    def write_each(self, groups: Sequence[Sequence[Put]]) -> list[bool]:
        """Write each group of puts all or nothing, several groups to a transaction as fit
        (``runs``): whether each group was written. A group whose condition failed comes back
        False and costs the others nothing: a transaction cancelled by a failed condition is
        written again one group at a time. Raises AwsUnavailable, AwsUncertain (then a
        transaction's groups may or may not be written, all of them or none), and ValueError
        (before writing anything) if one group alone does not fit a transaction."""
        written: list[bool] = []
        for run in self.runs(groups):
            if len(run) > 1:
                try:
                    self.write([put for group in run for put in group])
                    written += [True] * len(run)
                    continue
                except StoreConflict:
                    pass  # one of them was changed meanwhile: find out which, alone
            written += [self._written_alone(group) for group in run]
        return written

    def _written_alone(self, group: Sequence[Put]) -> bool:
        try:
            self.write(group)
        except StoreConflict:
            return False
        return True

    def runs(
        self, entries: Sequence[T], puts: Callable[[T], Sequence[Put]] = lambda e: e
    ) -> Iterator[list[T]]:
        """``entries`` (each a group of puts, or whatever ``puts`` makes one of) cut into runs
        that fit one transaction each (TRANSACTION_ITEMS items, TRANSACTION_BYTES bytes), in
        order; a group is never split. ValueError if one group alone does not fit."""
        for entry in entries:
            if len(puts(entry)) > TRANSACTION_ITEMS:
                raise ValueError(f"{len(puts(entry))} items do not fit in one transaction")
        return _runs(
            entries, lambda entry: (len(puts(entry)), sum(self.size(p.item) for p in puts(entry)))
        )

    def size(self, item: dict) -> int:
        """An item in bytes of DynamoDB JSON (more than DynamoDB counts against the 4 MB: only
        names and values)."""
        return len(json.dumps(self.typed(item)))

    def _condition(self, put: Put) -> dict:
        if put.read is None:
            return {"ConditionExpression": "attribute_not_exists(pk)"}
        expression = "version = :read"
        if put.or_new:
            expression = f"attribute_not_exists(pk) OR {expression}"
        return {
            "ConditionExpression": expression,
            "ExpressionAttributeValues": self.typed({":read": put.read}),
        }


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
