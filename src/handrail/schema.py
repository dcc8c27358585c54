"""`handrail schema`: the runbook format as JSON Schema (draft 2020-12), for editors and CI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from handrail.actions import ACTION_PARAMS
from handrail.diagnostics import DIAGNOSTIC_PARAMS
from handrail.runbook.model import Runbook

__all__ = ["SCHEMA_ID", "runbook_json_schema"]

SCHEMA_ID = "https://handrail.dev/schema/runbook.json"


def runbook_json_schema() -> dict[str, Any]:
    """The JSON Schema of a runbook file, with each diagnostic and action `config` typed by its `type`."""
    schema = Runbook.model_json_schema(by_alias=True, mode="validation")
    definitions = schema.setdefault("$defs", {})
    definitions["Diagnostic"]["allOf"] = _typed_configs(DIAGNOSTIC_PARAMS, definitions)
    definitions["Action"]["allOf"] = _typed_configs(ACTION_PARAMS, definitions)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }


def _typed_configs(params: Mapping[str, type[BaseModel]], definitions: dict[str, Any]) -> list[dict[str, Any]]:
    clauses = []
    for type_name, model in params.items():
        config = model.model_json_schema(by_alias=True, mode="validation", ref_template="#/$defs/{model}")
        definitions.update(config.pop("$defs", {}))
        name = f"{model.__name__}"
        definitions[name] = config
        clauses.append(
            {
                "if": {"properties": {"type": {"const": type_name}}, "required": ["type"]},
                "then": {"properties": {"config": {"$ref": f"#/$defs/{name}"}}},
            }
        )
    return clauses
