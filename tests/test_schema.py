from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from handrail.lint import find_runbook_files
from handrail.runbook.source import read_document
from handrail.schema import runbook_json_schema

ROOT = Path(__file__).parents[1]
EXAMPLES = find_runbook_files(ROOT / "examples" / "runbooks")


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = runbook_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_validates_against_the_published_schema(
    validator: jsonschema.Draft202012Validator, path: Path
) -> None:
    assert list(validator.iter_errors(read_document(path).data)) == []


@pytest.mark.parametrize(
    "fixture",
    ["unknown-key-decision_tree", "bad-severity", "wrong-type-then", "missing-escalation", "action-config-unknown-key"],
)
def test_schema_rejects_what_the_loader_rejects(validator: jsonschema.Draft202012Validator, fixture: str) -> None:
    data = read_document(ROOT / "tests" / "fixtures" / "invalid" / f"{fixture}.yaml").data
    assert list(validator.iter_errors(data)) != []


def test_schema_types_config_by_diagnostic_type(validator: jsonschema.Draft202012Validator) -> None:
    data = read_document(ROOT / "examples" / "runbooks" / "oom-kills.yaml").data
    data["diagnostics"][0]["config"] = {"querry": "up"}
    messages = [error.message for error in validator.iter_errors(data)]
    assert any("querry" in message for message in messages)


def test_schema_accepts_durations_as_numbers_or_text(validator: jsonschema.Draft202012Validator) -> None:
    data = read_document(ROOT / "examples" / "runbooks" / "oom-kills.yaml").data
    data["diagnostics"][0]["timeout"] = "15s"
    assert list(validator.iter_errors(data)) == []
    data["diagnostics"][0]["timeout"] = "soon"
    assert list(validator.iter_errors(data)) != []
