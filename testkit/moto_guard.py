"""Make an in-process moto server safe and quick for concurrent DynamoDB transactions.

moto answers TransactWriteItems by deep-copying every table it names, once per item, to roll
back on failure, while its threaded server lets other requests change the same table: the copy
then fails with "dictionary changed size during iteration" and the caller gets a 500 that real
DynamoDB would never send; and the copy costs time in proportion to the whole table. Here
moto's DynamoDB writes are serialised in the process that runs it (reads are not held up), and
the rollback copy keeps the table's item maps, not deep copies of every item (moto replaces an
item on each write, never edits it in place), taken once per table and transaction. Call
before starting a ThreadedMotoServer (tests, the local stack, bench/).
"""

from __future__ import annotations

import copy
import functools
import threading
from collections import defaultdict
from types import SimpleNamespace

_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_lock = threading.RLock()


def _snapshot(thing, memo=None):
    """What moto's rollback keeps of a table: its item maps, copied two levels deep."""
    from moto.dynamodb.models.table import Table

    if not isinstance(thing, Table):
        return copy.deepcopy(thing, memo)
    kept = copy.copy(thing)
    # A read of a missing key adds it to the (default)dict, and reads are not serialised:
    # dict() copies in one step under the GIL, where iterating the live map could fail.
    items = dict(thing.items)
    kept.items = defaultdict(
        dict, {h: dict(v) if isinstance(v, dict) else v for h, v in items.items()}
    )
    return kept


def serialise_dynamodb_writes() -> None:
    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend

    if not getattr(DynamoDBBackend.transact_write_items, "_serialised", False):
        transact = DynamoDBBackend.transact_write_items

        @functools.wraps(transact)
        def quick_transact(*args, **kwargs):
            with _lock:
                # Writes wait for this lock, so a table is the same for every item of the
                # transaction: one copy of it serves them all.
                taken: dict[int, object] = {}

                def snapshot_once(thing, memo=None):
                    if id(thing) not in taken:
                        taken[id(thing)] = _snapshot(thing, memo)
                    return taken[id(thing)]

                models.copy = SimpleNamespace(deepcopy=snapshot_once)
                try:
                    return transact(*args, **kwargs)
                finally:
                    models.copy = copy

        quick_transact._serialised = True  # type: ignore[attr-defined]
        DynamoDBBackend.transact_write_items = quick_transact
    for name in _WRITES:
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "_serialised", False):
            continue

        @functools.wraps(original)
        def serialised(*args, __original=original, **kwargs):
            with _lock:
                return __original(*args, **kwargs)

        serialised._serialised = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, serialised)
