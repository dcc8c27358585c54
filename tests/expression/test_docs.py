"""docs/expressions.md stays true: every example evaluates as shown, every function is documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from handrail.expression import FUNCTIONS, MAX_DEPTH, MAX_LENGTH, MAX_REGEX_LENGTH, parse

DOCS = Path(__file__).resolve().parents[2] / "docs" / "expressions.md"


def _context(text: str) -> dict[str, object]:
    """Read the example context: the first JSON block of the page."""
    block = text.split("```json\n", 1)[1].split("```", 1)[0]
    context = json.loads(block)
    assert isinstance(context, dict)
    return context


def _cells(line: str) -> list[str]:
    """Split a Markdown table row into cells, honouring `\\|` inside code."""
    inner = line.strip().strip("|")
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def _examples(text: str) -> list[tuple[str, str]]:
    """Collect (expression, result) from every table headed `| Expression | Result |`."""
    examples: list[tuple[str, str]] = []
    in_table = False
    for line in text.splitlines():
        if line.startswith("| Expression | Result"):
            in_table = True
        elif not line.startswith("|"):
            in_table = False
        elif in_table and not line.startswith("| ---"):
            expression, result = _cells(line)[:2]
            examples.append((expression.strip("`"), result.strip("`")))
    return examples


TEXT = DOCS.read_text(encoding="utf-8")
CONTEXT = _context(TEXT)
EXAMPLES = _examples(TEXT)


def test_docs_have_many_examples() -> None:
    assert len(EXAMPLES) > 80


@pytest.mark.parametrize(("source", "result"), [pytest.param(s, r, id=s) for s, r in EXAMPLES])
def test_documented_example_gives_documented_result(source: str, result: str) -> None:
    assert json.dumps(parse(source).evaluate(CONTEXT)) == result


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_has_a_section(name: str) -> None:
    assert re.search(rf"^### .*`{name}\(", TEXT, flags=re.MULTILINE), f"{name} is not documented"


def test_limits_are_documented_with_their_values() -> None:
    for limit in (MAX_LENGTH, MAX_DEPTH, MAX_REGEX_LENGTH):
        assert f"**{limit}**" in TEXT
