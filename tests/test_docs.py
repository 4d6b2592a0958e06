"""The documentation cannot rot quietly: every relative link (and #anchor) in README.md and
docs/ resolves, README stays short, and README's example params agree with the deploy
template and with what the code reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tools.deploy import read_parameters, required_parameters

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TEMPLATE = yaml.safe_load((ROOT / "deploy" / "template.yaml").read_text())
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def without_code(text: str) -> str:
    return re.sub(r"^ *```.*?^ *```", "", text, flags=re.S | re.M)


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    found = set()
    for heading in re.findall(r"^#+ +(.+)$", without_code(path.read_text()), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def links(path: Path) -> list[str]:
    return LINK.findall(without_code(path.read_text()))


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path: Path) -> None:
    broken = []
    for target in links(path):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor}")
    assert broken == []


def test_the_link_checker_does_catch_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[gone](missing.md) [here](#title) [nowhere](#nope)\n")
    assert links(page) == ["missing.md", "#title", "#nope"]
    assert "title" in anchors(page) and "nope" not in anchors(page)


def test_readme_stays_short() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


# -- README's params example against the template and the code ----------------------------------
PARAMS_EXAMPLES = [ROOT / "README.md", ROOT / "docs" / "deploy.md"]


def readme_params(path: Path) -> tuple[list[str], dict[str, str]]:
    """(the uncommented Name=Value lines, {name: value} of the commented-out optional ones)."""
    [block] = [
        b
        for b in re.findall(r"```properties\n(.*?)```", path.read_text(), flags=re.S)
        if "SlackSigningSecretArn=" in b
    ]
    lines = [line.strip() for line in block.splitlines()]
    given = [line for line in lines if line and not line.startswith("#")]
    optional = dict(
        line.removeprefix("# ").split("=", 1) for line in lines if re.match(r"# [A-Za-z]+=", line)
    )
    return given, optional


def matches_pattern(name: str, value: str) -> bool:
    spec = TEMPLATE["Parameters"][name]
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
        return False
    if "AllowedValues" in spec and int(value) not in spec["AllowedValues"]:
        return False
    if "MinValue" in spec and int(value) < spec["MinValue"]:
        return False
    return True


@pytest.mark.parametrize("path", PARAMS_EXAMPLES, ids=lambda p: p.name)
def test_readme_params_give_every_required_parameter_with_a_valid_value(
    path: Path, tmp_path: Path
) -> None:
    given, _ = readme_params(path)
    example = tmp_path / "prod.params"
    example.write_text("\n".join(given) + "\n")
    parsed = dict(p.split("=", 1) for p in read_parameters(example))  # as `make deploy` reads it
    assert set(parsed) == set(required_parameters())
    for name, value in parsed.items():
        assert matches_pattern(name, value), (name, value)


@pytest.mark.parametrize("path", PARAMS_EXAMPLES, ids=lambda p: p.name)
def test_readme_params_name_every_optional_parameter_with_its_default_or_a_valid_value(
    path: Path,
) -> None:
    given, optional = readme_params(path)
    parameters = TEMPLATE["Parameters"]
    assert set(optional) | {g.split("=", 1)[0] for g in given} == set(parameters)
    for name, value in optional.items():
        assert "Default" in parameters[name], name  # commented out: it must have a default
        assert matches_pattern(name, value), (name, value)


def test_required_parameters_have_no_silent_default() -> None:
    parameters = TEMPLATE["Parameters"]
    assert "SlackTeamId" in required_parameters()
    # The code refuses an empty team id (config.oidc), so the template may not default to one.
    assert "Default" not in parameters["SlackTeamId"]
    assert not re.fullmatch(parameters["SlackTeamId"]["AllowedPattern"], "")


def test_every_setting_the_template_passes_is_read_by_the_code() -> None:
    code = "\n".join(p.read_text() for p in (ROOT / "chalicelib").rglob("*.py"))
    for function in ("APIHandler", "Sweep"):
        variables = TEMPLATE["Resources"][function]["Properties"]["Environment"]["Variables"]
        for name in variables:
            if not name.startswith("POWERTOOLS_"):  # read by Powertools itself
                assert f'"{name}"' in code, f"{function}: {name} is set but never read"


# -- the policy reference names every setting the code reads -------------------------------------
def test_every_role_and_person_field_is_documented_in_policies_md() -> None:
    from dataclasses import fields

    from chalicelib.core.catalog import Person, RoleSpec

    text = (ROOT / "docs" / "policies.md").read_text()
    # `name` is the role file's stem, and a person's `slack_id` their table key
    roles = [f.name for f in fields(RoleSpec) if f.name != "name"]
    people = [
        f.name
        for f in fields(Person)
        if f.name != "slack_id" and f.metadata.get("policy_field", True)
    ]
    missing = [f for f in roles + people if not re.search(rf"^#? ?{f} = ", text, flags=re.M)]
    assert missing == [], f"docs/policies.md shows no `<field> = …` line for {missing}"
    assert "name = file stem" in text and "[people.U0ALICE]" in text


def test_the_changelog_lists_the_unreleased_features_and_the_new_slack_scope() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    unreleased = text.split("## Unreleased", 1)[1].split("\n## ", 1)[0]
    for feature in ("extend", "breakglass", "user groups", "direct message", "reminder"):
        assert feature in unreleased, feature
    assert "break-glass-unreviewed" in unreleased
    upgrading = unreleased.split("### Upgrading", 1)[1]
    assert "usergroups:read" in upgrading and "Reinstall" in upgrading


def test_operations_md_has_a_runbook_for_every_alarm() -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    names = [
        props["AlarmName"]["Fn::Sub"].removeprefix("${AWS::StackName}-")
        for props in (
            r["Properties"]
            for r in TEMPLATE["Resources"].values()
            if r["Type"] == "AWS::CloudWatch::Alarm"
        )
    ]
    assert "break-glass-unreviewed" in names
    missing = [n for n in names if f"`{n}`" not in text]
    assert missing == [], f"docs/operations.md's alarm table lacks {missing}"
