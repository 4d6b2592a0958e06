"""How fast Slack gets its answer: p50/p99 of POST /slack/commands on the local stack.

Starts the local stack (embedded moto, console Slack), sends N signed `request` commands as
alice, and prints the latency distribution. Slack gives up after 3 s; the target is p99 ≤ 300 ms.

    .venv/bin/python bench/ack_latency.py [N]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.slash import send  # noqa: E402
from tools.stack_process import StackProcess  # noqa: E402

SECRET = "bench-signing-secret"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def measure(stack: StackProcess, text: str, count: int) -> list[float]:
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        status, answer = send(stack.api, SECRET, "U0ALICE", text, "http://127.0.0.1:9/response")
        timings.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise SystemExit(f"HTTP {status}: {answer}")
    return timings


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as workdir:
        stack = StackProcess(Path(workdir), SECRET, SWITCHBACK_SWEEP_SECONDS="3600").wait_ready()
        try:
            measure(stack, "help", 5)  # warm the process: clients, policies, imports
            for label, text in [("request", "request ec2-admin 30m INC-42 bench"),
                                ("list", "list"), ("roles", "roles")]:
                timings = measure(stack, text, count)
                print(f"{label:8} n={count} p50={statistics.median(timings):6.1f} ms "
                      f"p99={percentile(timings, 0.99):6.1f} ms max={max(timings):6.1f} ms")
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
