"""What an EventBridge bus that never answers does to a slash command's answer.

The real local stack (embedded moto, console Slack) with SWITCHBACK_EVENT_BUS set and
EventBridge's endpoint (AWS_ENDPOINT_URL_EVENTBRIDGE) pointed at a server that accepts
connections and never answers; `request` acks timed over HTTP, against the same stack with a
bus that answers and with none. Each request's Slack message goes first; with the silent bus
its event waits for the sweep.

    .venv/bin/python bench/event_ack.py [N]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ack_latency import SECRET, Webhook, line, measure  # noqa: E402
from tools.stack_process import StackProcess  # noqa: E402


def timed(count: int, **env: str) -> list[float]:
    with tempfile.TemporaryDirectory() as workdir:
        stack = StackProcess(Path(workdir), SECRET, SWITCHBACK_SWEEP_SECONDS="3600", **env)
        stack.wait_ready()
        try:
            measure(stack, "help", 3)
            return measure(stack, "request ec2-admin 30m INC-42 bench", count, withdraw=True)
        finally:
            stack.stop()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    none = timed(count)
    # "default": the bus every account has, so the stack creates none at start.
    answering = timed(count, SWITCHBACK_EVENT_BUS="default")
    silent = Webhook(hang=True)
    try:
        hanging = timed(
            count,
            SWITCHBACK_EVENT_BUS="default",
            AWS_ENDPOINT_URL_EVENTBRIDGE=silent.url.rsplit("/", 1)[0],
        )
    finally:
        silent.close()
    print("`request` ack with events published (each withdrawn again, untimed):")
    print(line("no bus", none))
    print(line("bus ok", answering))
    print(line("bus silent", hanging))
    slow = sum(t > 2 * statistics.median(answering) + 100 for t in hanging)
    print(f"  acks slowed by the silent bus: {slow} of {len(hanging)} (target: the first only)")


if __name__ == "__main__":
    main()
