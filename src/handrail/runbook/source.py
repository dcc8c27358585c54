"""Read YAML or JSON into plain values, keeping the line and column of every value and key.

Runbook files come from people and from git; some are broken and a few may be hostile. Reading is
bounded (file size, nesting depth, nodes after alias expansion) and every failure is a `Problem`
with a place, never a traceback. Plain scalars follow the YAML 1.2 core schema, so `no`, `on` and
`2024-01-01` stay strings and `1e5` is a number, as in JSON.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from handrail.errors import RunbookError
from handrail.runbook.problem import Position, Problem

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "RUNBOOK_SUFFIXES",
    "SCENARIO_SUFFIXES",
    "Document",
    "DocumentPath",
    "parse_document",
    "read_document",
]

MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000

DocumentPath = tuple[str | int, ...]

_PLAIN = "handrail:plain"
_TAG = "tag:yaml.org,2002:"
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$")
_INT_BASE = re.compile(r"^0o[0-7]+$|^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_ALLOWED_TAGS = {_PLAIN, "str", "int", "float", "bool", "null", "map", "seq", "merge"}
_FLOAT_SPECIAL = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}

RUNBOOK_SUFFIXES = (".yaml", ".yml", ".json")
"""What a runbook file's name ends with (lower case); the one list the catalog, lint and tests share (#14)."""
SCENARIO_SUFFIXES = (".test.yaml", ".test.yml", ".test.json")
"""What a scenario file's name ends with: `<runbook>.test.yaml` beside its runbook, never a runbook itself."""


@dataclass(frozen=True, slots=True)
class Document:
    """Plain data read from one file, with the place of every value and every mapping key."""

    path: str
    data: Any
    values: dict[DocumentPath, Position] = field(default_factory=dict)
    keys: dict[DocumentPath, Position] = field(default_factory=dict)
    styles: dict[DocumentPath, str | None] = field(default_factory=dict)

    def position(self, path: DocumentPath, *, key: bool = False) -> Position:
        """The place of `path`, or of its nearest ancestor that has one."""
        probe = tuple(path)
        while probe:
            found = (self.keys if key else self.values).get(probe) or self.values.get(probe)
            if found is not None:
                return found
            probe = probe[:-1]
            key = False
        return self.values.get((), Position())

    def text_position(self, path: DocumentPath, column: int) -> Position:
        """The place of character `column` (1-based) inside the string value at `path`."""
        start = self.position(path)
        if path not in self.values:
            return start
        style = self.styles.get(path)
        if style in ("|", ">"):
            return Position(start.line + 1, start.column)
        opening = 1 if style in ("'", '"') else 0
        return Position(start.line, start.column + opening + column - 1)


