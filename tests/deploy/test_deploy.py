"""`make package`: the template passes cfn-lint, mirrors the code, bundles what the code reads,
and the broker's policy is least privilege (parliament finds nothing)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from chalicelib.aws.iam import ACCOUNT_ACTIONS, ROLE_ACTIONS
from chalicelib.aws.store import TTL_ATTRIBUTE, table_definition
from chalicelib.config import SECRET_ARN_VARIABLES
from chalicelib.policies import load_catalog
from tests.conftest import ROOT
from tools import package as packaging
from tools.broker_policy import (
    NO_VALUE,
    OPTIONAL_SECRET_REFS,
    SAMPLE,
    UNSCOPED_ACTIONS,
    broker_policy,
    resolve,
)

CFN_LINT = Path(sys.executable).parent / "cfn-lint"
SPOKE = ROOT / "deploy" / "spoke-role.yaml"


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    assert packaging.main(["--stage", "prod", "--out", str(out)]) == 0
    return out / "prod"


@pytest.fixture(scope="module")
def template(packaged: Path) -> dict:
    return json.loads((packaged / "sam.json").read_text())


def lint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(CFN_LINT), str(path)], capture_output=True, text=True)


def test_the_packaged_template_passes_cfn_lint(packaged: Path) -> None:
    result = lint(packaged / "sam.json")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_spoke_template_passes_cfn_lint() -> None:
    result = lint(SPOKE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_does_find_problems_in_a_broken_template(tmp_path: Path, template: dict) -> None:
    # The two tests above mean something only if cfn-lint really checks this template.
    broken = json.loads(json.dumps(template))
    broken["Resources"]["Table"]["Properties"]["BillingMode"] = "FREE"
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    assert lint(tmp_path / "broken.json").returncode != 0


def test_the_table_mirrors_the_code_and_keeps_data_safe(template: dict) -> None:
    table = template["Resources"]["Table"]
    properties = table["Properties"]
    wanted = table_definition("ignored")
    for key in ("BillingMode", "KeySchema", "GlobalSecondaryIndexes"):
        assert properties[key] == wanted[key], key
    assert sorted(properties["AttributeDefinitions"], key=str) == sorted(
        wanted["AttributeDefinitions"], key=str
    )
    assert properties["TimeToLiveSpecification"] == {
        "AttributeName": TTL_ATTRIBUTE,
        "Enabled": True,
    }
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"


def test_both_functions_run_as_the_broker_role_with_secrets_by_reference(template: dict) -> None:
    resources = template["Resources"]
    roles = [name for name, r in resources.items() if r["Type"] == "AWS::IAM::Role"]
    assert roles == ["BrokerRole"]  # Chalice's own roles are not created
    for name in ("APIHandler", "Sweep"):
        properties = resources[name]["Properties"]
        assert properties["Role"] == {"Fn::GetAtt": ["BrokerRole", "Arn"]}
        assert properties["Tracing"] == "Active"
        variables = properties["Environment"]["Variables"]
        assert variables["SWITCHBACK_STAGE"] == "prod"
        assert variables["SWITCHBACK_TABLE"] == {"Ref": "Table"}
        assert variables["SWITCHBACK_POLICIES"] == "chalicelib/policies"
        for secret, arn_variable in SECRET_ARN_VARIABLES.items():
            assert secret not in variables  # never the value, only where to read it
            assert arn_variable in variables
        # the bot token is optional: its ARN only when the deployment names one
        assert variables["SLACK_BOT_TOKEN_ARN"] == {
            "Fn::If": ["HasSlackBotToken", {"Ref": "SlackBotTokenSecretArn"}, NO_VALUE]
        }
        assert variables["POWERTOOLS_SERVICE_NAME"] != "switchback"  # Chalice's app name
    assert resources["Sweep"]["Properties"]["ReservedConcurrentExecutions"] == 1
    secret = resources["CookieKeySecret"]["Properties"]
    assert "SecretString" not in secret and secret["GenerateSecretString"]["PasswordLength"] >= 32


def test_no_secret_in_the_chalice_config_or_the_template() -> None:
    config = (ROOT / ".chalice" / "config.json").read_text()
    template = (ROOT / "deploy" / "template.yaml").read_text()
    for text in (config, template):
        for secret in SECRET_ARN_VARIABLES:
            assert f'"{secret}"' not in text and f"{secret}:" not in text


def test_the_zip_holds_the_app_and_the_policies_but_not_boto3(packaged: Path) -> None:
    with zipfile.ZipFile(packaged / "deployment.zip") as bundle:
        names = set(bundle.namelist())
    assert {"app.py", "chalicelib/wiring.py", "chalicelib/policies/people.toml"} <= names
    assert "chalicelib/policies/roles/ec2-admin.toml" in names
    assert not any(n.startswith(("boto3/", "botocore/")) for n in names)
    assert any(n.startswith("aws_lambda_powertools/") for n in names)
    # The X-Ray SDK for Powertools Tracer, vendored without its botocore dependency.
    assert {"aws_xray_sdk/__init__.py", "wrapt/__init__.py"} <= names
    report = (packaged / "package-report.txt").read_text()
    assert "MiB zipped" in report and "boto3/botocore bundled: no" in report
    # GET /healthz in Lambda reads the version and commit baked in at package time.
    with zipfile.ZipFile(packaged / "deployment.zip") as bundle:
        baked = json.loads(bundle.read("chalicelib/release.json"))
    assert baked["version"] and baked["commit"] not in ("", "unknown")
    assert not (ROOT / "chalicelib" / "release.json").exists()  # a checkout reads git


def test_bad_policies_stop_the_package_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "roles").mkdir()
    (tmp_path / "people.toml").write_text('[people.U0ALICE]\nname = "alice"\naws = "nope"\n')
    assert packaging.main(["--policies", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "people.U0ALICE.aws: 'nope' is not an IAM user ARN" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# -- the broker's policy ------------------------------------------------------------------------
def parliament_findings(document: dict) -> list[str]:
    from parliament import analyze_policy_string

    analysed = analyze_policy_string(json.dumps(document))
    return [f"{f.issue}: {f.detail}" for f in analysed.findings]


@pytest.fixture
def two_account_policies(tmp_path: Path) -> Path:
    (tmp_path / "roles").mkdir()
    (tmp_path / "people.toml").write_text((ROOT / "policies" / "people.toml").read_text())
    (tmp_path / "roles" / "ec2-admin.toml").write_text(
        (ROOT / "policies" / "roles" / "ec2-admin.toml").read_text()
    )
    (tmp_path / "roles" / "billing.toml").write_text(
        'role_arn = "arn:aws:iam::210987654321:role/Billing"\nmax_duration = "1h"\n'
        'requesters = ["*"]\napprovers = ["U0BOB"]\n'
        'manager_role_arn = "arn:aws:iam::210987654321:role/switchback-manager"\n'
    )
    return tmp_path


def test_parliament_finds_nothing_in_the_broker_policy(two_account_policies: Path) -> None:
    for directory in (ROOT / "policies", two_account_policies):
        document = resolve(broker_policy(load_catalog(directory)), SAMPLE)
        assert parliament_findings(document) == []


def test_parliament_does_flag_a_careless_policy() -> None:
    careless = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:UpdateAssumeRolePolicy", "Resource": "*"}],
    }
    assert any(f.startswith("RESOURCE_STAR") for f in parliament_findings(careless))


def test_the_policy_allows_only_what_it_must_where_it_must(two_account_policies: Path) -> None:
    catalog = load_catalog(two_account_policies)
    document = resolve(broker_policy(catalog), SAMPLE)
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        assert not any("*" in action for action in statement["Action"]), statement
        if "*" in statement["Resource"]:
            # Only actions IAM cannot scope to a resource; never a write to anything we name.
            assert set(statement["Action"]) <= set(UNSCOPED_ACTIONS), statement
            assert statement["Resource"] == ["*"]
    assert set(by_sid["ManagedRoles"]["Action"]) == set(ROLE_ACTIONS)
    # Home-account roles directly; the other account's only through its manager role.
    assert by_sid["ManagedRoles"]["Resource"] == ["arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"]
    assert by_sid["OtherAccountsManagers"] == {
        "Sid": "OtherAccountsManagers",
        "Effect": "Allow",
        "Action": ["sts:AssumeRole"],
        "Resource": ["arn:aws:iam::210987654321:role/switchback-manager"],
    }
    assert by_sid["TrustPolicyQuota"]["Action"] == list(ACCOUNT_ACTIONS)
    table = SAMPLE["Table.Arn"]
    assert by_sid["TableItems"]["Resource"] == [table]
    assert by_sid["TableIndexes"]["Resource"] == [
        f"{table}/index/due",
        f"{table}/index/by-person",
        f"{table}/index/live",
    ]
    assert len(by_sid["Secrets"]["Resource"]) == len(SECRET_ARN_VARIABLES) - len(
        OPTIONAL_SECRET_REFS
    )
    assert by_sid["SlackBotTokenSecret"]["Resource"] == [SAMPLE["SlackBotTokenSecretArn"]]


def test_the_spoke_role_trusts_only_the_broker_and_may_only_do_its_calls() -> None:
    spoke = yaml.safe_load(SPOKE.read_text())
    role = spoke["Resources"]["ManagerRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": {"Ref": "BrokerRoleArn"}}
    [policy] = role["Policies"]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert set(statements["ManagedRoles"]["Action"]) == set(ROLE_ACTIONS)
    assert statements["ManagedRoles"]["Resource"] == {"Ref": "ManagedRoleArns"}
    assert [statements["TrustPolicyQuota"]["Action"]] == list(ACCOUNT_ACTIONS)
    assert set(statements) == {"ManagedRoles", "TrustPolicyQuota", "ActivityReports"}
    resolved = json.loads(
        json.dumps(policy["PolicyDocument"]).replace(
            '{"Ref": "ManagedRoleArns"}', '["arn:aws:iam::210987654321:role/Billing"]'
        )
    )
    assert parliament_findings(resolved) == []


def test_package_lists_what_each_other_account_needs(
    two_account_policies: Path, tmp_path: Path
) -> None:
    assert packaging.spoke_accounts(load_catalog(two_account_policies)) == {
        "210987654321": {
            "manager_role_arn": "arn:aws:iam::210987654321:role/switchback-manager",
            "managed_role_arns": ["arn:aws:iam::210987654321:role/Billing"],
        }
    }


# -- events: PutEvents on the configured bus only -------------------------------------------------
def _condition(expression: object, parameters: dict[str, str]) -> object:
    """CloudFormation's condition functions, as the template uses them on the EventBus
    parameter (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/
    intrinsic-function-reference-conditions.html; Fn::Split of a string without the
    delimiter is that string alone, intrinsic-function-reference-split.html)."""
    if isinstance(expression, dict):
        [(name, value)] = expression.items()
        if name == "Ref":
            return parameters[value]
        if name == "Fn::Not":
            return not _condition(value[0], parameters)
        if name == "Fn::Equals":
            return _condition(value[0], parameters) == _condition(value[1], parameters)
        if name == "Fn::Split":
            return _condition(value[1], parameters).split(value[0])
        if name == "Fn::Select":
            return _condition(value[1], parameters)[value[0]]
        raise AssertionError(f"unexpected {name}")
    return expression


@pytest.mark.parametrize(
    "bus, resource",
    [
        ("", None),
        ("switchback-events", "arn:aws:events:us-east-1:123456789012:event-bus/switchback-events"),
        (
            "arn:aws:events:eu-west-1:210987654321:event-bus/audit",
            "arn:aws:events:eu-west-1:210987654321:event-bus/audit",
        ),
    ],
)
def test_events_may_be_put_on_the_configured_bus_only(
    template: dict, two_account_policies: Path, bus: str, resource: str | None
) -> None:
    conditions = template["Conditions"]
    decided = {
        name: "true" if _condition(conditions[name], {"EventBus": bus}) else "false"
        for name in ("HasEventBus", "EventBusIsArn")
    }
    document = resolve(
        broker_policy(load_catalog(two_account_policies)), {**SAMPLE, "EventBus": bus, **decided}
    )
    putting = [s for s in document["Statement"] if "events:PutEvents" in s["Action"]]
    if resource is None:
        assert putting == []  # no bus configured: no EventBridge permission at all
    else:
        assert putting == [
            {
                "Sid": "EventBus",
                "Effect": "Allow",
                "Action": ["events:PutEvents"],
                "Resource": [resource],
            }
        ]
    for function in ("APIHandler", "Sweep"):
        variables = template["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert variables["SWITCHBACK_EVENT_BUS"] == {"Ref": "EventBus"}
