"""Events as JSON lines (each once), EMF metrics flushed per invocation, no tracing locally."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from chalicelib import telemetry
from tests.conftest import ROOT, signed_command

# Like the Lambda runtime: a handler on the root logger. Then the Chalice app (its logger has
# its own handler) and one event through telemetry.
LAMBDA_LIKE = """
import logging, sys
logging.basicConfig(stream=sys.stdout, format="ROOT %(name)s %(message)s", level=logging.INFO)
import app
from chalicelib import telemetry
app.app.log.info("a chalice line")
telemetry.start_invocation("lambda-req-1")
telemetry.event("access.approved", request_id="R1", role_arn="arn:aws:iam::1:role/X",
                principal="arn:aws:iam::1:user/alice", expires="2026-11-28T11:00:00Z",
                module="a field called module")
"""


def run_lambda_like(service_name: str) -> list[str]:
    env = {"PATH": "/usr/bin:/bin", "POWERTOOLS_SERVICE_NAME": service_name}
    done = subprocess.run(
        [sys.executable, "-c", LAMBDA_LIKE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.parametrize("service_name", ["switchback-broker", "switchback"])
def test_each_event_is_one_json_line_with_its_fields(service_name: str) -> None:
    # "switchback" is Chalice's app name: the known double-logging case, guarded against.
    lines = run_lambda_like(service_name)
    events = [line for line in lines if "access.approved" in line]
    assert len(events) == 1, lines
    record = json.loads(events[0])
    assert record["event"] == record["message"] == "access.approved"
    assert record["service"] == "switchback-broker"
    assert record["lambda_request_id"] == "lambda-req-1"
    assert record["request_id"] == "R1"
    assert record["role_arn"] == "arn:aws:iam::1:role/X"
    assert record["principal"] == "arn:aws:iam::1:user/alice"
    assert record["expires"] == "2026-11-28T11:00:00Z"
    assert record["module_"] == "a field called module"  # a LogRecord attribute, kept
    assert sum("a chalice line" in line for line in lines) == 1


@pytest.fixture
def fresh_telemetry(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    telemetry.forget()
    yield
    telemetry.flush()
    telemetry.forget()


def emf_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if '"_aws"' in line]


def test_metrics_leave_as_one_emf_line_per_flush(fresh_telemetry, capsys) -> None:
    telemetry.metric("grants")
    telemetry.metric("grants")
    telemetry.metric("sweep_duration", 12.5, "Milliseconds")
    telemetry.flush()
    telemetry.flush()  # nothing new: nothing printed
    [blob] = emf_lines(capsys.readouterr().out)
    [directive] = blob["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Switchback"
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units == {"grants": "Count", "sweep_duration": "Milliseconds"}
    assert blob["grants"] == [1.0, 1.0] and blob["sweep_duration"] == [12.5]
    assert blob["service"] == "switchback-broker"


def test_disabled_metrics_print_nothing_and_do_not_pile_up(
    fresh_telemetry, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    telemetry.metric("requests")
    telemetry.flush()
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")
    telemetry.flush()
    assert emf_lines(capsys.readouterr().out) == []


def test_a_slash_command_logs_its_event_and_flushes_its_metric(
    fresh_telemetry, client, slack, service, capsys
) -> None:
    body, headers = signed_command("U0ALICE", "request ec2-admin 30m INC-42 resize")
    assert client.http.post("/slack/commands", body=body, headers=headers).status_code == 200
    out = capsys.readouterr().out
    [requested] = [json.loads(x) for x in out.splitlines() if '"access.requested"' in x]
    assert requested["principal"] == "arn:aws:iam::123456789012:user/alice"
    assert requested["lambda_request_id"]  # the invocation's id, on every line
    [blob] = emf_lines(out)
    assert blob["requests"] == [1.0]


def test_the_sweep_reports_its_duration(fresh_telemetry, client, service, capsys) -> None:
    event = client.events.generate_cw_event(
        "aws.events", "Scheduled Event", {}, ["arn:aws:events:us-east-1:1:rule/sweep"]
    )
    client.lambda_.invoke("sweep", event)
    [blob] = emf_lines(capsys.readouterr().out)
    [directive] = blob["_aws"]["CloudWatchMetrics"]
    assert {"Name": "sweep_duration", "Unit": "Milliseconds"} in directive["Metrics"]
    assert blob["sweep_duration"][0] >= 0


def test_the_local_stage_never_loads_the_tracing_sdk() -> None:
    script = """
import os, sys
os.environ.update(SWITCHBACK_STAGE="local", SLACK_SIGNING_SECRET="s", SWITCHBACK_COOKIE_KEY="k")
from chalice.test import Client
import app
with Client(app.app, stage_name="local") as client:
    assert client.http.get("/healthz").status_code == 200
print("xray loaded:", "aws_xray_sdk" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "xray loaded: False" in done.stdout


def test_deployed_stages_trace_aws_calls_to_xray(moto_url: str) -> None:
    # As in Lambda with active tracing: the trace header in the environment, a daemon address.
    # Our UDP socket stands in for the X-Ray daemon and receives the call's subsegment.
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(10)
    script = """
from chalicelib import telemetry
from chalicelib.aws import clients as aws
telemetry.start_tracing()
aws.client("iam").get_account_summary()
"""
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_LAMBDA_FUNCTION_NAME": "switchback-prod-api",
        "LAMBDA_TASK_ROOT": str(ROOT),
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;"
        "Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        header, body = daemon.recv(65536).decode().split("\n", 1)
    finally:
        daemon.close()
    segment = json.loads(body)
    assert segment["type"] == "subsegment" and segment["name"] == "iam"
    assert segment["aws"]["operation"] == "GetAccountSummary"
    assert segment["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
