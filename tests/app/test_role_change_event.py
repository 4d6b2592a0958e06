"""The sweep function gets two kinds of event: its schedule's, and RoleChangeRule's CloudTrail
IAM changes (deploy/template.yaml). An IAM change to a managed role marks that role for the
next pass and runs no pass; the next scheduled pass reads the role first and clears the mark."""

from __future__ import annotations

import json
from pathlib import Path

from chalicelib import wiring
from chalicelib.core.iam_changes import DETAIL_TYPE
from tests.conftest import ROLE_ARN

SAMPLES = Path(__file__).resolve().parents[1] / "adapters" / "fixtures" / "cloudtrail"


def iam_change(client, name: str) -> dict:
    sample = json.loads((SAMPLES / name).read_text())
    event = client.events.generate_cw_event(
        source=sample["source"], detail_type=DETAIL_TYPE, detail=sample["detail"], resources=[]
    )
    return client.lambda_.invoke("sweep", event).payload


def scheduled(client) -> dict:
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    return client.lambda_.invoke("sweep", event).payload


def test_an_iam_change_marks_its_role_and_runs_no_pass(client, service) -> None:
    checks = service.context.role_checks
    assert iam_change(client, "hand-edit-trust.json") == {"marked": ROLE_ARN}
    assert list(checks.due(service.clock())) == [ROLE_ARN]
    assert checks.cursor() is None  # no pass ran
    scheduled(client)
    assert checks.due(service.clock()) == {}  # read at the next pass, and cleared
    assert checks.cursor() is not None


def test_the_brokers_own_write_and_other_roles_mark_nothing(client, service, monkeypatch):
    broker = "arn:aws:iam::123456789012:role/switchback-prod-BrokerRole-1A2B3C4D5E6F"
    monkeypatch.setenv("SWITCHBACK_BROKER_ROLE_ARN", broker)
    wiring.settings.cache_clear()
    for name in ("broker-own-write.json", "another-role.json", "failed-call.json"):
        assert iam_change(client, name) == {"marked": None}, name
    assert service.context.role_checks.due(service.clock()) == {}
