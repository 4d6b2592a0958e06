"""`make package STAGE=prod`: the CloudFormation (SAM) template and the Lambda zip.

1. Validates policies/ (the same checks as at start) and copies it into chalicelib/policies,
   because Chalice bundles only app.py, chalicelib/ and vendor/.
2. Fills BrokerRole's policy in deploy/template.yaml from policies/ (tools/broker_policy.py).
3. Runs `chalice package --merge-template` into dist/<stage>/: sam.json and deployment.zip.
   The X-Ray SDK (deploy/vendor-requirements.txt) goes into vendor/ without its dependencies.
4. Reports the zip's size and what takes the room, and what each other account's manager-role
   stack needs (dist/<stage>/spoke-accounts.json).

    python -m tools.package --stage prod [--policies policies] [--out dist]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

import yaml

from chalicelib import release
from chalicelib.core.catalog import Catalog
from chalicelib.core.iam_changes import event_pattern, role_name
from chalicelib.policies import PolicyError, load_catalog
from tools.broker_policy import broker_policy

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "template.yaml"
BUNDLED_POLICIES = ROOT / "chalicelib" / "policies"  # SWITCHBACK_POLICIES on deployed stages
VENDOR = ROOT / "vendor"  # Chalice copies it into the zip as it is
VENDOR_REQUIREMENTS = ROOT / "deploy" / "vendor-requirements.txt"
LAMBDA_PLATFORM = ("--platform", "manylinux2014_x86_64", "--implementation", "cp")
DEPLOYED_STAGES = ("dev", "prod")
# The account of AWS's documentation examples, and of this repository's sample policies.
SAMPLE_ACCOUNT = "123456789012"


def sample_policy_warnings(catalog: Catalog) -> list[str]:
    """Warnings for policies still naming the sample account: deployed, they grant nothing
    (IAM refuses a trust statement for a principal that does not exist, or the role is not
    yours), so someone is about to deploy the repository's examples by mistake."""
    people = sorted(p.name for p in catalog.people.values() if f":{SAMPLE_ACCOUNT}:" in p.aws)
    roles = sorted(r.name for r in catalog.roles.values() if r.account_id == SAMPLE_ACCOUNT)
    if not people and not roles:
        return []
    named = ", ".join([*(f"person {n}" for n in people), *(f"role {n}" for n in roles)][:6])
    return [
        f"warning: the policies name AWS's example account {SAMPLE_ACCOUNT} ({named}"
        f"{', …' if len(people) + len(roles) > 6 else ''}): these look like the sample "
        "policies. Point POLICIES=<your folder> at your own people and roles "
        "(docs/deploy.md#the-sample-policies)."
    ]


def merge_template(catalog: Catalog) -> dict:
    """deploy/template.yaml with BrokerRole's generated policy in it."""
    template = yaml.safe_load(TEMPLATE.read_text())
    template["Resources"]["BrokerRole"]["Properties"]["Policies"] = [
        {"PolicyName": "switchback-broker", "PolicyDocument": broker_policy(catalog)}
    ]
    # IAM change events: only the managed roles' (while their names fit the pattern's limit),
    # and not the broker's own writes, here or through another account's manager role.
    template["Resources"]["RoleChangeRule"]["Properties"]["EventPattern"] = event_pattern(
        [{"Fn::GetAtt": ["BrokerRole", "Arn"]}, *sorted(set(catalog.managers().values()))],
        [role_name(r.role_arn) for r in catalog.roles.values()],
    )
    return template


def spoke_accounts(catalog: Catalog) -> dict[str, dict]:
    """Per other account: its manager role and the roles it may change (spoke stack input)."""
    accounts: dict[str, dict] = {}
    for role in sorted(catalog.roles.values(), key=lambda r: r.role_arn):
        if role.manager_role_arn:
            entry = accounts.setdefault(
                role.account_id,
                {"manager_role_arn": role.manager_role_arn, "managed_role_arns": []},
            )
            entry["managed_role_arns"].append(role.role_arn)
    return accounts


def bundle_policies(source: Path) -> None:
    if BUNDLED_POLICIES.exists():
        shutil.rmtree(BUNDLED_POLICIES)
    shutil.copytree(source, BUNDLED_POLICIES, ignore=shutil.ignore_patterns(".*", "__pycache__"))


