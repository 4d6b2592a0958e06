"""The Slack app manifest in the repo matches what the app serves and asks for."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from chalicelib.core.commands import BadCommand, parse_command
from chalicelib.web import oidc
from tests.conftest import ROOT

MANIFEST = json.loads((ROOT / "deploy" / "slack-app-manifest.json").read_text())


def test_the_slash_command_points_at_the_apps_route() -> None:
    import app

    [command] = MANIFEST["features"]["slash_commands"]
    assert command["command"] == "/access"
    path = urlsplit(command["url"]).path
    assert path.startswith("/api/")  # API Gateway's stage, as in .chalice/config.json
    route = app.app.routes[path.removeprefix("/api")]
    assert "POST" in route
    # Switchback parses the text as typed; Slack's escaping of mentions would get in the way
    assert command["should_escape"] is False


def test_every_verb_in_the_usage_hint_is_understood() -> None:
    [command] = MANIFEST["features"]["slash_commands"]
    verbs = [part.split()[0] for part in command["usage_hint"].split("|")]
    assert verbs == ["request", "roles", "list", "cancel", "revoke", "extend", "breakglass", "help"]
    for verb in verbs:
        example = {
            "request": "request ec2-admin 1h x",
            "cancel": "cancel A",
            "revoke": "revoke A",
            "extend": "extend A 1h",
            "breakglass": "breakglass ec2-admin x",
        }
        assert not isinstance(parse_command(example.get(verb, verb)), BadCommand)


def test_scopes_sign_in_webhooks_and_direct_messages_and_nothing_interactive() -> None:
    scopes = MANIFEST["oauth_config"]["scopes"]
    assert set(scopes["user"]) == set(oidc.SCOPES.split())  # Sign in with Slack
    assert set(scopes["bot"]) == {
        "commands",
        "incoming-webhook",
        "chat:write",
        "usergroups:read",
        "users:read",
    }
    [redirect] = MANIFEST["oauth_config"]["redirect_urls"]
    assert urlsplit(redirect).path == "/api/auth/slack/callback"
    assert MANIFEST["settings"]["interactivity"] == {"is_enabled": False}
