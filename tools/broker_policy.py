"""The broker's own IAM policy, generated from policies/ and the actions the code calls.

The actions come from the constants beside the code that calls them (chalicelib/aws/iam.py,
store.py, config.py, delivery/eventbridge.py, aws/cloudtrail.py); the resources from the policy
files: the managed
roles by ARN, the manager roles of other accounts by ARN, the table and its indexes, the
secrets, the log groups, and the event bus when the deployment names one (``EventBus``). Only
actions that AWS offers no resource-level permission for are allowed on "*" (the trust-policy
quota, X-Ray, and CloudTrail's LookupEvents for activity reports on this account's roles).

Resources are written as CloudFormation ``Fn::Sub`` strings (``${Table.Arn}``…) so the policy
drops into the deploy template; ``resolve`` fills them in for linters and tests.

    python -m tools.broker_policy [policies-dir]      # prints the policy, resolved for a sample
"""

from __future__ import annotations

import fnmatch
import json
import re
import sys

from chalicelib.aws.cloudtrail import LOOKUP_ACTIONS
from chalicelib.aws.iam import ACCOUNT_ACTIONS, MANAGER_ACTIONS, ROLE_ACTIONS
from chalicelib.aws.role_marks import MARK_ACTIONS
from chalicelib.aws.store import DUE_INDEX, INDEX_ACTIONS, ITEM_ACTIONS, LIVE_INDEX, PERSON_INDEX
from chalicelib.config import SECRET_ACTIONS
from chalicelib.core.catalog import Catalog, secret_arns
from chalicelib.delivery.eventbridge import EVENT_ACTIONS
from chalicelib.policies import load_catalog

# What the Lambda runtime does for the code (it is not a boto3 call of ours).
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")
TRACE_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
# Actions with no resource-level permission in IAM: the only ones the policy allows on "*".
# cloudtrail:LookupEvents has no resource type in the Service Authorization Reference
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscloudtrail.html):
# it reads the whole account's event history, so "*" is the only Resource it accepts.
UNSCOPED_ACTIONS = ACCOUNT_ACTIONS + TRACE_ACTIONS + LOOKUP_ACTIONS

NO_VALUE = {"Ref": "AWS::NoValue"}
# The deploy template's logical names the resources below refer to.
TABLE = "${Table.Arn}"
# Template parameter or resource holding each secret's ARN, by the variable the code reads.
SECRET_REFS = {
    "SLACK_SIGNING_SECRET_ARN": "${SlackSigningSecretArn}",
    "SLACK_CLIENT_SECRET_ARN": "${SlackClientSecretArn}",
    "SWITCHBACK_COOKIE_KEY_ARN": "${CookieKeySecret}",
    "SLACK_WEBHOOK_URL_ARN": "${SlackWebhookSecretArn}",
}
# Secrets a deployment may leave out, by variable: (template condition, where its ARN is).
OPTIONAL_SECRET_REFS = {"SLACK_BOT_TOKEN_ARN": ("HasSlackBotToken", "${SlackBotTokenSecretArn}")}
# The bus events go to, only when the deployment names one (the template's EventBus parameter:
# a name in the stack's account and region, or an ARN, e.g. of another account's bus).
EVENT_BUS = {
    "Fn::If": [
        "EventBusIsArn",
        {"Fn::Sub": "${EventBus}"},
        {
            "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}"
            ":event-bus/${EventBus}"
        },
    ]
}
LOG_GROUPS = (
    "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}"
    ":log-group:/aws/lambda/${AWS::StackName}-api:*",
    "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}"
    ":log-group:/aws/lambda/${AWS::StackName}-sweep:*",
)


def _sub(text: str) -> str | dict:
    return {"Fn::Sub": text} if "${" in text else text


def _statement(sid: str, actions: tuple[str, ...], resources: list[str]) -> dict:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": [_sub(r) for r in resources],
    }