class _Loader(yaml.SafeLoader):
    """Composes nodes only; plain scalars are resolved by `_Builder`, and depth is bounded."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return _PLAIN
        return str(super().resolve(kind, value, implicit))  # type: ignore[no-untyped-call]

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Hostile(f"nesting is deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)  # type: ignore[no-untyped-call]
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Hostile(Exception):
    def __init__(self, reason: str, mark: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.mark = mark


class _Builder:
    """Turns a composed node graph into plain values, recording places and counting nodes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.values: dict[DocumentPath, Position] = {}
        self.keys: dict[DocumentPath, Position] = {}
        self.styles: dict[DocumentPath, str | None] = {}
        self.problems: list[Problem] = []
        self._nodes = 0

    def build(self, node: yaml.Node, at: DocumentPath = (), depth: int = 0) -> Any:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _Hostile(f"more than {MAX_NODES} values once aliases are expanded", node.start_mark)
        if depth > MAX_DEPTH:
            raise _Hostile(f"nesting is deeper than {MAX_DEPTH} levels", node.start_mark)
        self.values.setdefault(at, _position(node.start_mark))
        if node.tag.startswith("!") or node.tag.removeprefix(_TAG) not in _ALLOWED_TAGS:
            self._problem(node, "HR001", f"unsupported tag '{node.tag}': runbooks hold plain data only")
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, at, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*at, i), depth + 1) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        self.styles.setdefault(at, node.style)
        return self._scalar(node)

    def _mapping(self, node: yaml.MappingNode, at: DocumentPath, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in self._entries(node):
            if not isinstance(key_node, yaml.ScalarNode):
                self._problem(key_node, "HR001", "a mapping key must be a plain string")
                continue
            key = str(key_node.value)
            if key in result:
                self._problem(key_node, "HR003", f"duplicate key '{key}': it already appears in this mapping")
                continue
            self.keys[(*at, key)] = _position(key_node.start_mark)
            result[key] = self.build(value_node, (*at, key), depth + 1)
        return result

    def _entries(self, node: yaml.MappingNode) -> Iterator[tuple[yaml.Node, yaml.Node]]:
        """The mapping's own entries, with `<<: *anchor` merges expanded (own keys win)."""
        own = [(k, v) for k, v in node.value if not _is_merge_key(k)]
        own_keys = {k.value for k, _ in own if isinstance(k, yaml.ScalarNode)}
        yield from own
        for _, merged in (kv for kv in node.value if _is_merge_key(kv[0])):
            sources = merged.value if isinstance(merged, yaml.SequenceNode) else [merged]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    self._problem(source, "HR001", "`<<` merges only mappings")
                    continue
                for key_node, value_node in source.value:
                    if isinstance(key_node, yaml.ScalarNode) and key_node.value not in own_keys:
                        own_keys.add(key_node.value)
                        yield key_node, value_node

    def _scalar(self, node: yaml.Node) -> Any:
        text = str(node.value)
        tag = node.tag
        if tag == _PLAIN:
            return _resolve_plain(text)
        if tag == f"{_TAG}str":
            return text
        if tag in (f"{_TAG}int", f"{_TAG}float", f"{_TAG}bool", f"{_TAG}null"):
            value = _resolve_plain(text)
            if isinstance(value, str):
                self._problem(node, "HR001", f"'{text}' is not a valid {tag.removeprefix(_TAG)}")
            return value
        return text

    def _problem(self, node: yaml.Node, code: str, message: str) -> None:
        self.problems.append(Problem(self.path, _position(node.start_mark), code, message))


def _is_merge_key(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and (
        node.tag == f"{_TAG}merge" or (node.tag == _PLAIN and node.value == "<<")
    )


def _resolve_plain(text: str) -> Any:
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.match(text):
        return int(text)
    if _INT_BASE.match(text):
        return int(text, 0)
    if _FLOAT.match(text):
        return float(text)
    if text.lower() in _FLOAT_SPECIAL:
        return _FLOAT_SPECIAL[text.lower()]
    return text


def _position(mark: Any) -> Position:
    return Position(mark.line + 1, mark.column + 1)


def read_document(path: Path | str, *, display: str | None = None) -> Document:
    """Read one YAML or JSON file; raise `RunbookError` with every problem found."""
    path = Path(path)
    shown = display or str(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise RunbookError([Problem(shown, Position(), "HR002", f"the file is larger than {MAX_FILE_BYTES} bytes")])
        raw = path.read_bytes()
    except OSError as exc:
        raise RunbookError([Problem(shown, Position(), "HR004", f"cannot read the file: {exc.strerror}")]) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RunbookError([Problem(shown, Position(line, 1), "HR004", "the file is not UTF-8 text")]) from exc
    return parse_document(text, path=shown, json_only=path.suffix.lower() == ".json")


def parse_document(text: str, *, path: str = "<string>", json_only: bool = False) -> Document:
    """Parse YAML (or strict JSON when `json_only`) text into a `Document`."""
    if len(text) > MAX_FILE_BYTES:
        raise RunbookError([Problem(path, Position(), "HR002", f"the text is longer than {MAX_FILE_BYTES} characters")])
    json_data: Any = None
    if json_only:
        json_data = _parse_json(text, path)
        # Tabs can only be white space in valid JSON, and YAML refuses them as indentation.
        text = text.replace("\t", " ")
    builder = _Builder(path)
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
        data = builder.build(node) if node is not None else None
    except _Hostile as exc:
        raise RunbookError([Problem(path, _position(exc.mark), "HR002", f"rejected: {exc.reason}")]) from None
    except yaml.MarkedYAMLError as exc:
        if json_only:  # valid JSON that YAML cannot place: keep the data, lose the places
            return Document(path, json_data)
        mark = exc.problem_mark or exc.context_mark
        where = _position(mark) if mark is not None else Position()
        reason = " ".join(part for part in (exc.context, exc.problem) if part)
        raise RunbookError([Problem(path, where, "HR001", f"YAML syntax: {reason}")]) from None
    except yaml.YAMLError as exc:
        raise RunbookError([Problem(path, Position(), "HR001", f"YAML: {exc}")]) from None
    except RecursionError:
        raise RunbookError([Problem(path, Position(), "HR002", "rejected: nesting is too deep")]) from None
    if builder.problems:
        raise RunbookError(builder.problems)
    if json_only:
        data = json_data
    if not isinstance(data, dict):
        what = "empty" if data is None else f"a {type(data).__name__}, not a mapping"
        raise RunbookError([Problem(path, Position(), "HR005", f"the document is {what}")])
    return Document(path, data, builder.values, builder.keys, builder.styles)


def _parse_json(text: str, path: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise RunbookError(
            [Problem(path, Position(exc.lineno, exc.colno), "HR001", f"JSON syntax: {exc.msg}")]
        ) from None
    except RecursionError:
        raise RunbookError([Problem(path, Position(), "HR002", "rejected: nesting is too deep")]) from None
    except ValueError as exc:
        raise RunbookError([Problem(path, Position(), "HR001", f"JSON syntax: {exc}")]) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
