"""Outbox messages in the table (``MSG#<id>``): added with the change that owes them (see
requests.py), then saved by the outbox as it sends them. Only PENDING messages carry the due
index's keys (``OUTBOX``, by next attempt); sent and given-up ones expire by TTL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace

from chalicelib.aws.table import TTL_ATTRIBUTE, Put, Table, retained_until
from chalicelib.delivery.message import OutboxMessage, as_added

DUE_PK = "OUTBOX"


class MessageRepository:
    def __init__(self, table: Table):
        self._table = table

    def add(self, message: OutboxMessage) -> OutboxMessage:
        """Store a new message on its own; StoreConflict if its id was stored before."""
        saved = as_added(message)
        self._table.write([Put(message_item(saved))])
        return saved

    def save(self, message: OutboxMessage) -> OutboxMessage:
        """Write ``message`` if nobody changed it since it was read; StoreConflict if so."""
        saved, put = _changed(message)
        self._table.write([put])
        return saved

    def save_each(self, messages: Sequence[OutboxMessage]) -> list[OutboxMessage | None]:
        """``save`` for several messages in as few writes as fit: one TransactWriteItems for up
        to 100 (a click that sent twenty messages records them at once). A message someone
        else changed meanwhile (a sweep that claimed it) comes back None and costs the others
        nothing. Raises AwsUnavailable, AwsUncertain."""
        done = [_changed(m) for m in messages]
        written = self._table.write_each([[put] for _, put in done])
        return [saved if ok else None for (saved, _), ok in zip(done, written, strict=True)]

    def due(self, until: str) -> list[OutboxMessage]:
        """PENDING messages whose next attempt is at or before ``until`` (ISO time)."""
        return [message_from(i) for i in self._table.due(DUE_PK, until)]

    def get(self, message_id: str) -> OutboxMessage | None:
        found = self._table.get({"pk": f"MSG#{message_id}", "sk": "MSG"})
        return message_from(found) if found else None


def message_puts(messages: Sequence[OutboxMessage]) -> list[Put]:
    """Puts that add ``messages`` to the outbox (each one new), to go with a change."""
    return [Put(message_item(as_added(m))) for m in messages]


def _changed(message: OutboxMessage) -> tuple[OutboxMessage, Put]:
    saved = replace(message, version=message.version + 1)
    return saved, Put(message_item(saved), read=message.version)


def message_item(message: OutboxMessage) -> dict:
    item = {"pk": f"MSG#{message.id}", "sk": "MSG", **asdict(message)}
    if message.status == "PENDING":
        item["due_pk"] = DUE_PK
        item["due_at"] = message.next_attempt_at
    else:
        item[TTL_ATTRIBUTE] = retained_until(message.created_at)
    return item


def message_from(item: dict) -> OutboxMessage:
    fields = {name: item.get(name) for name in OutboxMessage.__dataclass_fields__}
    fields["attempts"] = int(item["attempts"])
    fields["version"] = int(item["version"])
    fields["last_error"] = item.get("last_error") or ""
    return OutboxMessage(**fields)
