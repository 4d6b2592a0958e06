"""The console, as a developer meets it: `make run` twice, a busy port, `make slash ARGS=…`.

Each test runs the real local stack (tools/stack_process.py) and real processes beside it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, running_stack
from tools.stack_process import free_port

pytestmark = pytest.mark.e2e
SECRET = "console-signing-secret"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    # a quick sweep: a message not sent within the ack's budget (a busy machine) follows soon
    workdir = tmp_path_factory.mktemp("console")
    with running_stack(workdir, SECRET, SWITCHBACK_SWEEP_SECONDS="2") as running:
        running.state_file = running.log.parent / "stack.json"
        yield running


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SWITCHBACK_"))}
    return {**env, **extra}


def second_run(port: int, state_file) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.local_stack"],
        cwd=ROOT,
        env=clean_env(PORT=str(port), SWITCHBACK_LOCAL_STATE=str(state_file)),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_busy_port_gets_one_line_naming_it_and_how_to_pick_another(stack, tmp_path) -> None:
    run = second_run(stack.port, tmp_path / "other.json")
    assert run.returncode == 2
    assert run.stdout.strip().splitlines() == [
        f"Port {stack.port} is in use on 127.0.0.1; pick another with "
        f"`make run PORT={stack.port + 1}`."
    ]
    assert not (tmp_path / "other.json").exists()


def test_a_second_stack_never_takes_over_the_state_of_a_live_one(stack) -> None:
    before = stack.state_file.read_text()
    run = second_run(free_port(), stack.state_file)
    assert run.returncode == 2
    [line] = run.stdout.strip().splitlines()
    assert line.startswith(f"A local stack (pid {stack.process.pid}) is already running at ")
    assert "SWITCHBACK_LOCAL_STATE" in line
    assert stack.state_file.read_text() == before


def make_slash(stack, *variables: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        # -o: the test's virtualenv is already set up; never rebuild it from here
        ["make", "-s", "-o", ".venv/.installed", "slash", *variables],
        cwd=ROOT,
        env=clean_env(SWITCHBACK_LOCAL_STATE=str(stack.state_file)),
        capture_output=True,
        text=True,
        timeout=60,
    )


def approvers_message(stack, run: subprocess.CompletedProcess) -> str:
    assert run.returncode == 0, run.stderr
    request_id = run.stdout.split("Request `", 1)[1][:10]
    [message] = stack.slack.wait_for(lambda p: request_id in json.dumps(p))
    return message["blocks"][0]["text"]["text"]


def test_make_slash_passes_args_exactly_as_typed(stack, tmp_path) -> None:
    text = 'request ec2-admin 30m INC-42 it\'s <@U0BOB> & *all* $HOME `x` "q" ; echo pwned'
    shown = approvers_message(stack, make_slash(stack, "AS=U0ALICE", f"ARGS={text}"))
    assert "*Requester:* <@U0ALICE>" in shown
    assert '*Reason:* “INC-42 it\'s &lt;@U0BOB&gt; &amp; *all* $HOME ˋxˋ "q" ; echo pwned”' in shown
    # not even make may read ARGS as its own: a $(shell …) in it stays text
    marker = tmp_path / "ran"
    text = f"request ec2-admin 30m INC-43 $(shell touch {marker})"
    shown = approvers_message(stack, make_slash(stack, "AS=U0BOB", f"ARGS={text}"))
    assert not marker.exists()
    assert f"*Reason:* “INC-43 $(shell touch {marker})”" in shown


def test_make_slash_speaks_as_alice_unless_told(stack) -> None:
    run = make_slash(stack, "ARGS=roles")
    assert run.returncode == 0 and "Roles you may request" in run.stdout
