"""Fuzzing the runbook loader: whatever a file holds, `lint_file` answers with Problems, never an exception.

Three kinds of input: arbitrary text (and bytes that are not UTF-8); YAML-ish documents built from
runbook field names and random values; and a valid runbook mutated in random places (a value
replaced, a key removed, renamed or added), written as YAML or JSON. Every problem must carry a
documented code and print as `path:line:col: HRnnn message` with a real place in the file.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from handrail.lint import LintResult, lint_file
from handrail.runbook.problem import CODES
from support.engine import runbook
from support.fuzzing import fuzz_settings, hostile_text

BASE: dict[str, Any] = yaml.safe_load(runbook("fuzzed", Path("/nonexistent")))
FIELD_NAMES = sorted(
    {"id", "name", "description", "severity", "service", "triggers", "type", "alertName", "labels", "diagnostics"}
    | {"config", "timeout", "interpret", "derive", "critical", "warning", "healthy", "decisionTree", "condition"}
    | {"then", "otherwise", "remediations", "action", "requiresApproval", "verify", "after", "escalation"}
    | {"primary", "secondary", "escalateAfterMinutes", "command", "query", "instructions", "continueOnFailure"}
)
PLACE = re.compile(r"^(?P<path>.+):(?P<line>\d+):(?P<column>\d+): (?P<code>HR\d{3}) .+", re.DOTALL)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    hostile_text(),
    st.sampled_from(["P1", "P5", "manual", "alert", "automated", "escalate", "shell_command", "1s", "-5m", "{{"]),
    st.sampled_from(["diagnostics.state.status == 'critical'", "(((", "labels.", "true", "fix", "page"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-runbooks")


def assert_only_problems(path: Path, text: str | bytes) -> LintResult:
    """Write `text` to `path` and lint it: problems with documented codes and real places, no exception."""
    if isinstance(text, bytes):
        path.write_bytes(text)
        lines = text.count(b"\n") + 1
    else:
        path.write_text(text, encoding="utf-8")
        lines = text.count("\n") + text.count("\r") + 1
    result = lint_file(path)
    for problem in result.problems:
        shown = PLACE.match(str(problem))
        assert shown is not None, str(problem)
        assert shown["path"] == str(path)
        assert problem.code in CODES
        assert 1 <= problem.position.line <= lines + 1, str(problem)
        assert problem.position.column >= 1
    assert (result.runbook is None) == bool(result.errors)
    return result


def _locations(document: Any, draw: Any) -> tuple[Any, Any]:
    """A random place in `document`: (its container, its key or index), walking down from the top."""
    container: Any = document
    while True:
        keys = list(container) if isinstance(container, dict) else list(range(len(container)))
        if not keys:
            return container, None
        key = draw(st.sampled_from(keys))
        child = container[key]
        if isinstance(child, dict | list) and child and draw(st.booleans()):
            container = child
            continue
        return container, key


@st.composite
def mutated_runbooks(draw: Any) -> Any:
    """The valid base runbook with one to four random changes."""
    document = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        container, key = _locations(document, draw)
        if key is None:
            continue
        change = draw(st.sampled_from(["replace", "delete", "rename", "add"]))
        if change == "replace":
            container[key] = draw(values)
        elif change == "delete":
            del container[key]
        elif isinstance(container, dict) and change == "rename":
            container[draw(st.sampled_from(FIELD_NAMES) | st.text(max_size=8))] = container.pop(key)
        elif isinstance(container, dict):
            container[draw(st.sampled_from(FIELD_NAMES) | st.text(max_size=8))] = draw(values)
        else:
            container.append(draw(values))
    return document


def test_the_unmutated_base_is_a_valid_runbook(folder: Path) -> None:
    result = assert_only_problems(folder / "base.yaml", yaml.safe_dump(BASE))
    assert result.errors == ()  # so the mutations below start from something the loader accepts


@fuzz_settings(150)
@given(st.text(max_size=400) | st.text(alphabet="{}[]:,-#&*!|>'\"\n\t ?%@`abc0", max_size=200))
def test_arbitrary_text_gives_only_problems(folder: Path, text: str) -> None:
    assert_only_problems(folder / "text.yaml", text)
    assert_only_problems(folder / "text.json", text)


@fuzz_settings(50)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_give_only_problems(folder: Path, data: bytes) -> None:
    assert_only_problems(folder / "bytes.yaml", data)


@fuzz_settings(100)
@given(st.dictionaries(st.sampled_from(FIELD_NAMES), values, max_size=8))
def test_yaml_ish_documents_give_only_problems(folder: Path, document: dict[str, Any]) -> None:
    result = assert_only_problems(folder / "document.yaml", yaml.safe_dump(document, allow_unicode=True))
    assert result.errors  # none of these has everything a runbook needs


@fuzz_settings(200)
@given(mutated_runbooks(), st.sampled_from(["yaml", "json"]))
def test_mutated_runbooks_give_only_problems(folder: Path, document: Any, form: str) -> None:
    if form == "yaml":
        text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    else:
        text = json.dumps(document, indent=2)  # NaN and Infinity included: not JSON, so HR001
    assert_only_problems(folder / f"mutated.{form}", text)
