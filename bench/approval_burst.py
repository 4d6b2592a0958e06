"""Approvals under a burst: 100 simultaneous clicks on 10 roles (10 pending requests per role,
each approved by its own click, all at the same instant), on a moto server embedded in this
process, as ``make run`` embeds it beside the app (``--aws-apart``: moto in a process of its
own, as with ``AWS_ENDPOINT_URL``).

Each click is what POST /requests/{id}/approve runs (the approve use case under the review
page's budget, then the inline send of its messages); with ``--http`` it is that POST itself,
signed in, to the app served as ``make run`` serves it (chalice's local server, in this
process). Prints p50/p99/max of a click, AWS calls per click during the burst, and trust-policy
writes per role: the first click to take a role's lock grants every request of the role
approved by then (the others leave theirs with it).

    .venv/bin/python bench/approval_burst.py [--aws-apart] [--http] [roles] [per_role]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from engine_setup import MovableClock, build_service, clients, start_aws, write_policies


def main() -> None:
    apart = "--aws-apart" in sys.argv
    over_http = "--http" in sys.argv
    numbers = [a for a in sys.argv[1:] if not a.startswith("--")]
    roles = int(numbers[0]) if numbers else 10
    per_role = int(numbers[1]) if len(numbers) > 1 else 10
    start_aws(apart=apart)
    import app
    from chalicelib.core import deadline
    from chalicelib.core.commands import RequestCommand
    from chalicelib.core.durations import parse_duration
    from chalicelib.entry import review_routes
    from testkit.aws_calls import CallCounter

    with tempfile.TemporaryDirectory() as folder:
        policies = write_policies(Path(folder) / "policies", roles, per_role)
        service = build_service(policies, "switchback-burst", MovableClock())
        pending = []
        for r in range(roles):
            for p in range(per_role):
                command = RequestCommand(f"role{r:03d}", parse_duration("1h"), "INC-1 burst")
                pending.append(service.submit(f"U0P{p:04d}", command, None).id)
        service.flush(5)
        service.sweep()  # as a running stack has: nothing due, its per-process caches warm
        counter = CallCounter().attach(*clients(service))
        start = threading.Barrier(len(pending))
        took: dict[str, float] = {}
        outcomes: Counter[str] = Counter()
        lock = threading.Lock()

        post = served(app) if over_http else None

        def click(request_id: str) -> None:
            start.wait()
            began = time.perf_counter()
            if post is not None:
                outcome = post(request_id, "U0APPROVER")
            else:
                with (
                    deadline.within(review_routes.PAGE_BUDGET_SECONDS),
                    deadline.lock_patience(review_routes.CLICK_LOCK_PATIENCE_SECONDS),
                ):
                    try:
                        outcome = service.approve(request_id, "U0APPROVER").state.value
                    except Exception as error:  # counted and shown, as the page would
                        outcome = type(error).__name__ + (
                            f" {error.response['Error']['Code']}"
                            if hasattr(error, "response")
                            else ""
                        )
                    service.flush(max(0.0, min(5.0, deadline.current().remaining() - 1.0)))
            with lock:
                took[request_id] = time.perf_counter() - began
                outcomes[outcome] += 1

        load = os.getloadavg()[0]
        threads = [threading.Thread(target=click, args=(i,)) for i in pending]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
        iam, dynamo = counter.of("iam"), counter.of("dynamodb")  # the burst's calls only
        retries = sum(counter.attempts.values()) - sum(counter.calls.values())
        counter.detach()
        final = Counter(service.get(i).state.value for i in pending)
        service.sweep()
        after_sweep = Counter(service.get(i).state.value for i in pending)

    clicks = len(pending)
    times = sorted(took.values())
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    writes = iam["UpdateAssumeRolePolicy"]
    where = "moto in its own process" if apart else "moto in this process"
    how = "POSTs to the app's local server" if over_http else "clicks"
    print(f"{clicks} simultaneous {how} on {roles} roles ({per_role} requests each), {where}")
    # The machine is shared: what else ran meanwhile moves these times by seconds.
    print(
        f"machine load:       {load:.1f} (1-min average before the burst; {os.cpu_count()} cores)"
    )
    print(
        f"click answered:     p50 {statistics.median(times):.2f} s, p99 {p99:.2f} s, "
        f"max {times[-1]:.2f} s (target: every click < 10 s); burst {wall:.1f} s"
    )
    print(f"click outcomes:     {dict(outcomes)}")
    print(f"stored after burst: {dict(final)}; after one sweep: {dict(after_sweep)}")
    print(
        f"trust writes:       {writes} for {roles} roles ({writes / roles:.1f} per role; "
        f"{per_role} grants each)"
    )
    print(
        f"AWS calls / click:  {(sum(iam.values()) + sum(dynamo.values())) / clicks:.1f} "
        f"(IAM {sum(iam.values()) / clicks:.1f}, DynamoDB {sum(dynamo.values()) / clicks:.1f})"
    )
    print(f"  IAM:      {', '.join(f'{k} {v}' for k, v in sorted(iam.items()))}")
    print(f"  DynamoDB: {', '.join(f'{k} {v}' for k, v in sorted(dynamo.items()))}")
    print(f"  HTTP attempts beyond calls (botocore retries): {retries}")


def served(app):
    """The app on chalice's local server in this process, as ``make run`` serves it; returns
    ``post(request_id, approver) -> outcome``: the approve button's POST, signed in, with the
    page's CSRF token ("303" is the page after a recorded approval)."""
    import http.client
    from urllib.parse import urlencode

    from chalice.config import Config
    from chalice.local import create_local_server

    from chalicelib.web import sessions

    server = create_local_server(
        app.app, Config.create(chalice_stage="local", lambda_timeout=60), "127.0.0.1", 0
    )
    server.server.socket.listen(128)  # as tools/local_stack.py
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server.server_address[1]

    def post(request_id: str, approver: str) -> str:
        session = sessions.new_session(approver, time.time())
        cookie = f"{sessions.COOKIE_NAME}={sessions.encode(session, 'bench')}"
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            connection.request(
                "POST",
                f"/requests/{request_id}/approve",
                body=urlencode({"csrf": session.csrf}),
                headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
            )
            answer = connection.getresponse()
            answer.read()
            return f"HTTP {answer.status}"
        except OSError as error:
            return type(error).__name__
        finally:
            connection.close()

    return post


if __name__ == "__main__":
    main()
