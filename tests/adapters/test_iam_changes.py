"""IAM changes to managed roles mark them for the next pass (chalicelib/core/iam_changes.py):
which CloudTrail events count, the EventBridge rule that routes them (on moto's EventBridge),
and the rule as deploy/template.yaml declares it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest
import yaml

from chalicelib.core import session_limits
from chalicelib.core.iam_changes import (
    PATTERN_LIMIT,
    WATCHED_CALLS,
    changed_role,
    event_pattern,
)
from chalicelib.core.trust import deployment_tag

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path(__file__).resolve().parent / "fixtures" / "cloudtrail"
ACCOUNT = "123456789012"
MANAGED = [
    f"arn:aws:iam::{ACCOUNT}:role/AWSEC2FULLACCESS",
    f"arn:aws:iam::{ACCOUNT}:role/teams/data/S3READER",
]
BROKER = f"arn:aws:iam::{ACCOUNT}:role/switchback-prod-BrokerRole-1A2B3C4D5E6F"
OWN_POLICY = session_limits.policy_name(deployment_tag("switchback"))


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def test_the_samples_name_this_deployments_session_limit_policy() -> None:
    assert OWN_POLICY == "SwitchbackSessionLimitsDBC2CCE6"


@pytest.mark.parametrize(
    ("name", "marks"),
    [
        ("hand-edit-trust.json", MANAGED[0]),  # someone edited the trust in the console
        ("terraform-deletes-session-limits.json", MANAGED[0]),  # an apply deleted our cuts
        ("role-deleted.json", MANAGED[0]),
        ("broker-own-write.json", None),  # Switchback's own write: no work
        ("another-role.json", None),  # not a managed role
        ("failed-call.json", None),  # AccessDenied: nothing changed
        ("another-inline-policy.json", None),  # not Switchback's inline policy
    ],
)
def test_an_event_marks_the_managed_role_it_changed(name: str, marks: str | None) -> None:
    assert changed_role(sample(name), MANAGED, [BROKER], OWN_POLICY) == marks


def test_the_role_is_found_by_name_and_account_whatever_its_path() -> None:
    event = sample("hand-edit-trust.json")
    event["detail"]["requestParameters"]["roleName"] = "S3READER"
    assert changed_role(event, MANAGED, [BROKER]) == MANAGED[1]
    event["detail"]["recipientAccountId"] = "210987654321"  # same name, another account
    assert changed_role(event, MANAGED, [BROKER]) is None


def test_another_accounts_role_counts_when_its_event_is_forwarded() -> None:
    other = "arn:aws:iam::210987654321:role/AWSEC2FULLACCESS"
    event = sample("hand-edit-trust.json")
    event["account"] = event["detail"]["recipientAccountId"] = "210987654321"
    manager = "arn:aws:iam::210987654321:role/SwitchbackManager"
    assert changed_role(event, [other], [BROKER, manager]) == other
    event["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = manager
    assert changed_role(event, [other], [BROKER, manager]) is None  # the broker, through it


def test_anything_else_is_not_an_iam_change() -> None:
    assert changed_role({"detail-type": "Scheduled Event", "source": "aws.events"}, MANAGED) is None
    event = sample("hand-edit-trust.json")
    event["detail"]["eventName"] = "TagRole"
    assert changed_role(event, MANAGED) is None
    event["detail"]["eventName"] = "UpdateAssumeRolePolicy"
    del event["detail"]["requestParameters"]
    assert changed_role(event, MANAGED) is None


def test_the_pattern_names_the_roles_while_it_fits_and_filters_in_code_beyond() -> None:
    few = event_pattern([BROKER], ["AWSEC2FULLACCESS", "S3READER"])
    assert few["detail"]["requestParameters"] == {"roleName": ["AWSEC2FULLACCESS", "S3READER"]}
    many = event_pattern([BROKER], [f"ROLE{i:04d}-with-a-longer-name" for i in range(1000)])
    assert "requestParameters" not in many["detail"]
    assert len(json.dumps(many, separators=(",", ":"))) <= PATTERN_LIMIT
    assert many["detail"]["eventName"] == list(WATCHED_CALLS)


# -- the rule on moto's EventBridge, routed to an SQS queue --------------------------------------


@pytest.fixture
def routed(aws: str):
    """A rule with the pattern for the managed roles, its target an SQS queue; ``put`` puts
    a sample event on the default bus and returns what reached the queue."""
    events, sqs = boto3.client("events"), boto3.client("sqs")
    queue = sqs.create_queue(QueueName="role-changes")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern = event_pattern([BROKER], ["AWSEC2FULLACCESS", "S3READER"])
    events.put_rule(Name="switchback-role-changes", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="switchback-role-changes", Targets=[{"Id": "q", "Arn": queue_arn}])

    def put(name: str) -> list[dict]:
        event = sample(name)
        answer = events.put_events(
            Entries=[
                {
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Detail": json.dumps(event["detail"]),
                }
            ]
        )
        assert answer["FailedEntryCount"] == 0
        got: list[dict] = []
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            found = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages")
            if not found:
                if got:
                    break
                time.sleep(0.05)
                continue
            got += [json.loads(m["Body"]) for m in found]
        return got

    return put


@pytest.mark.parametrize(
    "name", ["hand-edit-trust.json", "terraform-deletes-session-limits.json", "role-deleted.json"]
)
def test_a_change_to_a_managed_role_reaches_the_target(routed, name: str) -> None:
    arrived = routed(name)
    assert len(arrived) == 1
    # What arrives is what the handler reads: it names the managed role.
    assert changed_role(arrived[0], MANAGED, [BROKER], OWN_POLICY) == MANAGED[0]


@pytest.mark.parametrize("name", ["broker-own-write.json", "another-role.json", "failed-call.json"])
def test_the_brokers_own_writes_other_roles_and_failed_calls_do_not_match(routed, name) -> None:
    assert routed(name) == []


def test_an_iam_user_without_a_session_issuer_is_not_taken_for_the_broker(routed) -> None:
    # Terraform with an access key: no sessionContext at all; the pattern's "$or" lets it in.
    sample_ = sample("terraform-deletes-session-limits.json")
    assert "sessionContext" not in sample_["detail"]["userIdentity"]
    assert len(routed("terraform-deletes-session-limits.json")) == 1


# -- the rule in the deploy template -------------------------------------------------------------


def load_template() -> dict:
    return yaml.safe_load((ROOT / "deploy" / "template.yaml").read_text())


def test_the_template_routes_iam_changes_to_the_sweep_function_except_the_brokers() -> None:
    resources = load_template()["Resources"]
    rule = resources["RoleChangeRule"]["Properties"]
    assert rule["EventPattern"] == event_pattern([{"Fn::GetAtt": ["BrokerRole", "Arn"]}])
    assert rule["Targets"] == [{"Id": "sweep", "Arn": {"Fn::GetAtt": ["Sweep", "Arn"]}}]
    permission = resources["RoleChangePermission"]["Properties"]
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": ["RoleChangeRule", "Arn"]}
    # On: the sweep function tells this event from its schedule (app.py: it marks the role
    # and runs no pass), and knows the broker's own role, whose writes are no drift.
    assert rule["State"] == "ENABLED"
    sweep = resources["Sweep"]["Properties"]["Environment"]["Variables"]
    assert sweep["SWITCHBACK_BROKER_ROLE_ARN"] == {"Fn::GetAtt": ["BrokerRole", "Arn"]}


def test_the_forwarder_template_sends_the_same_events_from_us_east_1() -> None:
    forwarder = yaml.safe_load((ROOT / "deploy" / "iam-events-forwarder.yaml").read_text())
    resources = forwarder["Resources"]
    rule = resources["ForwardRule"]["Properties"]
    assert rule["EventPattern"] == event_pattern([{"Ref": "BrokerRoleArn"}])
    assert rule["Targets"][0]["RoleArn"] == {"Fn::GetAtt": ["ForwardRole", "Arn"]}
    policy = resources["ForwardRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    assert [s["Action"] for s in policy["Statement"]] == ["events:PutEvents"]


def test_package_narrows_the_rule_to_the_managed_roles() -> None:
    from chalicelib.policies import load_catalog
    from tools.package import merge_template

    catalog = load_catalog(ROOT / "policies")
    rule = merge_template(catalog)["Resources"]["RoleChangeRule"]["Properties"]
    names = sorted({r.role_arn.rsplit("/", 1)[1] for r in catalog.roles.values()})
    assert rule["EventPattern"]["detail"]["requestParameters"] == {"roleName": names}
    issuers = rule["EventPattern"]["detail"]["$or"][1]["userIdentity"]["sessionContext"]
    assert issuers["sessionIssuer"]["arn"][0]["anything-but"][0] == {
        "Fn::GetAtt": ["BrokerRole", "Arn"]
    }
