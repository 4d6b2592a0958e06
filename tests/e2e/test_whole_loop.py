"""The whole loop on the real local stack: `python -m tools.local_stack` with its embedded moto
server, the app over HTTP, a local Slack webhook receiver, and a person's cookie jar."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import boto3
import pytest

from chalicelib.policies import load_catalog
from testkit.slack_standin import SlackReceiver
from tests.conftest import ROOT
from tests.support.least_privilege import compare, read_calls
from tests.support.trust_view import trusted_users
from tools.slash import send
from tools.stack_process import StackProcess

pytestmark = pytest.mark.e2e
SECRET = "e2e-signing-secret"


class Stack(StackProcess):
    def __init__(self, tmp: Path, slack: SlackReceiver, **env: str):
        super().__init__(
            tmp,
            SECRET,
            SLACK_WEBHOOK_URL=f"{slack.url}/webhook/approvers",
            SWITCHBACK_SWEEP_SECONDS="2",
            SWITCHBACK_RECORD_AWS_CALLS=str(tmp / "aws-calls.jsonl"),
            **env,
        )


class Browser:
    """A person with a cookie jar who follows redirects, as a browser would (no JavaScript)."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, url: str) -> tuple[int, str, str]:
        with self.opener.open(url, timeout=10) as answer:
            return answer.status, answer.geturl(), answer.read().decode()

    def post(self, url: str, form: dict) -> tuple[int, str, str]:
        try:
            with self.opener.open(
                urllib.request.Request(url, data=urlencode(form).encode(), method="POST"),
                timeout=15,
            ) as answer:
                return answer.status, answer.geturl(), answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, url, error.read().decode()


