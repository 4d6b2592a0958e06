"""`python -m tools.activity` (`make activity AS=… ARGS='…'`): records a call in the CloudTrail
stand-in as the person's session on their grant's role, and a report then counts it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.core import activity
from chalicelib.core.activity_schedule import next_report
from chalicelib.core.model import State
from testkit.activity_samples import END, START, policy_folder
from testkit.activity_samples import sample_grant as grant
from testkit.cloudtrail_standin import CloudTrailStandIn
from tests.conftest import ROOT
from tools import activity as cli


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[CloudTrailStandIn]:
    monkeypatch.setenv("SWITCHBACK_LOCAL_STATE", str(tmp_path / "no-stack.json"))
    monkeypatch.setattr(cli, "local_stack", lambda: {})
    monkeypatch.delenv("AWS_ENDPOINT_URL_CLOUDTRAIL", raising=False)
    with CloudTrailStandIn() as running:
        yield running


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    return policy_folder(tmp_path / "policies")


def test_a_call_is_recorded_as_the_persons_session_on_the_role(
    standin: CloudTrailStandIn, policies: Path
) -> None:
    said: list[str] = []
    argv = ["--url", standin.url, "--policies", str(policies), "--as", "U0ALICE"]
    argv += ["--role", "ec2-admin", "--region", "eu-west-1", "--resource", "i-0abc"]
    assert cli.run([*argv, "--count", "2", "ec2", "RunInstances"], said.append, START) == 0
    assert said == [
        "recorded 2 × ec2:RunInstances by "
        "arn:aws:sts::123456789012:assumed-role/AWSEC2FULLACCESS/alice in eu-west-1"
    ]
    [first, second] = standin.recorded()["eu-west-1"]
    assert first["eventSource"] == "ec2.amazonaws.com" and first["readOnly"] is False
    assert first["resources"] == [{"ARN": "i-0abc", "accountId": "123456789012"}]
    assert first["eventID"] != second["eventID"]
    cli.run([*argv, "--error", "AccessDenied", "iam", "CreateUser"], said.append, START)
    cli.run([*argv, "ec2", "DescribeInstances"], said.append, START)
    # What the adapter reads back from it makes the report.
    found = standin.recorded()["eu-west-1"]
    report = activity.build_report(
        [
            __import__("testkit.cloudtrail_standin").cloudtrail_standin._lookup_event(r)
            for r in found
        ],
        grant(role_arn="arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"),
        next_report(grant()),
        ("eu-west-1",),
        END,
    )
    assert (report.write_count, report.denied_count, report.read_only) == (2, 1, 1)


def test_the_role_is_the_active_grants_unless_named(
    standin: CloudTrailStandIn, policies: Path
) -> None:
    argv = ["--url", standin.url, "--policies", str(policies), "--as", "U0ALICE", "ec2", "X"]
    holding = [grant(state=State.ACTIVE)]
    assert cli.run(argv, lambda _: None, START, grants=lambda who, stack: holding) == 0
    with pytest.raises(cli.ActivityCliError, match="holds no active grant: give --role"):
        cli.run(argv, lambda _: None, START, grants=lambda who, stack: [])
    two = holding + [grant(role="db-admin")]
    with pytest.raises(cli.ActivityCliError, match="holds db-admin, ec2-admin: say which"):
        cli.run(argv, lambda _: None, START, grants=lambda who, stack: two)


def test_without_a_stand_in_it_says_where_to_find_one(
    standin: CloudTrailStandIn, policies: Path, capsys: pytest.CaptureFixture
) -> None:
    assert cli.main(["--policies", str(policies), "ec2", "RunInstances"]) == 2
    assert "start the local stack (`make run`), or give --url" in capsys.readouterr().err
    assert cli.main(["--url", standin.url, "--policies", str(policies), "--as", "U0NOBODY",
                     "--role", "ec2-admin", "ec2", "X"]) == 2  # fmt: skip
    assert "U0NOBODY is not in people.toml" in capsys.readouterr().err


def test_make_activity_hands_as_and_args_over_untouched() -> None:
    done = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-n",
            "-o",
            ".venv/.installed",
            "activity",
            "AS=U0BOB",
            "ARGS=ec2 $(shell id)",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("-m tools.activity")
    assert "id" not in done.stdout.replace("tools.activity", "")
