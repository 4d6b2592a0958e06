"""`make deploy` (tools/deploy.py) against a stand-in `aws` CLI that records what it is asked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

FAKE_AWS = """#!/bin/sh
printf '%s\\n' "$*" >> "$AWS_LOG"
case "$*" in
  "cloudformation describe-stacks --stack-name switchback-prod") exit "$STACK_MISSING";;
esac
"""


@pytest.fixture
def fake_aws(tmp_path: Path) -> dict:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text(FAKE_AWS)
    (bin_dir / "aws").chmod(0o755)
    return {
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin",
        "AWS_LOG": str(tmp_path / "aws.log"),
        "STACK_MISSING": "0",
        "HOME": os.environ.get("HOME", "/root"),
    }


def deploy(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.deploy", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_deploy_packages_uploads_and_deploys_with_the_parameters(
    fake_aws: dict, tmp_path: Path
) -> None:
    params = tmp_path / "prod.params"
    params.write_text(
        "# the hub's parameters\n"
        "SlackSigningSecretArn=arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf\n"
        "SlackClientSecretArn=arn:aws:secretsmanager:us-east-1:123456789012:secret:c-AbCdEf\n"
        "SlackClientId=123.456\n\n"
        "SlackTeamId=T0123ABCD\n"
        "SlackWebhookSecretArn=arn:aws:secretsmanager:us-east-1:123456789012:secret:w-AbCdEf\n"
    )
    fake_aws["STACK_MISSING"] = "255"  # a first deploy
    done = deploy(fake_aws, "--bucket", "my-artifacts", "--parameters", str(params))
    assert done.returncode == 0, done.stderr
    calls = Path(fake_aws["AWS_LOG"]).read_text().splitlines()
    dist = ROOT / "dist" / "prod"
    assert len(calls) == 3
    assert calls[0] == (
        f"cloudformation package --template-file {dist}/sam.json --s3-bucket my-artifacts "
        f"--s3-prefix switchback-prod --output-template-file {dist}/packaged.yaml"
    )
    assert calls[1].startswith(
        f"cloudformation deploy --template-file {dist}/packaged.yaml --stack-name switchback-prod "
        "--capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-fail-on-empty-changeset "
        "--parameter-overrides SlackSigningSecretArn=arn:aws:secretsmanager:"
    )
    assert (
        "SlackWebhookSecretArn=arn:aws:secretsmanager:us-east-1:123456789012:secret:w-AbCdEf"
        in calls[1]
    )
    assert calls[2].startswith("cloudformation describe-stacks --stack-name switchback-prod")
    assert json.loads((dist / "sam.json").read_text())["Resources"]["BrokerRole"]


def test_a_first_deploy_without_the_slack_parameters_says_which_and_does_nothing(
    fake_aws: dict, tmp_path: Path
) -> None:
    fake_aws["STACK_MISSING"] = "255"
    params = tmp_path / "prod.params"
    params.write_text("SlackClientId=123.456\n")
    done = deploy(fake_aws, "--bucket", "b", "--parameters", str(params))
    assert done.returncode == 2
    assert (
        "the first deploy of switchback-prod needs SlackSigningSecretArn, SlackClientSecretArn, "
        "SlackTeamId, SlackWebhookSecretArn" in done.stderr
    )
    assert "cloudformation deploy" not in Path(fake_aws["AWS_LOG"]).read_text()


def test_an_upgrade_needs_no_parameters(fake_aws: dict, tmp_path: Path) -> None:
    done = deploy(fake_aws, "--bucket", "b", "--parameters", str(tmp_path / "none.params"))
    assert done.returncode == 0, done.stderr
    [deploy_call] = [
        c for c in Path(fake_aws["AWS_LOG"]).read_text().splitlines() if "deploy " in c
    ]
    assert "--parameter-overrides" not in deploy_call  # CloudFormation keeps the old values


@pytest.mark.parametrize(
    "args, says",
    [
        ((), "BUCKET is not set"),
        (("--bucket", "b", "--parameters", "BAD"), "expected Name=Value"),
    ],
)
def test_bad_input_is_explained(fake_aws: dict, tmp_path: Path, args, says) -> None:
    if "BAD" in args:
        (tmp_path / "bad.params").write_text("SlackClientId 123\n")
        args = ("--bucket", "b", "--parameters", str(tmp_path / "bad.params"))
    done = deploy(fake_aws, *args)
    assert done.returncode == 2 and says in done.stderr
    assert not Path(fake_aws["AWS_LOG"]).exists() or "deploy" not in Path(
        fake_aws["AWS_LOG"]
    ).read_text().replace("describe", "")


def test_without_the_aws_cli_it_says_how_else(fake_aws: dict) -> None:
    fake_aws["PATH"] = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    if any((Path(d) / "aws").exists() for d in fake_aws["PATH"].split(":")):
        pytest.skip("a real AWS CLI is installed here")
    done = deploy(fake_aws, "--bucket", "b")
    assert done.returncode == 2
    assert "the AWS CLI (aws) is not on PATH" in done.stderr and "make package" in done.stderr
