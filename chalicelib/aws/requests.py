"""Access requests in the table (``REQ#<id>``), each written with the messages its change owes.

Every change is one conditional put on the request's ``version``, so two approvers racing
cannot both win; the messages go in the same TransactWriteItems, so a process that dies after
the change can never have lost them. The ``due`` index is sparse: only requests that still
need work carry its keys (PENDING by deadline, APPROVED and ACTIVE by end). The ``live`` index
holds each role's PENDING, APPROVED and ACTIVE requests (also sparse), so a role's open work is
read without anyone else's; ``by-person`` lists a person's requests, newest first.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, replace

from chalicelib.aws.messages import message_puts
from chalicelib.aws.table import LIVE_INDEX, PERSON_INDEX, TTL_ATTRIBUTE, Put, Table, retained_until
from chalicelib.core.model import FINAL_STATES, LIVE_STATES, AccessRequest, AuditEntry, State
from chalicelib.delivery.message import OutboxMessage

# States whose requests the sweeper must look at, keyed by the time that matters.
DUE_KEY = {
    State.PENDING: "approval_deadline",
    State.SCHEDULED: "starts_at",  # the sweep starts it: due(SCHEDULED, now + START_LEAD)
    State.APPROVED: "ends_at",
    State.ACTIVE: "ends_at",
}
Change = tuple[AccessRequest, Sequence[OutboxMessage]]


class RequestRepository:
    def __init__(self, table: Table):
        self._table = table

    # -- writes ------------------------------------------------------------------------------
    def create(
        self, request: AccessRequest, messages: Sequence[OutboxMessage] = ()
    ) -> AccessRequest:
        """Store a new request and the messages it owes, together; StoreConflict if its id
        is taken."""
        saved = replace(request, version=1)
        self._table.write([Put(request_item(saved)), *message_puts(messages)])
        return saved

    def save(self, request: AccessRequest, messages: Sequence[OutboxMessage] = ()) -> AccessRequest:
        """Write ``request`` and the messages its change owes, together, if nobody changed it
        since it was read; raise StoreConflict if so."""
        saved, puts = self._changed(request, messages)
        self._table.write(puts)
        return saved

    def save_each(self, changes: Sequence[Change]) -> list[AccessRequest | None]:
        """Write each changed request (if nobody changed it since it was read) together with
        the messages its change owes, several requests to a TransactWriteItems as fit (100
        items, 4 MB): a request and its messages are always in the same transaction.

        A request someone else changed meanwhile comes back None and costs the others
        nothing. Raises AwsUnavailable, AwsUncertain (then a transaction's requests may or
        may not be written, all of them or none)."""
        done = [self._changed(request, messages) for request, messages in changes]
        written = self._table.write_each([puts for _, puts in done])
        return [saved if ok else None for (saved, _), ok in zip(done, written, strict=True)]

    def save_pair(
        self, first: AccessRequest, second: AccessRequest, messages: Sequence[OutboxMessage] = ()
    ) -> tuple[AccessRequest, AccessRequest]:
        """Write two requests (each only if unchanged since read) and the messages their
        change owes in one transaction: all or nothing (an extension and the grant it moves).
        Raises StoreConflict, AwsUnavailable, AwsUncertain."""
        one, first_put = self._changed(first, ())
        two, second_put = self._changed(second, ())
        self._table.write([*first_put, *second_put, *message_puts(messages)])
        return one, two

    def runs(self, changes: Sequence[Change]) -> Iterator[list[Change]]:
        """``changes`` cut into runs that fit one transaction each, in order, as ``save_each``
        writes them (a request is never parted from its messages)."""
        groups = [self._changed(request, messages)[1] for request, messages in changes]
        for run in self._table.runs(list(zip(changes, groups, strict=True)), lambda e: e[1]):
            yield [change for change, _ in run]

    def size(self, request: AccessRequest, messages: Sequence[OutboxMessage]) -> int:
        """A request's and its messages' items in bytes, as ``runs`` weighs them."""
        return sum(self._table.size(put.item) for put in self._changed(request, messages)[1])

    def _changed(
        self, request: AccessRequest, messages: Sequence[OutboxMessage]
    ) -> tuple[AccessRequest, list[Put]]:
        saved = replace(request, version=request.version + 1)
        return saved, [Put(request_item(saved), read=request.version), *message_puts(messages)]

    # -- reads -------------------------------------------------------------------------------
    def get(self, request_id: str) -> AccessRequest | None:
        found = self._table.get(_key(request_id))
        return request_from(found) if found else None

    def get_many(self, request_ids: set[str]) -> list[AccessRequest]:
        """Strongly consistent reads of these requests (the indexes may lag a moment behind),
        by id; ids with no request are left out."""
        found = self._table.get_many([_key(i) for i in sorted(request_ids)])
        return sorted((request_from(i) for i in found), key=lambda r: r.id)

    def due(self, state: State, until: str) -> list[AccessRequest]:
        """Requests in ``state`` whose deadline or end is at or before ``until`` (ISO time)."""
        return [request_from(i) for i in self._table.due(f"STATE#{state.value}", until)]

    def in_state(self, state: State) -> list[AccessRequest]:
        """Every request in ``state`` (one the sweep looks at: PENDING, APPROVED, ACTIVE)."""
        return self.due(state, "9999")

    def open_grants(self, role_arn: str) -> list[AccessRequest]:
        """APPROVED and ACTIVE requests of one role: one Query of the sparse live index, so the
        cost follows this role's open grants, not other roles' nor the history kept."""
        return self._live(
            role_arn, "live_sk < :pending"
        )  # ACTIVE#… and APPROVED#… sort before PENDING#…

    def pending_of_role(self, role_arn: str) -> list[AccessRequest]:
        """The role's PENDING requests, oldest first: one Query of the live index."""
        return self._live(role_arn, "begins_with(live_sk, :pending)")

    def _live(self, role_arn: str, condition: str) -> list[AccessRequest]:
        values = {":pk": f"ROLE#{role_arn}", ":pending": f"{State.PENDING.value}#"}
        items = self._table.query(LIVE_INDEX, f"live_pk = :pk AND {condition}", values)
        return [request_from(i) for i in items]

    def of_person(self, slack_id: str, limit: int = 50) -> list[AccessRequest]:
        """A person's requests, newest first, at most ``limit``."""
        items = self._table.query(
            PERSON_INDEX,
            "person_pk = :pk",
            {":pk": f"PERSON#{slack_id}"},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [request_from(i) for _, i in zip(range(limit), items, strict=False)]

    def of_person_since(self, slack_id: str, since: str | None = None) -> list[AccessRequest]:
        """Every request of a person created at or after ``since`` (ISO; None: all kept),
        oldest first, in every state: one Query of the by-person index, page after page."""
        items = self._table.query(
            PERSON_INDEX,
            "person_pk = :pk AND created_at >= :since",
            {":pk": f"PERSON#{slack_id}", ":since": since or "0"},
        )
        return [request_from(i) for i in items]

    def every_since(self, since: str | None = None) -> list[AccessRequest]:
        """Every request kept, of anyone (people since removed from the directory too),
        created at or after ``since``, oldest first: a Scan of the whole table, for the
        operator's "who had this role last quarter?" (``tools.admin list --all``)."""
        items = self._table.scan(
            "begins_with(pk, :req) AND created_at >= :since",
            {":req": "REQ#", ":since": since or "0"},
        )
        return sorted((request_from(i) for i in items), key=lambda r: (r.created_at, r.id))


def _key(request_id: str) -> dict:
    return {"pk": f"REQ#{request_id}", "sk": "REQ"}


def request_item(request: AccessRequest) -> dict:
    data = asdict(request)
    data["state"] = request.state.value
    data["approvals"] = list(request.approvals)
    data["told"] = list(request.told)
    data["extensions"] = list(request.extensions)
    data["scope_actions"] = list(request.scope_actions)
    data["audit"] = [entry.to_dict() for entry in request.audit]
    item = {**_key(request.id), "person_pk": f"PERSON#{request.requester}", **data}
    if request.state in LIVE_STATES:
        item["live_pk"] = f"ROLE#{request.role_arn}"
        item["live_sk"] = f"{request.state.value}#{request.created_at}#{request.id}"
    due_field = DUE_KEY.get(request.state)
    if due_field and data.get(due_field):
        item["due_pk"] = f"STATE#{request.state.value}"
        item["due_at"] = data[due_field]
    if request.state in FINAL_STATES and request.audit:
        item[TTL_ATTRIBUTE] = retained_until(request.audit[-1].at)
    return item


def request_from(item: dict) -> AccessRequest:
    fields = {name: item.get(name) for name in AccessRequest.__dataclass_fields__}
    fields["state"] = State(item["state"])
    fields["approvals"] = tuple(item.get("approvals") or ())
    fields["told"] = tuple(item.get("told") or ())
    fields["extensions"] = tuple(item.get("extensions") or ())
    # Items stored before scopes and schedules have neither: the whole role, from approval.
    fields["scope_actions"] = tuple(item.get("scope_actions") or ())
    fields["break_glass"] = bool(item.get("break_glass"))
    fields["audit"] = tuple(AuditEntry.from_dict(e) for e in item.get("audit") or ())
    for number in ("duration_seconds", "approvals_required", "version"):
        fields[number] = int(item[number])
    fields["require_mfa"] = bool(item.get("require_mfa"))
    return AccessRequest(**fields)
