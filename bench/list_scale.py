"""What `list` costs as everyone else's requests pile up: the caller's answer with 3, then
1,000 other people's pending requests on roles the caller neither requested nor approves.

Runs the slash command's `list` (chalicelib/entry/slash.py) against the real store on an embedded
moto server and prints DynamoDB calls, items read and the median time per answer at both
sizes, and their ratio (target: at most 1.5).

    .venv/bin/python bench/list_scale.py [others]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from engine_setup import ACCOUNT, MovableClock, build_service, start_aws

RUNS = 30


def write_policies(folder: Path, people: int) -> Path:
    (folder / "roles").mkdir(parents=True)
    (folder / "people.toml").write_text(
        "".join(
            f'[people.U0P{i:04d}]\nname = "p{i:04d}"\n'
            f'aws = "arn:aws:iam::{ACCOUNT}:user/p{i:04d}"\n'
            for i in range(people)
        )
    )
    # The caller U0P0000 requests and approves "ours"; everyone else's requests go to "theirs",
    # approved by U0P0001.
    for name, approvers in (("ours", ["U0P0000", "U0P0001"]), ("theirs", ["U0P0001"])):
        (folder / "roles" / f"{name}.toml").write_text(
            f'role_arn = "arn:aws:iam::{ACCOUNT}:role/{name.upper()}"\n'
            'max_duration = "4h"\nrequesters = ["*"]\n'
            f"approvers = {approvers!r}\n".replace("'", '"')
        )
    return folder


class Reads:
    """DynamoDB calls and the items they returned, from the real client's answers."""

    def __init__(self, client) -> None:
        self.calls: Counter[str] = Counter()
        self.items = 0
        self._lock = threading.Lock()
        client.meta.events.register("after-call.dynamodb", self._after)

    def _after(self, model, parsed, **_) -> None:
        with self._lock:
            self.calls[model.name] += 1
            self.items += (
                len(parsed.get("Items", []))
                + len([i for r in parsed.get("Responses", {}).values() for i in r])
                + (1 if "Item" in parsed else 0)
            )


def measure(service, reads: Reads) -> tuple[float, int, int, str]:
    from chalicelib.entry import slash

    timings = []
    for _ in range(RUNS):
        reads.calls.clear()
        reads.items = 0
        started = time.perf_counter()
        answer = slash.handle(service, "U0P0000", "list", None, "/access")
        timings.append((time.perf_counter() - started) * 1000)
    assert "Your requests" in answer["text"] or answer.get("blocks"), answer
    calls = sum(reads.calls.values())
    detail = ", ".join(f"{k} {v}" for k, v in sorted(reads.calls.items()))
    return statistics.median(timings), calls, reads.items, detail


def everyone_live(service) -> None:
    """What `list` read before it read only the caller's: every live request, three Queries."""
    from chalicelib.core.model import State

    for state in (State.PENDING, State.APPROVED, State.ACTIVE):
        service.store.requests_in(state)


def pending(service, person: str, command, made: dict) -> None:
    """One more pending request by ``person``: submit allows one per person and role, so a
    further one is a copy of their first, written straight to the table."""
    from dataclasses import replace

    from chalicelib.core.model import new_request_id

    key = (person, command.role)
    if key not in made:
        made[key] = service.submit(person, command, None)
    else:
        service.store.create_request(replace(made[key], id=new_request_id(), version=0))


def main() -> None:
    from chalicelib.core.commands import RequestCommand
    from chalicelib.core.durations import parse_duration

    others = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    start_aws()
    with tempfile.TemporaryDirectory() as folder:
        policies = write_policies(Path(folder) / "policies", 50)
        service = build_service(policies, "switchback-list", MovableClock())
        reads = Reads(service.store.client)
        command = RequestCommand("ours", parse_duration("1h"), "INC-1 mine")
        made: dict = {}
        for _ in range(2):
            pending(service, "U0P0000", command, made)  # the caller's own
        pending(service, "U0P0002", command, made)  # one waiting for the caller's approval
        theirs = RequestCommand("theirs", parse_duration("1h"), "INC-2 theirs")
        people = [f"U0P{i:04d}" for i in range(2, 50)]
        for n in range(3):
            pending(service, people[n % len(people)], theirs, made)
        small = measure(service, reads)
        for n in range(3, others):
            pending(service, people[n % len(people)], theirs, made)
        large = measure(service, reads)
        reads.calls.clear()
        reads.items = 0
        started = time.perf_counter()
        everyone_live(service)
        before_ms = (time.perf_counter() - started) * 1000
        before = (sum(reads.calls.values()), reads.items)
    print(f"list, median of {RUNS} answers, moto on this machine:")
    print(
        f"  3 other pending:     {small[0]:6.1f} ms, {small[1]} DynamoDB calls ({small[3]}), "
        f"{small[2]} items read"
    )
    print(
        f"  {others} other pending:  {large[0]:6.1f} ms, {large[1]} DynamoDB calls "
        f"({large[3]}), {large[2]} items read"
    )
    print(f"ratio (time):  {large[0] / small[0]:.2f}  (target <= 1.5)")
    print(f"ratio (calls): {large[1] / small[1]:.2f}, ratio (items): {large[2] / small[2]:.2f}")
    print(
        f"reading every live request instead (as list did before): {before[0]} calls, "
        f"{before[1]} items, {before_ms:.1f} ms"
    )
    print("moto answers an index Query by scanning the whole table, so its time grows with the")
    print("table even when the items read do not; DynamoDB reads (and bills) only the items read.")


if __name__ == "__main__":
    main()
