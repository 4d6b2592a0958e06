"""`make deploy STAGE=prod BUCKET=<artifact bucket>`: package, then `aws cloudformation deploy`.

For people with AWS credentials and the AWS CLI. It builds dist/<stage>/ (tools/package.py),
uploads the zip with `aws cloudformation package`, deploys the stack (CloudFormation keeps the
previous value of every parameter not given, so upgrades need only the new code), and prints the
stack's outputs: the Slack request URL, the sign-in redirect URL, the broker role ARN.

Parameters come from a file of `Name=Value` lines (default deploy/<stage>.params, git-ignored:
it holds the approvers' webhook URL); see the README's "Deploy" section.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import yaml

from chalicelib.core.catalog import Catalog
from chalicelib.core.session_length import max_session_warning
from chalicelib.policies import PolicyError, load_catalog
from tools.package import DEPLOYED_STAGES, ROOT, TEMPLATE, package


def required_parameters() -> tuple[str, ...]:
    """The template's parameters without a default: a first deploy must give each of them."""
    parameters = yaml.safe_load(TEMPLATE.read_text())["Parameters"]
    return tuple(name for name, spec in parameters.items() if "Default" not in spec)


class DeployError(Exception):
    """Something to fix before deploying; the message says what."""


def read_parameters(path: Path) -> list[str]:
    """``Name=Value`` lines; blank lines and ``#`` comments skipped."""
    if not path.exists():
        return []
    parameters = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, equals, value = line.partition("=")
        if not equals or not name.strip().isidentifier() or not value.strip():
            raise DeployError(f"{path}:{number}: expected Name=Value, got {line!r}")
        parameters.append(f"{name.strip()}={value.strip()}")
    return parameters


def session_length_warnings(
    catalog: Catalog, max_session_of: Callable[[str], int | None] | None = None
) -> list[str]:
    """A warning for each managed role whose MaxSessionDuration is longer than its
    ``max_duration`` (chalicelib/core/session_length.py). ``max_session_of(role_arn)``: the
    role's MaxSessionDuration in seconds, None if it cannot be read with the deployer's
    credentials (a role in another account); by default read with boto3."""
    read = max_session_of or _read_max_session
    warnings = []
    for role in sorted(catalog.roles.values(), key=lambda r: r.name):
        seconds = read(role.role_arn)
        if seconds is None:
            continue
        if warning := max_session_warning(role, timedelta(seconds=seconds)):
            warnings.append(warning)
    return warnings


def _read_max_session(role_arn: str) -> int | None:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        role = boto3.client("iam").get_role(RoleName=role_arn.rsplit("/", 1)[1])["Role"]
    except (BotoCoreError, ClientError):
        return None
    if role.get("Arn") != role_arn:
        return None  # a role of that name in the deployer's account, not the managed one
    return int(role.get("MaxSessionDuration", 3600))


def aws(*args: str, capture: bool = False) -> str:
    done = subprocess.run(["aws", *args], check=True, text=True, capture_output=capture)
    return done.stdout if capture else ""


def stack_exists(stack: str) -> bool:
    try:
        aws("cloudformation", "describe-stacks", "--stack-name", stack, capture=True)
    except subprocess.CalledProcessError:
        return False
    return True


def deploy(stage: str, bucket: str, stack: str, parameters_file: Path, policies: Path) -> None:
    if shutil.which("aws") is None:
        raise DeployError(
            "the AWS CLI (aws) is not on PATH; install it and sign in, or deploy "
            f"dist/{stage}/sam.json from `make package` your own way"
        )
    if not bucket:
        raise DeployError("BUCKET is not set: an S3 bucket of yours for the Lambda zip")
    parameters = read_parameters(parameters_file)
    given = {p.split("=", 1)[0] for p in parameters}
    missing = [name for name in required_parameters() if name not in given]
    if missing and not stack_exists(stack):
        raise DeployError(
            f"the first deploy of {stack} needs {', '.join(missing)} in {parameters_file}"
        )
    target = package(stage, policies, ROOT / "dist")
    for warning in session_length_warnings(load_catalog(policies)):
        print(f"warning: {warning}", file=sys.stderr)
    packaged = target / "packaged.yaml"
    aws(
        *("cloudformation", "package", "--template-file", str(target / "sam.json")),
        *("--s3-bucket", bucket, "--s3-prefix", stack, "--output-template-file", str(packaged)),
    )
    aws(
        *("cloudformation", "deploy", "--template-file", str(packaged), "--stack-name", stack),
        *("--capabilities", "CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"),
        "--no-fail-on-empty-changeset",
        *(["--parameter-overrides", *parameters] if parameters else []),
    )
    aws(
        *("cloudformation", "describe-stacks", "--stack-name", stack),
        *("--query", "Stacks[0].Outputs", "--output", "table"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stage", default="prod", choices=DEPLOYED_STAGES)
    parser.add_argument("--bucket", default="")
    parser.add_argument("--stack", default="")
    parser.add_argument("--parameters", type=Path)
    parser.add_argument("--policies", type=Path, default=ROOT / "policies")
    args = parser.parse_args(argv)
    stack = args.stack or f"switchback-{args.stage}"
    parameters = args.parameters or ROOT / "deploy" / f"{args.stage}.params"
    try:
        deploy(args.stage, args.bucket, stack, parameters, args.policies)
    except (DeployError, PolicyError) as error:
        print(f"cannot deploy: {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        print(
            f"cannot deploy: {' '.join(error.cmd[:3])} failed ({error.returncode})", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
