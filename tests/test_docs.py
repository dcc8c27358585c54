"""Docs tied to code: a code, a type, a setting or a command that is not documented fails here."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from pydantic import BaseModel

from handrail.actions import ACTION_PARAMS
from handrail.cli import cli
from handrail.diagnostics import DIAGNOSTIC_PARAMS
from handrail.diagnostics.prometheus_query import PrometheusQueryParams
from handrail.lint import lint_file, lint_paths
from handrail.runbook.model import (
    Action,
    Decision,
    Diagnostic,
    Escalation,
    Interpret,
    Remediation,
    Runbook,
    Trigger,
    Verify,
)
from handrail.runbook.problem import CODES
from handrail.settings import Settings
from support.fixtures import allow_list, policy

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"


def _read(name: str) -> str:
    return (DOCS / name).read_text()


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_lint_code_is_documented(code: str) -> None:
    assert f"`{code}`" in _read("lint-codes.md")


@pytest.fixture(scope="module")
def produced_codes() -> set[str]:
    fixtures = ROOT / "tests" / "fixtures" / "invalid"
    files = [path for path in fixtures.iterdir() if path.suffix in (".yaml", ".json")]
    # HR004 (unreadable, not UTF-8) cannot be a committed fixture; tests/runbook/test_source.py makes such files.
    # HR5xx look at a catalog as a whole: the folder `shadows` is linted as one.
    catalog = {p.code for result in lint_paths([fixtures / "shadows"]) for p in result.problems}
    codes = {p.code for path in files for p in lint_file(path, allow=allow_list(path), policy=policy(path)).problems}
    return codes | {"HR004"} | catalog


LIVE_CODES = {code for code in CODES if code.startswith("HR6")}
"""`handrail check`'s codes need live systems: tests/check/ produces each one (and checks that it does)."""


@pytest.mark.parametrize("code", sorted(set(CODES) - LIVE_CODES))
def test_every_lint_code_has_a_fixture_that_produces_it(code: str, produced_codes: set[str]) -> None:
    assert code in produced_codes


@pytest.mark.parametrize("name", sorted(DIAGNOSTIC_PARAMS))
def test_every_diagnostic_type_and_provided_name_is_documented(name: str) -> None:
    page = _read("diagnostics.md")
    assert f"## `{name}`" in page
    section = page.split(f"## `{name}`", 1)[1].split("\n## ", 1)[0]
    params = DIAGNOSTIC_PARAMS[name]
    names = dict(params.PROVIDES)
    if params is PrometheusQueryParams:
        names.update(PrometheusQueryParams.RANGE_PROVIDES)
    for provided in names:
        assert f"| `{provided}` |" in section, f"{name}: `{provided}` is not documented"


@pytest.mark.parametrize("name", sorted(ACTION_PARAMS))
def test_every_action_type_has_its_own_page(name: str) -> None:
    page = (DOCS / "actions" / f"{name}.md").read_text()
    assert page.startswith(f"# `{name}`\n")
    for section in ("## Config", "## What it does", "## Rails", "## Example"):
        assert section in page, f"docs/actions/{name}.md has no {section!r}"
    for field_name, field in ACTION_PARAMS[name].model_fields.items():
        assert f"`{field.validation_alias or field_name}`" in page


@pytest.mark.parametrize("name", sorted(ACTION_PARAMS))
def test_every_action_type_is_in_the_index(name: str) -> None:
    assert f"| `{name}` |" in _read("actions.md")


RUNBOOK_MODELS = [Runbook, Trigger, Diagnostic, Interpret, Decision, Remediation, Action, Verify, Escalation]


@pytest.mark.parametrize(
    ("model", "name"), [(m, n) for m in RUNBOOK_MODELS for n in m.model_fields], ids=lambda v: getattr(v, "__name__", v)
)
def test_every_runbook_field_is_documented(model: type[BaseModel], name: str) -> None:
    field = model.model_fields[name]
    written = field.alias or field.validation_alias or name
    assert f"`{written}`" in _read("runbook-format.md"), f"{model.__name__}.{written} is not in docs/runbook-format.md"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented(name: str) -> None:
    field = Settings.model_fields[name]
    assert f"| `{field.validation_alias or name}` |" in _read("settings.md")


@pytest.mark.parametrize("command", sorted(cli.list_commands(click.Context(cli))))
def test_every_cli_command_is_documented(command: str) -> None:
    assert f"## `handrail {command}" in _read("cli.md")
    assert f"`handrail {command}" in (ROOT / "README.md").read_text()


def test_runbook_yaml_in_docs_is_checked(tmp_path: Path) -> None:
    """Every complete runbook shown in docs/ (a YAML block with an `id:` at the top) lints clean."""
    blocks = []
    for page in DOCS.rglob("*.md"):
        blocks += [b for b in re.findall(r"```yaml\n(.*?)```", page.read_text(), re.DOTALL) if b.startswith("id:")]
    for index, block in enumerate(blocks):
        path = tmp_path / f"doc-{index}.yaml"
        path.write_text(block)
        assert lint_file(path).problems == (), block


def test_architecture_names_every_package_and_top_level_module() -> None:
    page = _read("architecture.md")
    source = ROOT / "src" / "handrail"
    for item in sorted(source.iterdir()):
        if item.name.startswith("_") or item.name == "py.typed":
            continue
        name = f"{item.name}/" if item.is_dir() else item.name
        assert f"`{name}" in page, f"docs/architecture.md does not mention {name}"
