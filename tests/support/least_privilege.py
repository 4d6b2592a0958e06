"""The AWS calls the broker made, against the policy generated for it (tools/broker_policy)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tools.broker_policy import SAMPLE, allows, broker_policy, resolve

SPOKE_TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "spoke-role.yaml"

# Granted actions that a local, single-account run never calls, and why; each is proven
# elsewhere or is not a call of ours. Anything else granted must have been called.
NOT_CALLED_ON_THE_LOCAL_STACK = {
    "iam:DeleteRolePolicy": "the session-limit inline policy is deleted only once every cut "
    "on the role is older than MaxSessionDuration (an hour at least); test_grant_engine.py "
    "test_session_limits_are_removed_after_the_roles_max_session_duration proves it",
    "secretsmanager:GetSecretValue": "the local stage reads secrets from the environment; "
    "tests/adapters/test_config.py reads them from Secrets Manager",
    "logs:CreateLogStream": "the Lambda runtime writes the logs, not the code",
    "logs:PutLogEvents": "the Lambda runtime writes the logs, not the code",
    "xray:PutTraceSegments": "the Lambda runtime sends the traces, not the code",
    "xray:PutTelemetryRecords": "the Lambda runtime sends the traces, not the code",
}


def read_calls(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def resource_of(call: dict, table_arn: str, account: str) -> str:
    """The ARN a recorded call acts on, as IAM evaluates it."""
    service = call["action"].split(":", 1)[0]
    if service == "dynamodb":
        index = call.get("IndexName")
        return f"{table_arn}/index/{index}" if index else table_arn
    if service == "iam" and "RoleName" in call:
        return f"arn:aws:iam::{account}:role/{call['RoleName']}"
    if service == "sts":
        return call["RoleArn"]
    if service == "secretsmanager":
        return call["SecretId"]
    if service == "events":
        [bus] = call["EventBusName"]
        return (
            bus if bus.startswith("arn:") else f"arn:aws:events:us-east-1:{account}:event-bus/{bus}"
        )
    return "*"


def spoke_policy(managed_role_arns: list[str]) -> dict:
    """The manager role's policy from deploy/spoke-role.yaml, for these managed roles."""
    template = yaml.safe_load(SPOKE_TEMPLATE.read_text())
    [policy] = template["Resources"]["ManagerRole"]["Properties"]["Policies"]
    document = json.loads(
        json.dumps(policy["PolicyDocument"]).replace(
            '{"Ref": "ManagedRoleArns"}', json.dumps(managed_role_arns)
        )
    )
    for statement in document["Statement"]:
        for key in ("Action", "Resource"):
            if isinstance(statement[key], str):
                statement[key] = [statement[key]]
    return document


def compare(
    calls: list[dict],
    catalog,
    table: str,
    account: str = "123456789012",
    event_bus: str = "",
) -> dict:
    """What was called but not allowed, and what was allowed but neither called nor explained
    (``event_bus``: the deployment's EventBus parameter, empty for none).

    Calls signed by a manager role (``assumed_role``) are checked against the spoke template's
    policy for that account's roles; the broker's own against the policy generated for it."""
    table_arn = f"arn:aws:dynamodb:us-east-1:{account}:table/{table}"
    # IAM has no TransactWriteItems action: a transaction needs the permission of each action
    # in it, and ours only ever hold Puts (https://docs.aws.amazon.com/amazondynamodb/latest/
    # developerguide/transaction-apis-iam.html).
    calls = [
        {**c, "action": "dynamodb:PutItem"} if c["action"] == "dynamodb:TransactWriteItems" else c
        for c in calls
    ]
    bus = {
        "EventBus": event_bus,
        "HasEventBus": "true" if event_bus else "false",
        "EventBusIsArn": "true" if ":" in event_bus else "false",
    }
    policy = resolve(broker_policy(catalog), {**SAMPLE, "Table.Arn": table_arn, **bus})
    refused = set()
    for call in calls:
        manager = call.get("assumed_role")
        if manager:
            managed = [a for a, m in catalog.managers().items() if m == manager]
            rules, where = spoke_policy(managed), manager.split(":")[4]
        else:
            rules, where = policy, account
        resource = resource_of(call, table_arn, where)
        if not allows(rules, call["action"], resource):
            refused.add(f"{call['action']} on {resource}" + (f" as {manager}" if manager else ""))
    refused = sorted(refused)
    called = {c["action"] for c in calls if not c.get("assumed_role")}
    granted = {a for s in policy["Statement"] for a in s["Action"]}
    unused = sorted(granted - called - set(NOT_CALLED_ON_THE_LOCAL_STACK))
    stale = sorted(called & set(NOT_CALLED_ON_THE_LOCAL_STACK))
    return {
        "called but not allowed": refused,
        "granted but unused": unused,
        "said to be uncalled, but called": stale,
    }
