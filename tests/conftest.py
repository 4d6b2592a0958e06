"""Shared fixtures: a real moto server over HTTP, the app's environment, a Slack receiver."""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import pytest

ROOT = Path(__file__).resolve().parent.parent
SIGNING_SECRET = "test-signing-secret"
COOKIE_KEY = "test-cookie-key-long-enough-for-deployed-stages"
BASE_URL = "http://switchback.test"
ROLE_ARN = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"


class _SearchPaths(list):
    """A loader's search paths that each boto3 session may add its own folder to only once."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


def _one_botocore_loader() -> None:
    """Every botocore session in this process reads the JSON service models through one
    loader, which parses each once. The service makes a new boto3 session after each
    ``wiring.reset()`` (as a new Lambda process does), and the tests reset it for every test:
    without this, each test parsed the IAM, DynamoDB and endpoint models again (about a fifth
    of a test's time). What a client does with the models is unchanged."""
    import botocore.loaders
    import botocore.session

    shared = botocore.loaders.create_loader()
    shared._search_paths = _SearchPaths(shared.search_paths)
    botocore.session.create_loader = lambda *_, **__: shared


_one_botocore_loader()


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    import logging

    from moto.server import ThreadedMotoServer

    from tools.moto_guard import serialise_dynamodb_writes

    serialise_dynamodb_writes()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean moto account reached over real HTTP, as boto3 sees AWS."""
    for name, value in {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"))
    return moto_url


class SlackReceiver:
    """A local Slack stand-in over real HTTP: records every POST and answers from a script.

    ``script`` holds answers to give, in order, as (status, body, headers) or "hang"; when it
    is empty, 200 "ok" (or ``{"ok": true}`` on ``/api/…``, as Slack's Web API answers).
    ``answer_for(path, payload)``, when set, answers by destination whatever the order posts
    arrive in (sends to several destinations go side by side): an answer as in ``script``, or
    None for the script's.

    It also answers the Web API's ``usergroups.users.list`` (a GET) from ``groups`` (group id
    -> member ids): ``{"ok": false, "error": "no_such_subteam"}`` for others, and HTTP 503
    while ``groups_down`` is set. Each such call is recorded in ``group_lookups``.
    """

    def __init__(self) -> None:
        self.received: list[dict] = []  # every request: path, payload, answered status
        self.script: list[tuple[int, str, dict] | str] = []
        self.answer_for: Callable[[str, dict], tuple[int, str, dict] | str | None] | None = None
        self.groups: dict[str, list[str]] = {}
        self.groups_down = False
        self.group_lookups: list[str] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/api/usergroups.users.list"):
                    return self._groups(body.decode())
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
                self._groups("")

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


@pytest.fixture
def slack() -> Iterator[SlackReceiver]:
    receiver = SlackReceiver()
    yield receiver
    receiver.close()


class Clock:
    """The service's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def app_env(aws: str, slack: SlackReceiver, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The environment of the local stage, with AWS resources created as `make run` does."""
    from chalicelib import wiring
    from chalicelib.policies import load_catalog
    from tools.local_stack import ensure_aws_resources

    values = {
        "SWITCHBACK_STAGE": "local",
        "SWITCHBACK_TABLE": "switchback",
        "SWITCHBACK_POLICIES": str(ROOT / "policies"),
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SWITCHBACK_COOKIE_KEY": COOKIE_KEY,
        "SWITCHBACK_BASE_URL": BASE_URL,
        "SLACK_WEBHOOK_URL": f"{slack.url}/webhook/approvers",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(ROOT)
    ensure_aws_resources(load_catalog(values["SWITCHBACK_POLICIES"]), "switchback")
    wiring.reset()
    yield values
    wiring.reset()


@pytest.fixture
def clock(app_env: dict) -> Clock:
    from chalicelib import wiring

    fake = Clock()
    wiring.service().clock = fake
    return fake


@pytest.fixture
def service(app_env: dict, clock: Clock):
    from chalicelib import wiring

    return wiring.service()


@pytest.fixture
def client(app_env: dict):
    from chalice.test import Client

    import app

    with Client(app.app, stage_name="local", project_dir=str(ROOT)) as test_client:
        yield test_client


@contextlib.contextmanager
def running_stack(workdir: Path, signing_secret: str, **env: str) -> Iterator:
    """The real local stack (tools/stack_process.py) with its own Slack receiver as the
    approvers' webhook, at ``.slack``; stopped and closed on exit."""
    from tools.stack_process import StackProcess

    slack = SlackReceiver()
    running = StackProcess(
        workdir, signing_secret, SLACK_WEBHOOK_URL=f"{slack.url}/webhook/approvers", **env
    )
    try:
        running.wait_ready()
        running.slack = slack
        yield running
    finally:
        running.stop()
        slack.close()


def people_toml(*names: str) -> str:
    """A people.toml for test folders: ``U0<NAME>`` -> name, IAM user ``<name>`` in the
    moto account."""
    return "".join(
        f'\n[people.U0{name.upper()}]\nname = "{name}"\n'
        f'aws = "arn:aws:iam::123456789012:user/{name}"\n'
        for name in names
    )


def signed_command(
    user: str,
    text: str,
    response_url: str = "",
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
) -> tuple[bytes, dict]:
    """A slash-command body and headers signed as Slack signs them."""
    from chalicelib.entry.slack_signature import sign

    body = urlencode(
        {
            "team_id": "T0TEST",
            "user_id": user,
            "user_name": user,
            "command": "/access",
            "text": text,
            "response_url": response_url,
            # unique per command, as Slack's is: the same body twice is a replay
            "trigger_id": secrets.token_hex(8),
        }
    ).encode()
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    return body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": sign(secret, stamp, body),
    }


def trust_policy(role_name: str = "AWSEC2FULLACCESS") -> dict:
    import boto3

    document = boto3.client("iam").get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    return json.loads(document) if isinstance(document, str) else document


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Switchback's log lines, DEBUG and up (metrics are DEBUG lines). Its logger is Chalice's
    app logger, which does not propagate to the root, so caplog needs its handler on it."""
    import logging

    logger = logging.getLogger("switchback")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG, logger="switchback")
    yield caplog
    logger.removeHandler(caplog.handler)


# -- one-minute grants, started when the session starts -------------------------------------------
# A grant lasts at least a minute, so seeing one expire on the real local stack takes a minute of
# waiting. The two tests that do get their grant from these session fixtures, which the session's
# first test starts (when those tests are selected), so the minute passes while others run.
@pytest.fixture(scope="session")
def minute_grant_on_the_local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    from tests.test_e2e import grant_a_minute

    slack = SlackReceiver()
    try:
        grant = grant_a_minute(tmp_path_factory.mktemp("e2e"), slack)
        try:
            yield grant
        finally:
            grant.stack.stop()
    finally:
        slack.close()


@pytest.fixture(scope="session")
def browser_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    from tests.test_browser import ask_for_a_minute, started_stack

    with started_stack(tmp_path_factory.mktemp("browser")) as running:
        running.expiring = ask_for_a_minute(running)
        yield running


STARTED_EARLY = ("minute_grant_on_the_local_stack", "browser_stack")


@pytest.fixture(scope="session", autouse=True)
def _minutes_started_early(request: pytest.FixtureRequest) -> None:
    used = {name for item in request.session.items for name in item.fixturenames}
    for name in STARTED_EARLY:
        if name in used:
            try:
                request.getfixturevalue(name)
            except (Exception, pytest.fail.Exception, pytest.skip.Exception):
                # Not this test's failure: pytest keeps the error and raises it again in each
                # test that uses the fixture.
                pass
