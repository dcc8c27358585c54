"""Load a runbook file: read it, check it against the schema, and say precisely what is wrong."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from handrail.errors import RunbookError
from handrail.runbook.model import MAX_DURATION_DAYS, MAX_DURATION_SECONDS, Runbook
from handrail.runbook.problem import Problem
from handrail.runbook.source import Document, DocumentPath, read_document

__all__ = ["LoadedRunbook", "did_you_mean", "format_path", "load_runbook_file", "validation_problems"]


@dataclass(frozen=True, slots=True)
class LoadedRunbook:
    """A runbook as read from one file: the document (for places) and the model, if it validated."""

    path: str
    document: Document | None
    runbook: Runbook | None
    problems: tuple[Problem, ...]


def load_runbook_file(path: Path | str, *, display: str | None = None) -> LoadedRunbook:
    """Read and validate one runbook file; problems are collected, never raised."""
    shown = display or str(path)
    try:
        document = read_document(path, display=shown)
    except RunbookError as exc:
        return LoadedRunbook(shown, None, None, tuple(exc.problems))
    try:
        runbook = Runbook.model_validate(document.data)
    except ValidationError as exc:
        return LoadedRunbook(shown, document, None, tuple(validation_problems(exc, document)))
    return LoadedRunbook(shown, document, runbook, ())


_DURATION_LIMITS = (MAX_DURATION_SECONDS, MAX_DURATION_SECONDS / 60, MAX_DURATION_SECONDS / 3600)
_EXPECTED = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def validation_problems(
    error: ValidationError, document: Document, *, prefix: DocumentPath = (), model: type[BaseModel] | None = None
) -> list[Problem]:
    """Translate pydantic's errors into problems with codes, places and "did you mean" hints."""
    problems = []
    items = error.errors(include_url=False)
    renamed = _misspelt_required_fields(items, model or Runbook)
    for item in items:
        loc = _document_loc(item["loc"])
        at = (*prefix, *loc)
        kind = item["type"]
        on_key = tuple(item["loc"][-1:]) == ("[key]",)  # a mapping's key broke the rule: quote and point at the key
        item = {**item, "input": item.get("input") if on_key else _as_written(document, at, item.get("input"))}
        where = format_path(at)
        if kind == "missing" and loc in renamed:
            continue  # reported once, as the unknown key that was meant to be this field
        if kind == "missing":
            field = loc[-1] if loc else "?"
            problems.append(
                _problem(document, at[:-1], "HR101", f"missing required field '{field}' in {format_path(at[:-1])}")
            )
        elif kind == "extra_forbidden":
            key = str(loc[-1]) if loc else "?"
            owner = _model_at(model or Runbook, loc[:-1])
            special = getattr(owner, "KEY_HINTS", {}).get(key)
            hint = f"; {special}" if special else did_you_mean(key, _known_keys(model or Runbook, loc[:-1]))
            message = f"unknown key '{key}' in {format_path(at[:-1])}{hint}"
            problems.append(_problem(document, at, "HR104", message, key=True))
        elif kind in ("literal_error", "enum"):
            expected = item.get("ctx", {}).get("expected", "")
            message = f"{where}: {_show(item['input'])} is not allowed; expected {expected}"
            problems.append(_problem(document, at, "HR103", message, key=on_key))
        elif kind in _EXPECTED:
            message = f"{where}: expected {_EXPECTED[kind]}, got {_show(item['input'])}"
            problems.append(_problem(document, at, "HR102", message, key=on_key))
        else:
            problems.append(_problem(document, at, "HR105", f"{where}: {_rule_message(item)}", key=on_key))
    return problems


def _as_written(document: Document, at: DocumentPath, value: object) -> object:
    """The value at `at` as the file writes it (settings: `${TOKEN}`, not the secret it read); else `value`."""
    if at not in document.values:
        return value
    current = document.data
    for part in at:
        try:
            current = current[part]
        except (KeyError, IndexError, TypeError):
            return value
    return current


def _misspelt_required_fields(items: Sequence[Any], model: type[BaseModel]) -> set[tuple[str | int, ...]]:
    """Missing fields for which an unknown key in the same mapping is the obvious misspelling."""
    missing = {_document_loc(item["loc"]) for item in items if item["type"] == "missing"}
    renamed = set()
    for item in items:
        loc = _document_loc(item["loc"])
        if item["type"] == "extra_forbidden" and loc:
            hint = did_you_mean(str(loc[-1]), _known_keys(model, loc[:-1]))
            meant = (*loc[:-1], hint.split("'")[1]) if hint else None
            if meant in missing:
                renamed.add(meant)
    return renamed


def _document_loc(loc: Sequence[int | str]) -> tuple[str | int, ...]:
    # pydantic adds tags for unions ('str', 'list[str]', 'function-before[...]'); files never have them.
    return tuple(part for part in loc if isinstance(part, int) or not _is_union_tag(part))


def _is_union_tag(part: str) -> bool:
    return "[" in part or part in {"str", "int", "float", "bool", "list", "dict", "none"}


def _rule_message(item: Any) -> str:
    kind = item["type"]
    ctx = item.get("ctx") or {}
    if kind == "string_pattern_mismatch":
        return f"{_show(item['input'])} does not match the pattern {ctx.get('pattern')}"
    if kind == "value_error":
        return str(ctx.get("error", item["msg"]))
    if kind == "finite_number":
        return f"{_show(item['input'])} is not a finite number; a duration is at most {MAX_DURATION_DAYS} days"
    if kind == "less_than_equal" and ctx.get("le") in _DURATION_LIMITS:
        return f"{_show(item['input'])} is longer than {MAX_DURATION_DAYS} days, the longest duration allowed"
    if kind in ("string_too_short", "too_short") and ctx.get("min_length") == 1:
        return "must not be empty"
    return str(item["msg"])


def _model_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model that validates the mapping at `loc` inside `model` (keys as written in files)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        fields = {(f.validation_alias or f.alias or name): f for name, f in current.model_fields.items()}
        field = fields.get(part)
        current = _model_in(field.annotation) if field is not None else None
    return current


def _known_keys(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The keys allowed at `loc` inside `model`."""
    found = _model_at(model, loc)
    if found is None:
        return []
    return [str(f.validation_alias or f.alias or name) for name, f in found.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """`; did you mean 'x'?` for the closest known name (ignoring case, `_` and `-`), or ``."""
    options = list(known)
    squashed = {option.lower().replace("_", ""): option for option in options}
    exact = squashed.get(key.lower().replace("_", "").replace("-", ""))
    matches = [exact] if exact else difflib.get_close_matches(key, options, n=1, cutoff=0.6)
    return f"; did you mean '{matches[0]}'?" if matches else ""


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"the string '{text}'"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def format_path(path: DocumentPath) -> str:
    """`('diagnostics', 0, 'interpret')` -> `diagnostics[0].interpret`; `()` -> `the runbook`."""
    if not path:
        return "the runbook"
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _problem(document: Document, at: DocumentPath, code: str, message: str, *, key: bool = False) -> Problem:
    return Problem(document.path, document.position(at, key=key), code, message)
