"""The review page in a real headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright), against the real local stack, with JavaScript switched off: the page must work
as plain HTML.

When Chromium or Playwright is missing this test says how to get it: on a developer's machine
it is skipped with that reason (pytest prints it in the summary); where the environment
variable CI (or SWITCHBACK_REQUIRE_BROWSER) is set it fails with it, so CI never skips it
silently.
Screenshots of the review page are kept in test-artifacts/, one per state of the page, and
axe-core (from axe-playwright-python, which ships it: nothing is downloaded) checks each state
for accessibility problems.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
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


HOW_TO_GET_IT = (
    "install it with `sudo make browser`, or Debian's packages: "
    "`sudo apt-get install chromium chromium-driver`"
)


def in_ci() -> bool:
    return any(
        os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")
        for name in ("CI", "SWITCHBACK_REQUIRE_BROWSER")
    )


def unavailable(reason: str) -> None:
    """Skip on a developer's machine; fail in CI, which must never skip this test."""
    message = f"BROWSER TEST NOT RUN: {reason}"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists():
        unavailable(f"{CHROMIUM} is missing; {HOW_TO_GET_IT}")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as error:
        unavailable(
            f"Playwright's Python package is missing ({error}); it is in requirements-dev.txt, "
            "which `make test` installs"
        )
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Error as error:
        playwright.stop()
        unavailable(
            f"{CHROMIUM} does not start: {str(error).splitlines()[0]}; "
            f"reinstall it with `sudo make browser`"
        )
    yield browser
    browser.close()
    playwright.stop()


QUICK_ROLE = """
role_arn = "arn:aws:iam::123456789012:role/QUICKCHECK"
description = "A role granted for a minute, to see a grant expire"
max_duration = "5m"
requesters = ["*"]
approvers = ["U0BOB"]
"""


@contextlib.contextmanager
def started_stack(workdir: Path) -> Iterator:
    """The stack these tests look at, with a role that may be granted for a minute, and a quick
    sweep, so that the one-minute grant below is seen to expire."""
    policies = workdir / "policies"
    shutil.copytree(ROOT / "policies", policies)
    (policies / "roles" / "quick-check.toml").write_text(QUICK_ROLE)
    with running_stack(
        workdir, SECRET, SWITCHBACK_POLICIES=str(policies), SWITCHBACK_SWEEP_SECONDS="2"
    ) as running:
        yield running


def ask_for_a_minute(stack) -> str:
    """carol's one-minute grant, approved by bob; its review page's link. tests/conftest.py
    starts the stack and this grant when the session starts, so that the minute has passed
    by the time the page is looked at. Approved over plain HTTP: approving in Chromium is
    what the first test here does."""
    from tests.e2e.test_whole_loop import Browser

    link = review_link(stack, "U0CAROL", "request quick-check 1m INC-9 look at it expire")
    bob = Browser()
    path = "/" + link.split("/", 3)[3]
    _, landed, page = bob.post(f"{stack.api}/auth/dev", {"user": "U0BOB", "next": path})
    assert landed == link and "Approve" in page
    csrf = page.split("name=csrf value='", 1)[1].split("'", 1)[0]
    status, _, page = bob.post(f"{link}/approve", {"csrf": csrf})
    assert status == 200 and "Granted" in page
    return link


@pytest.fixture(scope="module")
def stack(browser_stack):
    return browser_stack


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
    statement = json.loads(page.locator("#statement").text_content())  # folded: not shown
    assert statement["Sid"].startswith("Switchback")  # this deployment's, ending with alice's
    assert statement["Condition"]["StringEquals"] == {"sts:RoleSessionName": "${aws:username}"}
    assert page.locator("#statement-2").count() == 1  # and the session limit it adds
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


# -- every state of the page: a screenshot, and axe-core finds nothing serious ----------------
@pytest.fixture
def expiring(stack) -> str:
    """A one-minute grant, made when the session started (see ``ask_for_a_minute``)."""
    return stack.expiring


def check_accessibility(chromium, person: Person, state: str) -> None:
    """Screenshot ``person``'s page as it is, then run axe-core on the same page.

    axe-core is JavaScript, and the page is looked at with JavaScript off; so axe runs in a
    second context with the same cookies and JavaScript on (the page itself has no script)."""
    ARTIFACTS.mkdir(exist_ok=True)
    person.page.screenshot(path=str(ARTIFACTS / f"review-{state}.png"), full_page=True)
    from axe_playwright_python.sync_playwright import Axe

    context = chromium.new_context(storage_state=person.context.storage_state(), bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(person.page.url)
        for shown in ("h1", "#state"):  # the same page as in the screenshot
            assert page.locator(shown).inner_text() == person.page.locator(shown).inner_text()
        if page.locator("details").count():
            page.locator("details summary").click()  # check the folded documents too
        violations = Axe().run(page).response["violations"]
    finally:
        context.close()
    (ARTIFACTS / f"review-{state}-axe.json").write_text(json.dumps(violations, indent=2))
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{state}: {bad}"


def test_every_state_of_the_page_is_accessible(chromium, stack, expiring) -> None:
    link = review_link(stack, "U0ALICE", "request ec2-admin 45m INC-77 rotate the keys")
    bob = Person(chromium)
    bob.page.goto(link)
    check_accessibility(chromium, bob, "signed-out")
    bob.sign_in_from(link, "U0BOB")
    assert bob.page.locator("#headline").inner_text() == (
        "alice asks for ec2-admin for 45 minutes — INC-77 rotate the keys"
    )
    assert bob.page.locator("#state").inner_text() == "Waiting for approval"
    # the documents a grant writes, folded without JavaScript, opened by a click
    assert not bob.page.locator("#statement").is_visible()
    bob.page.locator("#documents summary").click()
    assert bob.page.locator("#statement").is_visible()
    limits = json.loads(bob.page.locator("#statement-2").inner_text())["Statement"]
    assert limits and all(statement["Effect"] == "Deny" for statement in limits)
    check_accessibility(chromium, bob, "pending")

    bob.page.get_by_role("button", name="Approve").click()
    assert bob.page.locator("#state").inner_text() == "Granted"
    check_accessibility(chromium, bob, "approved")

    link = review_link(stack, "U0CAROL", "request ec2-admin 15m INC-78 not now")
    bob.page.goto(link)
    bob.page.get_by_role("button", name="Deny").click()
    assert bob.page.locator("#state").inner_text() == "Denied"
    check_accessibility(chromium, bob, "denied")

    bob.page.goto(expiring)
    deadline = time.monotonic() + 120  # a minute's grant, then a sweep every 2 s
    while bob.page.locator("#state").inner_text() != "Expired: the access window ended":
        assert time.monotonic() < deadline, bob.page.locator("#state").inner_text()
        time.sleep(1)
        bob.page.reload()
    check_accessibility(chromium, bob, "expired")
    assert bob.console_problems == []
    bob.close()
