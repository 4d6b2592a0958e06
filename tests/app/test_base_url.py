"""With no SWITCHBACK_BASE_URL (the template's default BaseUrl is empty), links in messages and
the OpenID Connect redirect are built from API Gateway's request context, stage included.

The app is invoked as Lambda invokes it, with API Gateway's REST proxy event (the shape in
https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html):
``path`` is the route, ``requestContext.path`` the path the client asked for.
"""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

import pytest

from chalicelib import wiring
from testkit.slack_standin import SlackReceiver
from tests.conftest import signed_command

EXECUTE_API = "abc123defg.execute-api.eu-west-1.amazonaws.com"


def proxy_event(
    method: str,
    route: str,
    path: str,
    domain: str,
    client_path: str,
    body: bytes = b"",
    headers: dict | None = None,
    query: dict | None = None,
) -> dict:
    return {
        "resource": route,
        "path": path,
        "httpMethod": method,
        "headers": {"Host": domain, "X-Forwarded-Proto": "https", **(headers or {})},
        "multiValueHeaders": {},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": route,
            "httpMethod": method,
            "path": client_path,
            "stage": "api",
            "domainName": domain,
            "domainPrefix": domain.split(".", 1)[0],
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"sourceIp": "203.0.113.7"},
        },
        "body": base64.b64encode(body).decode() if body else None,
        "isBase64Encoded": bool(body),
    }


def invoke(event: dict) -> dict:
    import app

    return app.app(event, SimpleNamespace(aws_request_id="lambda-1", function_name="api"))


@pytest.fixture
def no_base_url(app_env: dict, monkeypatch: pytest.MonkeyPatch, slack: SlackReceiver):
    monkeypatch.delenv("SWITCHBACK_BASE_URL")
    for name, value in {
        "SLACK_CLIENT_ID": "123.456",
        "SLACK_CLIENT_SECRET": "client-secret",
        "SLACK_TEAM_ID": "T0TEAM",
    }.items():
        monkeypatch.setenv(name, value)
    wiring.reset()
    yield
    wiring.reset()


def redirect_uri(domain: str, client_path: str) -> str:
    answer = invoke(proxy_event("GET", "/auth/slack", "/auth/slack", domain, client_path))
    assert answer["statusCode"] == 302, answer
    location = urlparse(answer["headers"]["Location"])
    return parse_qs(location.query)["redirect_uri"][0]


def test_the_review_link_carries_the_api_gateway_stage(no_base_url, slack: SlackReceiver) -> None:
    body, headers = signed_command("U0ALICE", "request ec2-admin 30m INC-42 resize the ASG")
    event = proxy_event(
        "POST",
        "/slack/commands",
        "/slack/commands",
        EXECUTE_API,
        "/api/slack/commands",
        body,
        headers,
    )
    answer = invoke(event)
    assert answer["statusCode"] == 200, answer
    [message] = slack.wait_for(lambda p: "Access request" in json.dumps(p))
    link = message["blocks"][1]["elements"][0]["url"]
    request_id = link.rsplit("/", 1)[1]
    assert link == f"https://{EXECUTE_API}/api/requests/{request_id}"


def test_the_sign_in_redirect_carries_the_stage_on_the_execute_api_domain(no_base_url) -> None:
    assert redirect_uri(EXECUTE_API, "/api/auth/slack") == (
        f"https://{EXECUTE_API}/api/auth/slack/callback"
    )


def test_a_custom_domain_keeps_its_base_path_and_drops_the_stage(no_base_url) -> None:
    # A custom domain mapped at /access: API Gateway strips it from `path`, not from the
    # client's path; the stage is not in the URL at all.
    assert redirect_uri("jit.example.com", "/access/auth/slack") == (
        "https://jit.example.com/access/auth/slack/callback"
    )
    assert redirect_uri("jit.example.com", "/auth/slack") == (
        "https://jit.example.com/auth/slack/callback"
    )


def test_the_redirect_after_sign_in_stays_under_the_stage(no_base_url) -> None:
    form = b"user=U0BOB&next=%2Frequests%2FABCDEFGHJK"
    answer = invoke(
        proxy_event(
            "POST",
            "/auth/dev",
            "/auth/dev",
            EXECUTE_API,
            "/api/auth/dev",
            form,
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
    )
    assert answer["statusCode"] == 303, answer
    assert answer["headers"]["Location"] == f"https://{EXECUTE_API}/api/requests/ABCDEFGHJK"


def test_a_configured_base_url_wins(no_base_url, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBACK_BASE_URL", "https://access.example.com/")
    wiring.reset()
    assert redirect_uri(EXECUTE_API, "/api/auth/slack") == (
        "https://access.example.com/auth/slack/callback"
    )


def test_the_sweep_is_given_the_apis_url_with_its_stage_when_base_url_is_empty() -> None:
    # The sweep has no request context: the stack hands it the API's URL (or BaseUrl).
    import yaml

    from tests.conftest import ROOT

    template = yaml.safe_load((ROOT / "deploy" / "template.yaml").read_text())
    stage = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]["prod"][
        "api_gateway_stage"
    ]
    variables = template["Resources"]["Sweep"]["Properties"]["Environment"]["Variables"]
    condition, configured, fallback = variables["SWITCHBACK_BASE_URL"]["Fn::If"]
    assert template["Conditions"][condition] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "BaseUrl"}, ""]}]
    }
    assert configured == {"Ref": "BaseUrl"}
    assert fallback == {
        "Fn::Sub": f"https://${{RestAPI}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{stage}"
    }
    api = template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert api["SWITCHBACK_BASE_URL"] == {"Ref": "BaseUrl"}  # empty: the request context
