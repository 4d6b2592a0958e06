"""A local Slack stand-in over real HTTP: incoming webhooks, response_url and the Web API.

Used by the tests (the ``slack`` fixture), the end-to-end tests' local stacks and bench/.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SlackReceiver:
    """A local Slack stand-in over real HTTP: records every POST and answers from a script.

    ``script`` holds answers to give, in order, as (status, body, headers) or "hang"; when it
    is empty, 200 "ok" (or ``{"ok": true}`` on ``/api/…``, as Slack's Web API answers).
    ``answer_for(path, payload)``, when set, answers by destination whatever the order posts
    arrive in (sends to several destinations go side by side): an answer as in ``script``, or
    None for the script's.

    It also answers the Web API's ``usergroups.users.list`` (a GET) from ``groups`` (group id
    -> member ids): ``{"ok": false, "error": "no_such_subteam"}`` for others, and HTTP 503
    while ``groups_down`` is set. Each such call is recorded in ``group_lookups``. And
    ``users.info`` from ``time_zones`` (user id -> IANA zone, ``user.tz``), recorded in
    ``user_lookups``.
    """

    def __init__(self) -> None:
        self.received: list[dict] = []  # every request: path, payload, answered status
        self.script: list[tuple[int, str, dict] | str] = []
        self.answer_for: Callable[[str, dict], tuple[int, str, dict] | str | None] | None = None
        self.groups: dict[str, list[str]] = {}
        self.groups_down = False
        self.group_lookups: list[str] = []
        # users.info: user id -> IANA time zone (``user.tz``); others: user_not_found
        self.time_zones: dict[str, str] = {}
        self.user_lookups: list[str] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/api/usergroups.users.list"):
                    return self._groups(body.decode())
                if self.path.startswith("/api/users.info"):
                    return self._user(body.decode())
                web_api = self.path.startswith("/api/")
                default = (200, '{"ok": true}', {"Content-Type": "application/json"})
                with receiver._lock:
                    payload = json.loads(body)
                    chosen = receiver.answer_for and receiver.answer_for(self.path, payload)
                    if chosen:
                        answer = chosen
                    elif receiver.script:
                        answer = receiver.script.pop(0)
                    else:
                        answer = default if web_api else (200, "ok", {})
                    entry = {
                        "path": self.path,
                        "payload": payload,
                        "status": None,
                        "headers": dict(self.headers.items()),
                        "at": time.monotonic(),  # when it arrived
                    }
                    receiver.received.append(entry)
                if answer == "hang":
                    receiver._release.wait(30)
                    return
                status, text, headers = answer
                entry["status"] = status
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(text.encode())

            def do_GET(self) -> None:  # noqa: N802
                if self.path.startswith("/api/users.info"):
                    return self._user("")
                self._groups("")

            def _user(self, form: str) -> None:
                from urllib.parse import parse_qs, urlsplit

                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(f"{url.query}&{form}").items()}
                user = query.get("user", "")
                receiver.user_lookups.append(user)
                if user in receiver.time_zones:
                    answer = {"ok": True, "user": {"id": user, "tz": receiver.time_zones[user]}}
                else:
                    answer = {"ok": False, "error": "user_not_found"}
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def _groups(self, form: str) -> None:
                from urllib.parse import parse_qs, urlsplit

                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(f"{url.query}&{form}").items()}
                if url.path != "/api/usergroups.users.list":
                    self.send_response(404)
                    self.end_headers()
                    return
                group = query.get("usergroup", "")
                receiver.group_lookups.append(group)
                if receiver.groups_down:
                    status, answer = 503, {"ok": False, "error": "service_unavailable"}
                elif group in receiver.groups:
                    status, answer = 200, {"ok": True, "users": receiver.groups[group]}
                else:
                    status, answer = 200, {"ok": False, "error": "no_such_subteam"}
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # a short poll interval: close() (every test) waits for it
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def delivered(self, path: str | None = None) -> list[dict]:
        """Payloads answered with 2xx (what Slack would have shown), optionally for one path."""
        return [
            e["payload"]
            for e in self.received
            if e["status"] and 200 <= e["status"] < 300 and (path is None or e["path"] == path)
        ]

    def texts(self, path: str | None = None) -> list[str]:
        return [p.get("text", "") for p in self.delivered(path)]

    def wait_for(self, predicate, timeout: float = 10.0) -> list[dict]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            found = [p for p in self.delivered() if predicate(p)]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no matching Slack message; got {self.texts()}")

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
