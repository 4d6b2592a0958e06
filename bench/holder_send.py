"""What a lock holder's click spends telling people: ten requests of one role approved at once,
the first click to take the lock grants all ten, then sends its messages inline (its approval
to the channel; each grant to the requester's response_url and to the channel). Slack here is
a local stand-in that answers each post after 150 ms, about what Slack takes.

Sent one after another (``LANES_AT_ONCE = 1``, as before) and with destinations side by side
(the default): prints the send's time and the messages and destinations it reached.

    .venv/bin/python bench/holder_send.py [requests]
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from engine_setup import MovableClock, build_service, start_aws, write_policies

SLACK_TAKES = 0.150  # seconds per post


class SlowSlack:
    def __init__(self) -> None:
        self.arrived: list[tuple[str, str]] = []  # (path, text)
        slack = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                time.sleep(SLACK_TAKES)
                slack.arrived.append((self.path, json.dumps(body)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()


def one_round(service, slack: SlowSlack, role: str, requests: int, lanes: int) -> None:
    import boto3

    from chalicelib.core.commands import RequestCommand
    from chalicelib.core.durations import parse_duration
    from chalicelib.delivery import outbox

    outbox.LANES_AT_ONCE = lanes
    ids = [
        service.submit(
            f"U0P{p:04d}",
            RequestCommand(role, parse_duration("1h"), "INC-1 bench"),
            f"{slack.url}/response/U0P{p:04d}",
        ).id
        for p in range(requests)
    ]
    service.flush(30)
    # Another process holds the role's lock: every click but the last leaves its request
    # with it; it dies, and the last click takes the lock and grants them all.
    arn = service.catalog.role(role).role_arn
    table = boto3.client("dynamodb")
    key = {"pk": {"S": f"LOCK#role:{arn}"}, "sk": {"S": "LOCK"}}
    table.put_item(
        TableName="switchback-holder-send",
        Item={**key, "owner": {"S": "gone"}, "expires": {"N": str(int(time.time()) + 600)}},
    )
    for request_id in ids[:-1]:
        service.approve(request_id, "U0APPROVER")
    service.flush(30)
    table.update_item(
        TableName="switchback-holder-send",
        Key=key,
        UpdateExpression="SET expires = :gone",
        ExpressionAttributeValues={":gone": {"N": "0"}},
    )
    granted = service.approve(ids[-1], "U0APPROVER").state.value
    before = len(slack.arrived)
    began = time.perf_counter()
    service.flush(25)
    took = time.perf_counter() - began
    arrived = slack.arrived[before:]
    states = {service.get(i).state.value for i in ids}
    print(
        f"  {'in turn' if lanes == 1 else f'{lanes} side by side':16} send {took:5.2f} s, "
        f"{len(arrived)} messages to {len({p for p, _ in arrived})} destinations "
        f"(the holder's request {granted}, all {sorted(states)})"
    )


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    start_aws()
    slack = SlowSlack()
    with tempfile.TemporaryDirectory() as folder:
        policies = write_policies(Path(folder) / "policies", 2, requests)
        service = build_service(
            policies, "switchback-holder-send", MovableClock(), f"{slack.url}/webhook/approvers"
        )
        print(f"A lock holder's inline send: {requests} grants, Slack answering in 150 ms")
        one_round(service, slack, "role000", requests, lanes=1)
        one_round(service, slack, "role001", requests, lanes=4)


if __name__ == "__main__":
    main()
