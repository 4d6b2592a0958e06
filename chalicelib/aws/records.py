"""Small records in the table, one item each: a role's cut ledger (``CUTS#<role ARN>``), signed
Slack requests already seen and the answers kept for them (``SLACKREQ#<key>``), the uses of a
request's response_url (``RESPONSEURL#<id>``), break-glass grants awaiting review
(``REVIEW#<id>``, on the due index), a person's break-glass on a role suspended after a flag
(``SUSPENDED#<role>#<person>``), and activity reports: the one a grant is owed
(``ACTIVITY#<id>`` ``OWED``, on the due index) and the last one produced (``REPORT``)."""

from __future__ import annotations

from chalicelib.aws.table import TTL_ATTRIBUTE, Put, Table
from chalicelib.core.errors import StoreConflict

UNREVIEWED = "BREAKGLASS#UNREVIEWED"  # due index key of break-glass grants awaiting review
REPORT_OWED = "ACTIVITY#OWED"  # due index key of activity reports owed
EVER = "9999-12-31T23:59:59Z"  # later than any review is due


class RecordRepository:
    def __init__(self, table: Table):
        self._table = table

    # -- a role's cut ledger (chalicelib/core/session_limits.py), written under its lock ------
    def read_cut_ledger(self, role_arn: str) -> tuple[str | None, int]:
        """The ledger's text and version (None, 0 if there is none), read consistently."""
        found = self._table.get(_ledger_key(role_arn))
        if not found:
            return None, 0
        return found.get("cuts"), int(found.get("version", 0))

    def write_cut_ledger(self, role_arn: str, text: str, read_version: int) -> None:
        """Write the ledger if it is still at ``read_version``; raises StoreConflict if not."""
        item = {**_ledger_key(role_arn), "cuts": text, "version": read_version + 1}
        self._table.write([Put(item, read=read_version, or_new=True)])

    # -- the uses of a request's response_url ------------------------------------------------
    def take_response_use(self, request_id: str, limit: int, forget_at: int) -> bool:
        """Count one more use of a request's response_url; False once ``limit`` are taken.

        A read, then a put conditional on what was read, so concurrent senders never exceed
        Slack's limit (GetItem and PutItem only: the broker's policy allows no UpdateItem).
        The counter carries ``forget_at`` (epoch seconds) in ``expires``, the table's TTL.
        """
        table = self._table
        key = {"pk": f"RESPONSEURL#{request_id}", "sk": "USES"}
        for _ in range(8):
            found = table.get(key)
            uses = int(found["uses"]) if found else 0
            if uses >= limit:
                return False
            if found:
                condition = {
                    "ConditionExpression": "uses = :read",
                    "ExpressionAttributeValues": table.typed({":read": uses}),
                }
            else:
                condition = {"ConditionExpression": "attribute_not_exists(pk)"}
            try:
                item = {**key, "uses": uses + 1, TTL_ATTRIBUTE: forget_at}
                table.call("put_item", Item=table.typed(item), **condition)
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
            self._table.call(
                "put_item",
                Item=self._table.typed({**item, TTL_ATTRIBUTE: forget_at}),
                ConditionExpression="attribute_not_exists(pk)",
            )
            return True, None
        except StoreConflict:
            found = self._table.get(item)
            return False, (found.get("answer") if found else None)

    def keep_answer(self, key: str, answer: str, forget_at: int) -> None:
        """The answer given to a Slack request, for a copy of it that arrives later."""
        item = {"pk": f"SLACKREQ#{key}", "sk": "SEEN", "answer": answer, TTL_ATTRIBUTE: forget_at}
        self._table.call("put_item", Item=self._table.typed(item))

    # -- break-glass grants awaiting review --------------------------------------------------
    def await_review(self, request_id: str, due_at: str) -> None:
        """Remember that a break-glass grant needs reviewing by ``due_at`` (idempotent)."""
        item = {
            **_review_key(request_id),
            "request_id": request_id,
            "due_pk": UNREVIEWED,
            "due_at": due_at,
        }
        self._table.call("put_item", Item=self._table.typed(item))

    def unreviewed(self, until: str) -> list[str]:
        """Ids of break-glass grants whose review was due at or before ``until``."""
        return [item["request_id"] for item in self._table.due(UNREVIEWED, until)]

    def awaiting_review(self) -> list[str]:
        """Ids of every break-glass grant still awaiting review, due or not, soonest due first
        (one Query of the due index: it holds only the reviews still owed)."""
        return [item["request_id"] for item in self._table.due(UNREVIEWED, EVER)]

    def reviewed(self, request_id: str) -> None:
        self._table.call("delete_item", Key=self._table.typed(_review_key(request_id)))

    # -- break-glass suspended after a flag ----------------------------------------------------
    def suspend_break_glass(self, person: str, role: str, request_id: str) -> None:
        """Suspend ``person``'s break-glass on ``role`` because of the flagged ``request_id``
        (idempotent; a later flag names the later request)."""
        item = {**_suspension_key(person, role), "request_id": request_id}
        self._table.call("put_item", Item=self._table.typed(item))

    def break_glass_suspension(self, person: str, role: str) -> str | None:
        """The flagged request that suspends ``person``'s break-glass on ``role``, or None."""
        found = self._table.get(_suspension_key(person, role))
        return found.get("request_id") if found else None

    def lift_break_glass_suspension(self, person: str, role: str) -> None:
        """Lift the suspension (nothing if there is none)."""
        self._table.call("delete_item", Key=self._table.typed(_suspension_key(person, role)))

    # -- activity reports (chalicelib/usecases/activity.py) ---------------------------------
    def owe_report(self, request_id: str, due_at: str, reported: int = 0) -> None:
        """Remember that ``request_id`` is owed an activity report at ``due_at``, after
        ``reported`` hourly ones (idempotent: the last write says when)."""
        item = {
            **_owed_key(request_id),
            "request_id": request_id,
            "reported": reported,
            "due_pk": REPORT_OWED,
            "due_at": due_at,
        }
        self._table.call("put_item", Item=self._table.typed(item))

    def owed_reports(self, until: str) -> list[tuple[str, str, int]]:
        """(request id, due at, hourly reports made) of each report owed at or before
        ``until``, soonest first."""
        return [
            (item["request_id"], item["due_at"], int(item.get("reported", 0)))
            for item in self._table.due(REPORT_OWED, until)
        ]

    def report_made(self, request_id: str) -> None:
        """No report is owed any more (idempotent)."""
        self._table.call("delete_item", Key=self._table.typed(_owed_key(request_id)))

    def keep_report(self, request_id: str, report: str) -> None:
        """The last report produced for ``request_id`` (JSON), for the page and the CLI."""
        item = {"pk": f"ACTIVITY#{request_id}", "sk": "REPORT", "report": report}
        self._table.call("put_item", Item=self._table.typed(item))

    def kept_report(self, request_id: str) -> str | None:
        found = self._table.get({"pk": f"ACTIVITY#{request_id}", "sk": "REPORT"})
        return found.get("report") if found else None


def _suspension_key(person: str, role: str) -> dict:
    return {"pk": f"SUSPENDED#{role}#{person}", "sk": "BREAKGLASS"}


def _owed_key(request_id: str) -> dict:
    return {"pk": f"ACTIVITY#{request_id}", "sk": "OWED"}


def _ledger_key(role_arn: str) -> dict:
    return {"pk": f"CUTS#{role_arn}", "sk": "CUTS"}


def _review_key(request_id: str) -> dict:
    return {"pk": f"REVIEW#{request_id}", "sk": "REVIEW"}
