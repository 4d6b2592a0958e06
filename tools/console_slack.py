"""A stand-in for Slack on the local stack: receives webhook and response_url posts over HTTP
and prints them readably, so `make run` shows every message without a Slack workspace."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def readable(payload: dict) -> str:
    """Block Kit to plain console text: sections, buttons with their links."""
    lines = []
    for block in payload.get("blocks") or []:
        if block.get("type") == "section":
            lines.append(block["text"]["text"])
        elif block.get("type") == "actions":
            for element in block.get("elements", []):
                label = element.get("text", {}).get("text", "")
                lines.append(f"[{label}] {element.get('url', '')}")
    text = "\n".join(lines) or payload.get("text", "")
    text = re.sub(r"<!date\^\d+\^[^|]*\|([^>]*)>", r"\1", text)  # show the fallback time
    text = re.sub(r"<(https?://[^|>]+)\|([^>]*)>", r"\2 (\1)", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


class _Server(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: ten lock holders telling Slack at once would
    # overflow it, and each connection refused waits a second for its SYN to be sent again.
    request_queue_size = 128
    daemon_threads = True


class ConsoleSlack:
    """HTTP server on 127.0.0.1 that prints what it receives; ``/webhook/<name>`` or
    ``/response/<user>``."""

    def __init__(self, port: int = 0, out=print):
        printer = out

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    payload = json.loads(body)
                    shown = readable(payload)
                except ValueError:
                    shown = body.decode("utf-8", "replace")
                where = self.path.strip("/").replace("/", " → ")
                printer(f"\n──── Slack {where} ────\n{shown}\n")
                web_api = self.path.startswith("/api/")  # chat.postMessage (SLACK_API_URL)
                self.send_response(200)
                self.send_header("Content-Type", "application/json" if web_api else "text/plain")
                self.end_headers()
                self.wfile.write(b'{"ok": true}' if web_api else b"ok")

            def log_message(self, *args) -> None:
                pass

        self._server = _Server(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> ConsoleSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