def vendor_without_dependencies() -> None:
    """Wheels for Lambda's platform and this Python, unpacked into vendor/."""
    if VENDOR.exists():
        shutil.rmtree(VENDOR)
    VENDOR.mkdir()
    python = f"{sys.version_info.major}.{sys.version_info.minor}"  # Chalice's runtime too
    with tempfile.TemporaryDirectory() as wheels:
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
                *("--only-binary=:all:", *LAMBDA_PLATFORM, "--python-version", python),
                *("-r", str(VENDOR_REQUIREMENTS), "-d", wheels),
            ],
            check=True,
            stderr=subprocess.DEVNULL,
        )
        for wheel in sorted(Path(wheels).glob("*.whl")):
            with zipfile.ZipFile(wheel) as unpacked:
                unpacked.extractall(VENDOR)


def zip_report(path: Path) -> str:
    with zipfile.ZipFile(path) as bundle:
        infos = bundle.infolist()
    by_top: Counter[str] = Counter()
    for info in infos:
        by_top[info.filename.split("/", 1)[0]] += info.compress_size
    biggest = ", ".join(f"{name} {size / 1024:.0f} KiB" for name, size in by_top.most_common(6))
    unpacked = sum(i.file_size for i in infos)
    return (
        f"deployment.zip: {path.stat().st_size / 1024 / 1024:.2f} MiB zipped, "
        f"{unpacked / 1024 / 1024:.2f} MiB unpacked, {len(infos)} files "
        f"(Lambda's limits: 50 MiB zipped, 250 MiB unpacked)\n"
        f"  largest: {biggest}\n"
        f"  boto3/botocore bundled: {'yes' if {'boto3', 'botocore'} & set(by_top) else 'no'} "
        f"(the Lambda Python runtime provides them)"
    )


def chalice_command() -> list[str]:
    beside = Path(sys.executable).parent / "chalice"
    if beside.exists():
        return [str(beside)]
    return [sys.executable, "-c", "from chalice.cli import main; main()"]


def package(stage: str, policies: Path, out: Path) -> Path:
    """Build dist/<stage>/ and return it; raises PolicyError or CalledProcessError."""
    catalog = load_catalog(policies)
    for warning in sample_policy_warnings(catalog):
        print(warning, file=sys.stderr)
    target = out / stage
    if target.exists():
        shutil.rmtree(target)
    out.mkdir(parents=True, exist_ok=True)
    merge_file = out / f"merge-template-{stage}.json"
    merge_file.write_text(json.dumps(merge_template(catalog), indent=1))
    bundle_policies(policies)
    vendor_without_dependencies()
    for stale in (ROOT / "chalicelib").rglob("__pycache__"):
        shutil.rmtree(stale, ignore_errors=True)  # Chalice would zip this machine's bytecode
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    # The zip has neither pyproject.toml nor .git: GET /healthz reads this instead.
    built = release.from_checkout(ROOT)
    release.BAKED.write_text(json.dumps(built))
    try:
        subprocess.run(
            [
                *chalice_command(),
                "package",
                "--stage",
                stage,
                "--merge-template",
                str(merge_file),
                str(target),
            ],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    finally:
        release.BAKED.unlink(missing_ok=True)  # a checkout reads git, never a stale file
    (target / "spoke-accounts.json").write_text(json.dumps(spoke_accounts(catalog), indent=1))
    report = f"switchback {built['version']} ({built['commit']})\n" + zip_report(
        target / "deployment.zip"
    )
    (target / "package-report.txt").write_text(report + "\n")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stage", default="prod", choices=DEPLOYED_STAGES)
    parser.add_argument("--policies", type=Path, default=ROOT / "policies")
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    args = parser.parse_args(argv)
    try:
        target = package(args.stage, args.policies, args.out)
    except PolicyError as error:
        print(f"cannot package: {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        print(f"cannot package: chalice package failed ({error.returncode})", file=sys.stderr)
        return 1
    print(f"{target}/sam.json: the template (SAM); {target}/deployment.zip: the code")
    print((target / "package-report.txt").read_text(), end="")
    spokes = json.loads((target / "spoke-accounts.json").read_text())
    for account, spoke in spokes.items():
        print(
            f"account {account}: deploy deploy/spoke-role.yaml there with "
            f"ManagerRoleName={spoke['manager_role_arn'].rsplit('/', 1)[1]} "
            f"ManagedRoleArns={','.join(spoke['managed_role_arns'])} "
            "BrokerRoleArn=<the hub stack's BrokerRoleArn output>"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
