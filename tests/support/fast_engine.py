"""The Switchback service of engine_kit.py, on fakes: testkit/fakes.py's ``FakeStore`` and
testkit/fake_iam.py's ``FakeIam`` instead of DynamoDB and IAM on moto, so a use-case test runs
in milliseconds. The same roles, people and policies; messages still go, over HTTP, to the Slack
stand-in, so ``engine.texts`` reads the same on both.

``engine`` (below) runs a test on both, ``fakes`` then ``moto``: use it for what the use cases
do, whatever stores and IAM are under them. Tests that count AWS calls, inject faults into
botocore or look at DynamoDB items stay on ``built_engine`` (moto) alone.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from chalicelib.aws.grants import RoleWriter
from chalicelib.core.groups import no_groups
from chalicelib.delivery.destinations import APPROVERS, NamedWebhooks, WebhookNames
from chalicelib.delivery.outbox import Outbox, Routes
from chalicelib.delivery.slack import SlackDelivery
from chalicelib.notify.port import Notifications
from chalicelib.notify.slack import Notifier
from chalicelib.policies import load_catalog
from chalicelib.service import Switchback
from chalicelib.usecases import unit_of_work
from testkit.fake_iam import FakeIam
from testkit.fakes import FakeStore
from testkit.slack_standin import SlackReceiver
from tests.conftest import BASE_URL, Clock
from tests.support.engine_kit import ROLES, Engine, built_engine, role_arn, write_policies
from tools.local_stack import BASELINE_TRUST


@dataclass
class FakeEngine(Engine):
    """``Engine``'s face, reading and writing the fake IAM instead of moto's."""

    iam: FakeIam = None  # type: ignore[assignment]

    def _role(self, role: str):
        return self.iam.roles[role_arn(role)]

    def trust(self, role: str = "ec2-admin") -> dict:
        return copy.deepcopy(self._role(role).trust)

    def role_id(self, role: str = "ec2-admin") -> str:
        return self._role(role).role_id

    def limits(self, role: str = "ec2-admin") -> dict | None:
        found = self._role(role).inline.get(self.service.writer.limits_policy)
        return copy.deepcopy(found) if found is not None else None

    def set_trust(self, policy: dict, role: str = "ec2-admin") -> None:
        self._role(role).trust = copy.deepcopy(policy)

    def clients(self) -> list:
        raise NotImplementedError("no boto3 clients on fakes: count engine.iam.calls instead")


def fake_engine(slack: SlackReceiver, folder: Path) -> FakeEngine:
    """A Switchback service on a FakeStore and a FakeIam, wired as chalicelib/wiring.py wires
    the local stage (the approvers' webhook, no bot token, no groups, no event bus)."""
    catalog = load_catalog(write_policies(folder / "policies"))
    store = FakeStore("switchback")
    iam = FakeIam()
    for role in ROLES:
        iam.create_role(role_arn(role), BASELINE_TRUST)
    clock = Clock()
    webhooks = WebhookNames(catalog, lambda: f"{slack.url}/webhook/approvers", _no_secrets)
    outbox = Outbox(store, timedelta(days=1), Routes(NamedWebhooks(SlackDelivery(), webhooks), {}))
    notifier = Notifier(catalog, outbox, APPROVERS, clock, groups=no_groups)
    service = Switchback(
        catalog=catalog,
        store=store,
        writer=RoleWriter(store, iam, clock),
        notifier=Notifications(outbox, [notifier], clock),
        clock=clock,
        base_url=BASE_URL,
    )
    return FakeEngine(service, clock, slack, iam)


class _NoWait:
    @staticmethod
    def sleep(_seconds: float) -> None:
        pass


def _no_secrets(name: str) -> str:
    raise LookupError(f"no secret {name} on fakes")


@contextmanager
def engine_on(
    kind: str, request: pytest.FixtureRequest, slack: SlackReceiver, folder: Path
) -> Iterator[Engine]:
    """``fake_engine``, or engine_kit's ``built_engine`` on a clean moto account."""
    if kind == "fakes":
        # A lost race is retried at once: the backoff between retries is for DynamoDB.
        request.getfixturevalue("monkeypatch").setattr(unit_of_work, "time", _NoWait)
        yield fake_engine(slack, folder)
        return
    request.getfixturevalue("aws")
    with built_engine(slack, request.getfixturevalue("monkeypatch"), folder) as built:
        yield built


@pytest.fixture(params=["fakes", "moto"])
def engine(request: pytest.FixtureRequest, slack: SlackReceiver, tmp_path: Path):
    """The service on fakes, then on moto: a use-case test that holds on both."""
    with engine_on(request.param, request, slack, tmp_path) as built:
        yield built


# A test that counts AWS calls, faults botocore or changes IAM with boto3: on moto alone.
moto_only = pytest.mark.parametrize("engine", ["moto"], indirect=True)
