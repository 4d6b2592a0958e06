"""Shared fixtures: a real moto server over HTTP, the app's environment, a Slack receiver."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest

from testkit.slack_standin import SlackReceiver
from tests.support import workers

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

    from testkit.moto_guard import serialise_dynamodb_writes

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
    from tests.e2e.test_whole_loop import grant_a_minute

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
    from tests.e2e.test_browser import ask_for_a_minute, started_stack

    with started_stack(tmp_path_factory.mktemp("browser")) as running:
        running.expiring = ask_for_a_minute(running)
        yield running


STARTED_EARLY = ("minute_grant_on_the_local_stack", "browser_stack")


@pytest.fixture(scope="session", autouse=True)
def _minutes_started_early(request: pytest.FixtureRequest) -> None:
    used = {name for item in request.session.items for name in item.fixturenames}
    for name in workers.started_here(request.config, STARTED_EARLY):
        if name in used:
            try:
                request.getfixturevalue(name)
            except (Exception, pytest.fail.Exception, pytest.skip.Exception):
                # Not this test's failure: pytest keeps the error and raises it again in each
                # test that uses the fixture.
                pass


# -- workers (pytest-xdist): which tests stay together, and where (tests/support/workers.py) ------
@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if workers.loadgroup(config):
        workers.mark_groups(items, STARTED_EARLY)


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # before xdist's own
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    if workers.loadgroup(config):
        return workers.make_scheduler(config, log, STARTED_EARLY)
    return None
