"""Every file in tests/fixtures/invalid produces exactly the problems its header pins."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from handrail.lint import lint_file, lint_paths
from support.fixtures import allow_list, policy

INVALID = Path(__file__).parents[1] / "fixtures" / "invalid"
# YAML files pin their problems in header comments; JSON has no comments, so a sidecar table does.
EXPECT = re.compile(r"^# expect: (\d+):(\d+) (HR\d{3})$", re.MULTILINE)
JSON_EXPECTATIONS = json.loads((INVALID / "expectations.json").read_text())


def _expected(path: Path) -> list[tuple[int, int, str]]:
    if path.suffix == ".json":
        return [tuple(item) for item in JSON_EXPECTATIONS[path.name]]  # type: ignore[misc]
    return [(int(line), int(col), code) for line, col, code in EXPECT.findall(path.read_text(errors="replace"))]


FILES = sorted(p for p in INVALID.iterdir() if p.suffix in (".yaml", ".json") and p.name != "expectations.json")


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_invalid_runbook_reports_pinned_problems(path: Path) -> None:
    expected = _expected(path)
    assert expected, f"{path.name} pins no expectation"
    result = lint_file(path, allow=allow_list(path), policy=policy(path))
    found = [(p.position.line, p.position.column, p.code) for p in result.problems]
    assert sorted(found) == sorted(expected), "\n".join(str(p) for p in result.problems)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_invalid_runbook_messages_name_the_file(path: Path) -> None:
    for problem in lint_file(path).problems:
        assert str(problem).startswith(f"{path}:{problem.position.line}:{problem.position.column}: {problem.code} ")


SHADOWS = INVALID / "shadows"
"""A catalog linted as a whole: HR501–HR503 need the other runbooks (each file pins its own, or none)."""


def test_a_catalog_of_shadows_reports_pinned_problems() -> None:
    found = {
        Path(r.path).name: [(p.position.line, p.position.column, p.code) for p in r.problems]
        for r in lint_paths([SHADOWS])
    }
    assert found == {path.name: _expected(path) for path in sorted(SHADOWS.glob("*.yaml"))}
    assert {"HR501", "HR502", "HR503"} <= {code for problems in found.values() for _, _, code in problems}
