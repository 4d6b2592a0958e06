"""Role checks the sweep owes, in the deployment's DynamoDB table: marks and the idle cursor.

A **mark** asks the sweep to read one role at or after a time (chalicelib/core/sweep_plan.py):
the IAM change event marks a role someone edited, a step that left work behind marks its role
(a revoke IAM did not take; a cut to age out, at its time), a check that failed marks its role
for the next pass. One item per role::

    pk = MARK#<role ARN>, sk = MARK, due_pk = ROLECHECK, due_at = <ISO time>,
    why, seq (bumped by every mark), expires (TTL: a day after due_at)

It carries the sparse ``due`` index's keys, so the sweep finds every mark due with one Query
whose cost follows the marks, not the roles. A role marked twice keeps the earlier time. The
sweep clears a mark after reading its role, on the condition that ``seq`` is still what it saw:
a role marked again while it was being read stays marked for the next pass.

The **cursor** (``SWEEP#CURSOR``) is where the idle stream stands (``sweep_plan.Cursor``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib.core.errors import AwsUnavailable
from chalicelib.core.model import iso, parse_iso
from chalicelib.core.sweep_plan import Cursor, Mark

__all__ = ["Mark", "RoleMarks"]

# What the marks and the cursor call on the table (besides the store's own item actions).
MARK_ACTIONS = ("dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:GetItem")
MARK_INDEX_ACTIONS = ("dynamodb:Query",)  # on the due index
DUE_INDEX = "due"
MARK_KEY = "ROLECHECK"  # the marks' partition in the due index
KEEP = timedelta(days=1)  # a mark nobody cleared (its role dropped from the policies) goes
_CURSOR_KEY = {"pk": {"S": "SWEEP#CURSOR"}, "sk": {"S": "CURSOR"}}
_TRANSIENT = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
}


class RoleMarks:
    def __init__(self, client: Any, table_name: str):
        self._client = client
        self._table = table_name

    def _call(self, operation: str, **kwargs) -> dict | None:
        """One call; None when its condition failed; AwsUnavailable when DynamoDB is not
        answering (the caller tries again, or the next pass does)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._client, operation)(TableName=self._table, **kwargs)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                return None
            if code in _TRANSIENT:
                raise AwsUnavailable(f"DynamoDB {operation}: {code}") from error
            raise
        except BotoCoreError as error:
            raise AwsUnavailable(f"DynamoDB {operation}: {error}") from error

    def mark(self, role_arn: str, at: datetime, why: str) -> None:
        """Ask the sweep to read ``role_arn`` at the first pass at or after ``at``."""
        key = {"pk": {"S": f"MARK#{role_arn}"}, "sk": {"S": "MARK"}}
        values = {
            ":at": {"S": iso(at)},
            ":one": {"N": "1"},
            ":ttl": {"N": str(int((at + KEEP).timestamp()))},
        }
        for _ in range(3):
            earlier = self._call(
                "update_item",
                Key=key,
                UpdateExpression=(
                    "SET due_pk = :pk, due_at = :at, why = :why, expires = :ttl ADD seq :one"
                ),
                ConditionExpression="attribute_not_exists(due_at) OR due_at > :at",
                ExpressionAttributeValues={**values, ":pk": {"S": MARK_KEY}, ":why": {"S": why}},
            )
            if earlier is not None:
                return
            # Marked for an earlier time already: keep that time, but bump seq so a sweep
            # reading the role right now does not clear the mark this change asked for.
            kept = self._call(
                "update_item",
                Key=key,
                UpdateExpression="SET expires = :ttl ADD seq :one",
                ConditionExpression="attribute_exists(due_at)",
                ExpressionAttributeValues={k: values[k] for k in (":one", ":ttl")},
            )
            if kept is not None:
                return
        raise AwsUnavailable("DynamoDB UpdateItem: the role's mark kept changing")

    def due(self, now: datetime) -> dict[str, Mark]:
        """Every mark due at ``now``, by role ARN: one Query of the due index (paged)."""
        found: dict[str, Mark] = {}
        kwargs: dict = {
            "IndexName": DUE_INDEX,
            "KeyConditionExpression": "due_pk = :pk AND due_at <= :now",
            "ExpressionAttributeValues": {":pk": {"S": MARK_KEY}, ":now": {"S": iso(now)}},
        }
        while True:
            page = self._call("query", **kwargs) or {}
            for item in page.get("Items", []):
                arn = item["pk"]["S"].removeprefix("MARK#")
                found[arn] = Mark(
                    arn,
                    parse_iso(item["due_at"]["S"]),
                    item.get("why", {}).get("S", ""),
                    int(item["seq"]["N"]),
                )
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def clear(self, mark: Mark) -> bool:
        """Remove a mark whose role was read; False if it was marked again meanwhile (it stays,
        for the next pass)."""
        return (
            self._call(
                "delete_item",
                Key={"pk": {"S": f"MARK#{mark.role_arn}"}, "sk": {"S": "MARK"}},
                ConditionExpression="seq = :seq",
                ExpressionAttributeValues={":seq": {"N": str(mark.seq)}},
            )
            is not None
        )

    def cursor(self) -> Cursor | None:
        item = (self._call("get_item", Key=_CURSOR_KEY, ConsistentRead=True) or {}).get("Item")
        if not item:
            return None
        return Cursor(int(item["pass_no"]["N"]), item.get("after", {}).get("S", ""))

    def save_cursor(self, cursor: Cursor) -> None:
        """Two passes at once each save where they stopped; the later save wins, and a cursor
        set back only reads some roles again."""
        self._call(
            "update_item",
            Key=_CURSOR_KEY,
            UpdateExpression="SET pass_no = :p, #after = :a",
            ExpressionAttributeNames={"#after": "after"},
            ExpressionAttributeValues={":p": {"N": str(cursor.pass_no)}, ":a": {"S": cursor.after}},
        )
