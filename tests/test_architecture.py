"""The import direction of docs/architecture.md, kept: its layer tables read here, every import in src checked.

The doc holds the one copy of the rules (the layers, who alone may import `store/`, the exceptions);
this test reads them, checks the diagram says the same, and walks every module with `ast`.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SOURCE = ROOT / "src" / "handrail"
PAGE = ROOT / "docs" / "architecture.md"


@dataclass(frozen=True, slots=True)
class Rules:
    layers: list[tuple[str, list[str]]]
    only_imported_by: dict[str, list[str]]
    exceptions: set[tuple[str, str]]

    def layer_of(self, module: str) -> int:
        """The index of the layer holding `module` (dotted), by its unit: `cli/` or `catalog.py`."""
        unit = unit_of(module)
        for index, (_, units) in enumerate(self.layers):
            if unit in units:
                return index
        raise LookupError(unit)


def unit_of(module: str) -> str:
    """`handrail.engine.service` → `engine/`, `handrail.catalog` → `catalog.py`."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__.py"
    return f"{parts[1]}/" if (SOURCE / parts[1]).is_dir() else f"{parts[1]}.py"


def _table(page: str, marker: str) -> list[list[str]]:
    block = page.split(f"<!-- {marker}:", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in block.splitlines()[1:] if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def _names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def read_rules(page: str) -> Rules:
    layers = [(row[0], _names(row[1])) for row in _table(page, "layers")]
    only = {_names(row[0])[0]: _names(row[1]) for row in _table(page, "only-imported-by")}
    exceptions = {(_names(row[0])[0], _names(row[1])[0]) for row in _table(page, "import-exceptions")}
    return Rules(layers, only, exceptions)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(module: str, source: str, *, package: bool) -> list[tuple[int, int, str]]:
    """Every `handrail` module `source` imports (line, column, dotted name), relative imports resolved."""
    found: list[tuple[int, int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, node.col_offset + 1, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if package else base[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, node.col_offset + 1, target))
    return [(line, column, name) for line, column, name in found if name.split(".")[0] == "handrail"]


def violations(rules: Rules, path: Path, module: str, source: str) -> list[str]:
    """What is wrong with `source`'s imports, each as `path:line:col: importer imports target: why`."""
    problems = []
    importer = unit_of(module)
    for line, column, target in imports_of(module, source, package=path.name == "__init__.py"):
        imported = unit_of(target)
        if imported == importer or (importer, imported) in rules.exceptions:
            continue
        place = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{line}:{column}"
        allowed = rules.only_imported_by.get(imported)
        if allowed is not None and importer not in allowed:
            problems.append(f"{place}: {module} imports {target}: only {', '.join(allowed)} may import {imported}")
        elif rules.layer_of(target) < rules.layer_of(module):
            low, high = rules.layers[rules.layer_of(module)][0], rules.layers[rules.layer_of(target)][0]
            problems.append(f"{place}: {module} imports {target}: the {low} layer may not import the {high} layer")
    return problems


@pytest.fixture(scope="module")
def rules() -> Rules:
    return read_rules(PAGE.read_text())


def test_architecture_diagram_draws_the_layer_table(rules: Rules) -> None:
    diagram = "\n  ▼\n".join(" · ".join(units) for _, units in rules.layers)
    assert f"```\n{diagram}\n```" in PAGE.read_text(), "docs/architecture.md: the diagram and the layer table differ"


def test_architecture_places_every_module_in_one_layer(rules: Rules) -> None:
    units = [unit for _, layer in rules.layers for unit in layer]
    assert len(units) == len(set(units)), "a unit stands in two layers"
    for path in SOURCE.rglob("*.py"):
        unit = unit_of(module_name(path))
        assert unit in units, f"docs/architecture.md: {unit} ({path.relative_to(ROOT)}) is in no layer"


def test_no_module_imports_against_the_documented_direction(rules: Rules) -> None:
    problems = []
    for path in sorted(SOURCE.rglob("*.py")):
        problems += violations(rules, path, module_name(path), path.read_text())
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        pytest.param(
            "handrail.diagnostics.http_check",
            "import ast\n\nfrom handrail.store import SqlIncidentStore\n",
            ":3:1: handrail.diagnostics.http_check imports handrail.store: only store/, engine/, composition.py",
            id="a-probe-imports-the-store",
        ),
        pytest.param(
            "handrail.api.incidents",
            "def f():\n    from handrail.store.records import IncidentRecord\n",
            ":2:5: handrail.api.incidents imports handrail.store.records: only store/",
            id="the-api-reaches-past-the-service",
        ),
        pytest.param(
            "handrail.runbook.model",
            "from ..settings import Settings\n",
            ":1:1: handrail.runbook.model imports handrail.settings: the format layer may not import the faces layer",
            id="the-format-imports-settings-relatively",
        ),
        pytest.param(
            "handrail.engine.assessment",
            "import handrail.cli.common\n",
            ":1:1: handrail.engine.assessment imports handrail.cli.common: the engine layer may not import the entry",
            id="the-engine-imports-the-cli",
        ),
    ],
)
def test_an_import_against_the_direction_is_named_with_its_place_and_target(
    rules: Rules, module: str, source: str, expected: str
) -> None:
    path = SOURCE.joinpath(*module.split(".")[1:]).with_suffix(".py")
    (problem,) = violations(rules, path, module, source)
    assert expected in problem


def test_the_composition_root_may_import_the_store(rules: Rules) -> None:
    path = SOURCE / "composition.py"
    assert violations(rules, path, "handrail.composition", "from handrail.store import create_engine\n") == []