def broker_policy(catalog: Catalog) -> dict:
    """The broker role's policy document for these policies (CloudFormation ``Fn::Sub`` form)."""
    managers = catalog.managers()
    direct = sorted({r.role_arn for r in catalog.roles.values() if r.role_arn not in managers})
    statements = []
    if direct:
        statements.append(_statement("ManagedRoles", ROLE_ACTIONS, direct))
    if managers:
        statements.append(
            _statement("OtherAccountsManagers", MANAGER_ACTIONS, sorted(set(managers.values())))
        )
    if any(r.activity_report for r in catalog.roles.values() if r.role_arn not in managers):
        # Activity reports on this account's roles; other accounts' are read by their manager.
        statements.append(_statement("ActivityReports", LOOKUP_ACTIONS, ["*"]))
    statements += [
        _statement("TrustPolicyQuota", ACCOUNT_ACTIONS, ["*"]),
        # Items: the store's, and the sweep's role marks and cursor (chalicelib/aws/role_marks.py).
        _statement("TableItems", tuple(set(ITEM_ACTIONS) | set(MARK_ACTIONS)), [TABLE]),
        _statement(
            "TableIndexes",
            INDEX_ACTIONS,
            [f"{TABLE}/index/{i}" for i in (DUE_INDEX, PERSON_INDEX, LIVE_INDEX)],
        ),
        _statement("Secrets", SECRET_ACTIONS, sorted(SECRET_REFS.values())),
        *(
            # Roles whose webhook_url or break_glass_webhook_url is a secret ARN: those only.
            [_statement("RoleWebhookSecrets", SECRET_ACTIONS, secret_arns(catalog))]
            if secret_arns(catalog)
            else []
        ),
        *(
            # Only when the deployment names that secret; no statement on an empty ARN.
            {
                "Fn::If": [
                    condition,
                    _statement(condition[3:] + "Secret", SECRET_ACTIONS, [ref]),
                    NO_VALUE,
                ]
            }
            for condition, ref in OPTIONAL_SECRET_REFS.values()
        ),
        {
            "Fn::If": [
                "HasEventBus",
                {
                    "Sid": "EventBus",
                    "Effect": "Allow",
                    "Action": sorted(EVENT_ACTIONS),
                    "Resource": [EVENT_BUS],
                },
                NO_VALUE,
            ]
        },
        _statement("OwnLogs", LOG_ACTIONS, list(LOG_GROUPS)),
        _statement("Tracing", TRACE_ACTIONS, ["*"]),
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def resolve(document: object, values: dict[str, str]) -> object:
    """``document`` with every ``{"Fn::Sub": "...${Name}..."}`` filled in from ``values``, and
    every ``{"Fn::If": [condition, a, b]}`` decided by ``values[condition]`` ("true" or not);
    what resolves to AWS::NoValue is left out."""
    if isinstance(document, dict):
        if set(document) == {"Fn::Sub"} and isinstance(document["Fn::Sub"], str):
            return re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], document["Fn::Sub"])
        if set(document) == {"Fn::If"}:
            condition, when_true, when_false = document["Fn::If"]
            chosen = when_true if values.get(condition) == "true" else when_false
            return resolve(chosen, values)
        return {k: resolve(v, values) for k, v in document.items()}
    if isinstance(document, list):
        return [r for r in (resolve(v, values) for v in document) if r != NO_VALUE]
    return document


_SECRETS = "arn:aws:secretsmanager:us-east-1:123456789012:secret"
# Values for the template's names in a sample account: for linters, tests and a quick look.
SAMPLE = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "switchback-prod",
    "Table.Arn": "arn:aws:dynamodb:us-east-1:123456789012:table/switchback-prod-Table-1A2B3C",
    "SlackSigningSecretArn": f"{_SECRETS}:switchback/slack-signing-AbCdEf",
    "SlackClientSecretArn": f"{_SECRETS}:switchback/slack-client-AbCdEf",
    "CookieKeySecret": f"{_SECRETS}:switchback-prod-cookie-key-AbCdEf",
    "SlackWebhookSecretArn": f"{_SECRETS}:switchback/slack-webhook-AbCdEf",
    "SlackBotTokenSecretArn": f"{_SECRETS}:switchback/slack-bot-AbCdEf",
    "HasSlackBotToken": "true",
    "EventBus": "switchback-events",
    "HasEventBus": "true",
    "EventBusIsArn": "false",
}


def actions_of(document: dict) -> set[str]:
    return {a for s in document["Statement"] for a in s["Action"]}


def allows(document: dict, action: str, resource: str) -> bool:
    """Whether a resolved policy allows ``action`` on ``resource`` (Allow statements with
    literal actions, as broker_policy writes them; ARN wildcards as IAM matches them)."""
    return any(
        statement["Effect"] == "Allow"
        and action in statement["Action"]
        and any(fnmatch.fnmatchcase(resource, pattern) for pattern in statement["Resource"])
        for statement in document["Statement"]
    )


if __name__ == "__main__":
    directory = sys.argv[1] if len(sys.argv) > 1 else "policies"
    print(json.dumps(resolve(broker_policy(load_catalog(directory)), SAMPLE), indent=2))
