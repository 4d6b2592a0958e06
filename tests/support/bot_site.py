"""The app on the local stage with a test's own policies, a bot token whose Web API is the
local Slack receiver (direct messages, user groups), and a movable clock."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import urlencode

from chalicelib import wiring
from chalicelib.web import sessions
from testkit.slack_standin import SlackReceiver
from tests.conftest import COOKIE_KEY, Clock, signed_command

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
BOT_TOKEN = "xoxb-test-token"


class Site:
    def __init__(self, client, clock: Clock, slack: SlackReceiver, policies: Path):
        self.client, self.clock, self.slack, self.policies = client, clock, slack, policies
        self.csrf: dict[str, str] = {}

    def slash(self, user: str, text: str) -> str:
        body, headers = signed_command(user, text, f"{self.slack.url}/response/{user}")
        answer = self.client.http.post("/slack/commands", body=body, headers=headers)
        assert answer.status_code == 200, answer.body
        import json

        return json.loads(answer.body)["text"]

    def request(self, user: str, text: str) -> str:
        answer = self.slash(user, text)
        found = re.search(r"`([0-9A-Z]{10})`", answer)
        assert found, answer
        return found.group(1)

    def cookie(self, user: str) -> dict:
        session = sessions.new_session(user, time.time())
        self.csrf[user] = session.csrf
        return {"Cookie": f"{sessions.COOKIE_NAME}={sessions.encode(session, COOKIE_KEY)}"}

    def page(self, request_id: str, user: str) -> str:
        response = self.client.http.get(f"/requests/{request_id}", headers=self.cookie(user))
        assert response.status_code == 200
        return response.body.decode()

    def post(self, request_id: str, user: str, action: str, csrf: str | None = None, **form):
        headers = self.cookie(user)
        body = urlencode({"csrf": csrf if csrf is not None else self.csrf[user], **form})
        return self.client.http.post(
            f"/requests/{request_id}/{action}", body=body, headers={**FORM, **headers}
        )

    def stored(self, request_id: str):
        return wiring.service().get(request_id)

    def sweep(self):
        return wiring.service().sweep()

    def dms(self, channel: str | None = None) -> list[dict]:
        """chat.postMessage calls Slack accepted, optionally to one channel (user id)."""
        found = self.slack.delivered("/api/chat.postMessage")
        return [p for p in found if channel is None or p.get("channel") == channel]


def start_site(
    client, slack: SlackReceiver, folder: Path, monkeypatch, people: str, roles: dict[str, str]
) -> Site:
    from chalicelib.policies import load_catalog
    from tools.local_stack import ensure_aws_resources

    (folder / "roles").mkdir(parents=True, exist_ok=True)
    (folder / "people.toml").write_text(people)
    for name, text in roles.items():
        (folder / "roles" / f"{name}.toml").write_text(text)
    monkeypatch.setenv("SWITCHBACK_POLICIES", str(folder))
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_API_URL", f"{slack.url}/api/")
    ensure_aws_resources(load_catalog(folder), "switchback")
    wiring.reset()
    clock = Clock()
    wiring.service().clock = clock
    return Site(client, clock, slack, folder)