@dataclass
class MinuteGrant:
    """A one-minute grant on its own local stack, asked for in Slack and approved on the review
    page by a person signing in, with what was seen while it was live."""

    stack: Stack
    slack: SlackReceiver
    person: Browser
    link: str
    chooser: str  # the dev sign-in page the review page's "sign in" led to
    trust: dict  # the role's trust policy while granted

    def iam(self):
        return boto3.client(
            "iam",
            endpoint_url=self.stack.aws_url(),
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def grant_a_minute(tmp: Path, slack: SlackReceiver) -> MinuteGrant:
    """Start a stack and get alice a one-minute grant on it. Seeing it expire takes that whole
    minute (the shortest a grant may be), so tests/conftest.py starts this when the session
    starts, and the minute passes while other tests run; the test below looks at it then."""
    stack = Stack(tmp, slack, SWITCHBACK_ACTIVITY_DELAY="1")  # its report: the next sweep
    try:
        stack.wait_ready()
        status, answer = send(
            stack.api,
            SECRET,
            "U0ALICE",
            "request ec2-admin 1m INC-42 resize the ASG",
            f"{slack.url}/response/U0ALICE",
        )
        assert status == 200 and "pending" in answer["text"], answer
        [message] = slack.wait_for(lambda p: "Access request" in json.dumps(p))
        link = message["blocks"][1]["elements"][0]["url"]
        request_id = link.rsplit("/", 1)[1]

        person = Browser()
        _, _, page = person.get(link)
        sign_in = re.search(r"href='([^']+)'>sign in", page).group(1).replace("&amp;", "&")
        _, _, chooser = person.get(sign_in)
        status, landed, page = person.post(
            f"{stack.api}/auth/dev", {"user": "U0BOB", "next": f"/requests/{request_id}"}
        )
        assert landed == link and "Approve" in page
        csrf = re.search(r"name=csrf value='([^']+)'", page).group(1)
        status, landed, page = person.post(f"{link}/approve", {"csrf": csrf})
        assert status == 200 and landed == link and "Granted" in page
        grant = MinuteGrant(stack, slack, person, link, chooser, trust={})
        record_a_call(tmp, "--resource", "i-0e2e", "ec2", "RunInstances")
        grant.trust = grant.iam().get_role(RoleName="AWSEC2FULLACCESS")["Role"][
            "AssumeRolePolicyDocument"
        ]
        return grant
    except BaseException:
        stack.stop()
        raise


def record_a_call(tmp: Path, *args: str) -> None:
    """`make activity AS=U0ALICE ARGS='…'`: a call of alice's session, in the stack's CloudTrail
    stand-in (found through the stack's state file)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SWITCHBACK_"))}
    done = subprocess.run(
        [sys.executable, "-m", "tools.activity", "--as", "U0ALICE", *args],
        cwd=ROOT,
        env={**clean, "SWITCHBACK_LOCAL_STATE": str(tmp / "stack.json")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_request_approve_grant_expire_on_the_local_stack(
    minute_grant_on_the_local_stack: MinuteGrant,
) -> None:
    grant = minute_grant_on_the_local_stack
    slack, person, link = grant.slack, grant.person, grant.link
    assert "bob (U0BOB)" in grant.chooser

    statements = grant.trust["Statement"]
    assert statements[0]["Sid"] == "EC2Service" and len(statements) == 2
    assert trusted_users(grant.trust) == ["alice"]
    granted_statement = statements[1]
    assert granted_statement["Principal"] == {"AWS": "arn:aws:iam::123456789012:user/alice"}
    assert granted_statement["Condition"]["StringEquals"] == {
        "sts:RoleSessionName": "${aws:username}"
    }
    assert "aws:CurrentTime" in granted_statement["Condition"]["DateLessThan"]
    granted = slack.wait_for(lambda p: "is granted" in p.get("text", ""))[0]["text"]
    assert "https://signin.aws.amazon.com/switchrole?account=123456789012" in granted
    assert "--role-session-name alice" in granted

    iam = grant.iam()

    def trust() -> dict:
        return iam.get_role(RoleName="AWSEC2FULLACCESS")["Role"]["AssumeRolePolicyDocument"]

    deadline = time.monotonic() + 100
    while time.monotonic() < deadline and len(trust()["Statement"]) > 1:
        time.sleep(1)
    assert [s["Sid"] for s in trust()["Statement"]] == ["EC2Service"]
    slack.wait_for(lambda p: "has expired" in p.get("text", ""), timeout=20)
    # Its activity report: read from CloudTrail (the stand-in) by the sweep once it ended,
    # posted to the channel, shown on the page.
    [report] = slack.wait_for(lambda p: p.get("text", "").startswith("Activity report"), 30)
    assert "ec2:RunInstances" in json.dumps(report) and "i-0e2e" in json.dumps(report)
    _, _, page = person.get(link)
    assert "Expired" in page
    assert "<pre id=activity class=activity>" in page and "ec2:RunInstances ×1" in page

    # Least privilege: every AWS call of the whole loop is allowed by the policy generated for
    # these policies, and everything that policy grants was called (or is explained).
    calls = read_calls(grant.stack.log.parent / "aws-calls.jsonl")
    assert compare(calls, load_catalog(ROOT / "policies"), "switchback") == {
        "called but not allowed": [],
        "granted but unused": [],
        "said to be uncalled, but called": [],
    }


def test_the_stack_refuses_to_start_on_bad_policies(tmp_path: Path, slack: SlackReceiver) -> None:
    (tmp_path / "roles").mkdir()
    (tmp_path / "people.toml").write_text(
        '[people.U0ALICE]\nname = "alice"\naws = "arn:aws:iam::123456789012:user/alice"\n'
    )
    (tmp_path / "roles" / "db.toml").write_text(
        'role_arn = "arn:aws:iam::123456789012:role/Db"\nmax_duration = "1h"\n'
        'requesters = ["*"]\napprovers = ["U0NOBODY"]\n'
    )
    stack = Stack(tmp_path, slack, SWITCHBACK_POLICIES=str(tmp_path))
    assert stack.process.wait(60) == 2
    out = stack.output()
    assert "db.toml: approvers: U0NOBODY not in people.toml" in out
    assert "Serving on" not in out
