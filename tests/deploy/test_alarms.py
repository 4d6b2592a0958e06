"""The stack tells you when it breaks: every alarm watches a metric that really exists (one the
code emits, in the namespace and with the dimension a real run writes), the sweep's heartbeat
alarm fires when the heartbeat is missing, and the API stage is throttled."""

from __future__ import annotations

import ast
import json
import re

import pytest
import yaml

from chalicelib import telemetry
from tests.conftest import ROOT

TEMPLATE = yaml.safe_load((ROOT / "deploy" / "template.yaml").read_text())
RESOURCES = TEMPLATE["Resources"]
CHALICE_CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
STACK = "switchback-prod"  # a sample stack name, to resolve ${AWS::StackName}
# Metrics AWS itself publishes, that the alarms may watch.
AWS_METRICS = {
    ("AWS/Lambda", "Errors"),
    ("AWS/Lambda", "Throttles"),
    ("AWS/ApiGateway", "5XXError"),
}


def alarms() -> dict[str, dict]:
    return {
        name: r["Properties"]
        for name, r in RESOURCES.items()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }


def sub(value: object) -> object:
    """``{"Fn::Sub": "...${AWS::StackName}..."}`` or ``{"Ref": "AWS::StackName"}`` for STACK."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        return value["Fn::Sub"].replace("${AWS::StackName}", STACK)
    if value == {"Ref": "AWS::StackName"}:
        return STACK
    return value


def emitted_metric_names() -> set[str]:
    """Every literal name passed to telemetry.metric(...) in app.py and chalicelib/."""
    names = set()
    for path in [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "metric"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(node.args[0].value)
    return names


def test_the_stack_has_the_alarms_the_operators_need() -> None:
    watched = {(sub(a["Namespace"]), a["MetricName"]) for a in alarms().values()}
    ours = f"Switchback/{STACK}"
    assert {
        (ours, "sweep_heartbeat"),
        (ours, "sweep_errors"),
        (ours, "failures"),
        (ours, "undelivered"),
        (ours, "breakglass_unreviewed"),  # break-glass grants nobody reviewed in time
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
    } <= watched


def test_each_alarm_watches_a_metric_the_code_emits_or_aws_publishes() -> None:
    emitted = emitted_metric_names()
    assert {"sweep_heartbeat", "sweep_errors", "failures", "undelivered"} <= emitted
    for name, alarm in alarms().items():
        namespace = sub(alarm["Namespace"])
        if namespace.startswith("AWS/"):
            assert (namespace, alarm["MetricName"]) in AWS_METRICS, name
        else:
            assert alarm["MetricName"] in emitted, name


def test_the_scanner_does_see_metric_calls() -> None:
    # The test above means something only if the AST scan finds calls it should find.
    assert {"requests", "grants", "expiries", "sweep_duration"} <= emitted_metric_names()


def test_aws_metric_alarms_name_this_stacks_functions_and_api() -> None:
    functions = {sub(RESOURCES[f]["Properties"]["FunctionName"]) for f in ("APIHandler", "Sweep")}
    api = RESOURCES["RestAPI"]["Properties"]
    api_name = sub(api["Name"])
    assert sub(api["DefinitionBody"]["info"]["title"]) == api_name
    stage = CHALICE_CONFIG["stages"]["prod"]["api_gateway_stage"]
    for name, alarm in alarms().items():
        dimensions = {d["Name"]: sub(d["Value"]) for d in alarm["Dimensions"]}
        if alarm["Namespace"] == "AWS/Lambda":
            assert dimensions["FunctionName"] in functions, name
        elif alarm["Namespace"] == "AWS/ApiGateway":
            assert dimensions == {"ApiName": api_name, "Stage": stage}, name


def test_the_sweep_not_running_counts_as_breaching_after_three_minutes() -> None:
    heartbeat = alarms()["SweepNotRunningAlarm"]
    assert heartbeat["MetricName"] == "sweep_heartbeat"
    assert heartbeat["TreatMissingData"] == "breaching"
    assert heartbeat["Period"] * heartbeat["EvaluationPeriods"] == 180
    assert heartbeat["DatapointsToAlarm"] == heartbeat["EvaluationPeriods"]
    assert heartbeat["ComparisonOperator"] == "LessThanThreshold"
    assert heartbeat["Threshold"] == 1 and heartbeat["Statistic"] == "Sum"


def test_every_alarm_notifies_the_optional_topic_or_email() -> None:
    wanted = [
        {"Fn::If": ["HasAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "AWS::NoValue"}]},
        {"Fn::If": ["HasAlarmEmail", {"Ref": "AlarmEmailTopic"}, {"Ref": "AWS::NoValue"}]},
    ]
    for name, alarm in alarms().items():
        assert alarm["AlarmActions"] == wanted, name
        assert alarm["OKActions"] == wanted, name
    assert TEMPLATE["Parameters"]["AlarmTopicArn"]["Default"] == ""
    assert TEMPLATE["Parameters"]["AlarmEmail"]["Default"] == ""
    topic = RESOURCES["AlarmEmailTopic"]
    assert topic["Condition"] == "HasAlarmEmail"
    assert topic["Properties"]["Subscription"] == [
        {"Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}
    ]


def test_the_dashboard_shows_emitted_metrics_and_every_alarm() -> None:
    body = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    referenced = set(re.findall(r"\$\{([A-Za-z0-9]+)\.Arn\}", body))
    assert referenced == set(alarms())
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    # Rows of Switchback's widgets: [namespace or "." or "...", metric name, ...].
    shown = {
        row[1]
        for widget in widgets
        if widget["properties"].get("metrics", [[""]])[0][0].startswith("Switchback/")
        for row in widget["properties"]["metrics"]
        if isinstance(row[1], str)
    }
    assert {"requests", "grants", "expiries", "failures", "sweep_duration"} <= shown
    assert shown <= emitted_metric_names()


def test_the_api_stage_is_throttled_by_parameters() -> None:
    [setting] = RESOURCES["RestAPI"]["Properties"]["MethodSettings"]
    assert setting["ResourcePath"] == "/*" and setting["HttpMethod"] == "*"
    assert setting["ThrottlingRateLimit"] == {"Ref": "ApiThrottleRate"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "ApiThrottleBurst"}
    parameters = TEMPLATE["Parameters"]
    assert 0 < parameters["ApiThrottleRate"]["Default"] <= parameters["ApiThrottleBurst"]["Default"]


@pytest.fixture
def deployed_metrics_env(monkeypatch: pytest.MonkeyPatch):
    """The metric settings a deployed function runs with: the template's namespace for STACK
    and the service name from .chalice/config.json, metrics on."""
    variables = RESOURCES["APIHandler"]["Properties"]["Environment"]["Variables"]
    namespace = sub(variables["POWERTOOLS_METRICS_NAMESPACE"])
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", namespace)
    service = CHALICE_CONFIG["environment_variables"]["POWERTOOLS_SERVICE_NAME"]
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", service)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    telemetry.forget()
    yield
    telemetry.flush()
    telemetry.forget()


def test_a_real_sweep_writes_what_the_alarms_watch(
    app_env: dict, deployed_metrics_env, capsys: pytest.CaptureFixture
) -> None:
    import app

    app.run_sweep()
    telemetry.flush()
    [blob] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x]
    [directive] = blob["_aws"]["CloudWatchMetrics"]
    written = {m["Name"] for m in directive["Metrics"]}
    assert blob["sweep_heartbeat"] == [1.0] and blob["sweep_errors"] == [0.0]
    for name, alarm in alarms().items():
        if sub(alarm["Namespace"]).startswith("AWS/"):
            continue
        # Same namespace, same dimensions: CloudWatch matches metrics on all of them.
        assert directive["Namespace"] == sub(alarm["Namespace"]), name
        assert [[d["Name"] for d in alarm["Dimensions"]]] == directive["Dimensions"], name
        for dimension in alarm["Dimensions"]:
            assert blob[dimension["Name"]] == dimension["Value"], name
        if (
            alarm["MetricName"].startswith("sweep_")
            or alarm["MetricName"] == "breakglass_unreviewed"
        ):
            assert alarm["MetricName"] in written, name  # written by every sweep
