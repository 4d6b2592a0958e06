"""README's "Try it", run as written: its commands are read from README.md, so the README
cannot drift from what works. `make run` starts in the background; every other command runs
in order, with the request id for `<id>`; the browser step between them (open the Review link,
sign in as bob, Approve) is done over HTTP as a browser without JavaScript would."""

from __future__ import annotations

import http.cookiejar
import os
import re
import shlex
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.conftest import ROOT
from tools.stack_process import free_port

pytestmark = pytest.mark.e2e


def try_it_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Try it\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_try_it_has_the_commands_this_test_expects() -> None:
    commands = try_it_commands()
    assert commands[0] == "make run"
    assert commands[1].startswith("make slash AS=U0ALICE ARGS='request ")
    assert any("<id>" in c for c in commands[2:])


def make(command: str) -> list[str]:
    # The shared virtualenv is already installed: -o keeps make from rebuilding it.
    words = shlex.split(command)
    assert words[0] == "make", command
    return ["make", "-o", ".venv/.installed", *words[1:]]


def wait_for(predicate, what: str, timeout: float = 60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = predicate()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def healthy(api: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api}/healthz", timeout=1) as answer:
            return answer.status == 200
    except OSError:
        return False


def approve_as_bob(review_link: str, api: str) -> None:
    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    request_path = review_link.removeprefix(api)
    form = urlencode({"user": "U0BOB", "next": request_path}).encode()
    with browser.open(f"{api}/auth/dev", data=form, timeout=15) as signed_in:
        page = signed_in.read().decode()
    csrf = re.search(r"name=csrf value='([^']+)'", page).group(1)
    with browser.open(
        f"{review_link}/approve", data=urlencode({"csrf": csrf}).encode(), timeout=15
    ) as approved:
        assert "Granted" in approved.read().decode()


def test_the_readme_try_it_commands_work(tmp_path: Path) -> None:
    commands = try_it_commands()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SWITCHBACK_"))}
    env.pop("SLACK_WEBHOOK_URL", None)
    env.update(PORT=str(port), SWITCHBACK_LOCAL_STATE=str(tmp_path / "stack.json"))
    # The walk-through ends with an activity report, which waits for the delay and a sweep.
    env.update(SWITCHBACK_SWEEP_SECONDS="2", SWITCHBACK_ACTIVITY_DELAY="1")
    api = f"http://127.0.0.1:{port}"
    log = tmp_path / "make-run.log"
    stack = subprocess.Popen(
        make(commands[0]),
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # make and the stack it starts: one group to stop
    )
    try:
        wait_for(lambda: healthy(api), f"make run to answer on {api}")

        def run(command: str) -> str:
            done = subprocess.run(
                make(command), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
            return done.stdout

        answer = run(commands[1])
        assert "pending" in answer.lower(), answer
        review = wait_for(
            lambda: re.findall(rf"{re.escape(api)}/requests/[0-9A-Z]{{10}}", log.read_text()),
            "the Review link on the console",
        )[0]
        request_id = review.rsplit("/", 1)[1]
        approve_as_bob(review, api)
        wait_for(lambda: "granted" in log.read_text(), "alice's granted message")

        outputs = [run(command.replace("<id>", request_id)) for command in commands[2:]]
        listed = next(o for c, o in zip(commands[2:], outputs, strict=True) if " list" in c)
        assert re.search(rf"{request_id}\s+ACTIVE\s+ec2-admin", listed), listed
        shown = next(o for c, o in zip(commands[2:], outputs, strict=True) if "<id>" in c)
        assert "granted by switchback" in shown and "approved by U0BOB" in shown, shown
        if any(c.startswith("make activity") for c in commands):
            ran = zip(commands[2:], outputs, strict=True)
            seen = next(o for c, o in ran if "--local activity" in c)
            assert "ec2:RunInstances ×1" in seen, seen
            said = "Activity report* · request"  # the console's rendering of its first line
            wait_for(lambda: said in log.read_text(), "the activity report", 90)
    finally:
        os.killpg(stack.pid, signal.SIGTERM)
        try:
            stack.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
