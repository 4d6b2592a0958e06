"""The review page in a real headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright), against the real local stack, with JavaScript switched off: the page must work
as plain HTML.

When Chromium or Playwright is missing this test is skipped with a loud reason (pytest prints
it in the summary); set SWITCHBACK_REQUIRE_BROWSER=1 to make that a failure instead.
Screenshots of the review page are kept in test-artifacts/.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import pytest

from tests.conftest import ROOT, running_stack
from tools.slash import send

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
SECRET = "browser-signing-secret"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def unavailable(reason: str) -> None:
    message = f"BROWSER TEST NOT RUN: {reason} (install with `make browser` as root)"
    if os.environ.get("SWITCHBACK_REQUIRE_BROWSER"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists():
        unavailable(f"{CHROMIUM} is missing (Debian packages chromium, chromium-driver)")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as error:
        unavailable(f"Playwright's Python package is missing ({error})")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Error as error:
        playwright.stop()
        unavailable(f"{CHROMIUM} does not start: {str(error).splitlines()[0]}")
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    with running_stack(tmp_path_factory.mktemp("browser"), SECRET) as running:
        yield running


class Person:
    """One browser profile (its own cookies), JavaScript off, console problems collected."""

    def __init__(self, browser):
        self.context = browser.new_context(
            java_script_enabled=False, viewport={"width": 900, "height": 900}
        )
        self.page = self.context.new_page()
        self.console_problems: list[str] = []
        self.page.on(
            "console",
            lambda m: self.console_problems.append(m.text) if m.type in ("error", "warning") else 0,
        )

    def sign_in_from(self, link: str, user: str) -> None:
        """Open the link from Slack, follow "sign in", pick ``user``, land back on the link."""
        self.page.goto(link)
        self.page.get_by_role("link", name="sign in").click()
        self.page.select_option("select[name=user]", user)
        self.page.get_by_role("button", name="Sign in").click()
        assert self.page.url == link

    def buttons(self) -> list[str]:
        return self.page.locator("#actions button").all_inner_texts()

    def close(self) -> None:
        self.context.close()


def review_link(stack, requester: str, text: str) -> str:
    status, answer = send(stack.api, SECRET, requester, text, "")
    assert status == 200, answer
    request_id = answer["text"].split("Request `", 1)[1][:10]
    [message] = stack.slack.wait_for(lambda p: request_id in json.dumps(p))
    return message["blocks"][1]["elements"][0]["url"]


def trust_sids(stack) -> list[str]:
    iam = boto3.client(
        "iam",
        endpoint_url=stack.aws_url(),
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    document = iam.get_role(RoleName="AWSEC2FULLACCESS")["Role"]["AssumeRolePolicyDocument"]
    return [s["Sid"] for s in document["Statement"]]


def test_an_approver_signs_in_and_approves_in_chromium(chromium, stack) -> None:
    link = review_link(stack, "U0ALICE", "request ec2-admin 30m INC-42 resize the <ASG>")
    bob = Person(chromium)
    bob.page.goto(link)
    assert "INC-42" not in bob.page.content()  # signed out: no details
    bob.sign_in_from(link, "U0BOB")

    page = bob.page
    assert page.locator("#state").inner_text() == "Waiting for approval"
    assert "INC-42 resize the <ASG>" in page.locator("#reason").inner_text()
    assert bob.buttons() == ["Approve", "Deny"]
    statement = json.loads(page.locator("#statement").inner_text())
    assert statement["Sid"].startswith("Switchback")  # this deployment's, ending with alice's
    assert statement["Condition"]["StringEquals"] == {"sts:RoleSessionName": "${aws:username}"}
    assert page.locator("pre.written").count() == 1  # and the session limit it adds
    assert statement["Principal"] == {"AWS": "arn:aws:iam::123456789012:user/alice"}
    # The inline style is allowed by its hash in the CSP: the button really is green.
    approve = page.get_by_role("button", name="Approve")
    assert approve.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(0, 122, 90)"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "review-page.png"), full_page=True)

    approve.click()
    assert page.url == link
    assert page.locator("#state").inner_text() == "Granted"
    assert "alice can switch to this role until" in page.locator("#summary").inner_text()
    assert "1 of 1 (bob)" in page.locator("#approvals").inner_text()
    assert bob.buttons() == ["Revoke now"]  # an approver may end it early
    page.screenshot(path=str(ARTIFACTS / "review-page-granted.png"), full_page=True)
    assert len(trust_sids(stack)) == 2 and trust_sids(stack)[1].startswith("Switchback")
    assert bob.console_problems == []  # no CSP violation, nothing blocked
    bob.close()


def test_a_non_approver_sees_no_buttons_and_why(chromium, stack) -> None:
    link = review_link(stack, "U0CAROL", "request ec2-admin 15m INC-7 <script>alert(1)</script>")
    alice = Person(chromium)
    alice.sign_in_from(link, "U0ALICE")
    assert alice.buttons() == []
    assert alice.page.locator("#why-not").inner_text() == "You are not an approver of ec2-admin."
    assert "<script>alert(1)</script>" in alice.page.locator("#reason").inner_text()
    assert alice.page.locator("script").count() == 0

    # the requester cannot decide her own request either; bob denies it with a reason
    carol = Person(chromium)
    carol.sign_in_from(link, "U0CAROL")
    assert carol.buttons() == []
    bob = Person(chromium)
    bob.sign_in_from(link, "U0BOB")
    bob.page.get_by_label("Reason for denying (optional)").fill("use the runbook")
    bob.page.get_by_role("button", name="Deny").click()
    assert bob.page.locator("#state").inner_text() == "Denied"
    assert "Reason: use the runbook" in bob.page.locator("#summary").inner_text()
    alice.page.reload()
    assert alice.page.locator("#state").inner_text() == "Denied"
    for person in (alice, carol, bob):
        assert person.console_problems == []
        person.close()
