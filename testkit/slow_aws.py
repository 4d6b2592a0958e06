"""A slow AWS: a tiny HTTP proxy in front of a moto server that holds chosen calls back.

Real boto3 clients point at it (AWS_ENDPOINT_URL) and meet real socket timeouts. A rule names an
operation ("dynamodb.TransactWriteItems", "iam.UpdateAssumeRolePolicy"; "*" for all) and how
long to hold it before forwarding it to moto; a held call still reaches moto afterwards, as a
slow AWS still does the work a client gave up waiting for. Used by tests/ and bench/.

    with SlowAws(moto_url) as aws:
        aws.hold("dynamodb.*", seconds=5)
"""

from __future__ import annotations

import fnmatch
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


def operation_of(headers, body: bytes) -> str:
    """``service.Operation`` of a request as boto3 sends it (JSON target or query Action)."""
    target = headers.get("X-Amz-Target", "")
    if target:  # DynamoDB_20120810.PutItem
        return f"dynamodb.{target.rsplit('.', 1)[-1]}"
    action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
    auth = headers.get("Authorization", "")
    service = auth.split("/")[3] if auth.count("/") >= 3 else "unknown"
    return f"{service}.{action}"


class SlowAws:
    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.rules: list[tuple[str, float]] = []
        self.seen: list[str] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                self._forward("POST")

            def do_GET(self) -> None:  # noqa: N802
                self._forward("GET")

            def _forward(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                operation = operation_of(self.headers, body)
                with proxy._lock:
                    proxy.seen.append(operation)
                    delay = next(
                        (s for pattern, s in proxy.rules if fnmatch.fnmatch(operation, pattern)),
                        0.0,
                    )
                if delay:
                    time.sleep(delay)
                request = urllib.request.Request(
                    proxy.upstream + self.path,
                    data=body if method == "POST" else None,
                    method=method,
                    headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                )
                try:
                    with urllib.request.urlopen(request, timeout=60) as answer:
                        status, headers, data = answer.status, answer.headers, answer.read()
                except urllib.error.HTTPError as error:
                    status, headers, data = error.code, error.headers, error.read()
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up waiting: the work is done all the same

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def hold(self, pattern: str, seconds: float) -> SlowAws:
        """Hold every call matching ``pattern`` (fnmatch) ``seconds`` before forwarding it."""
        with self._lock:
            self.rules.append((pattern, seconds))
        return self

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SlowAws:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
