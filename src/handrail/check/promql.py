"""The vector selectors of a PromQL query: each metric name and label matcher, and where it stands.

Enough of PromQL's lexical grammar (https://prometheus.io/docs/prometheus/latest/querying/basics/)
to find selectors without a full parser: strings (`"…"`, `'…'`, raw `` `…` ``) and comments are
skipped, `[5m]` ranges and subqueries too, an identifier followed by `(` is a function or an
aggregation, and the lists after `by`, `without`, `on`, `ignoring`, `group_left` and `group_right` are
label names, not metrics. Whatever else is an identifier is a metric name, and `{…}` after it (or on
its own) holds its matchers. The server still parses the query for real (`/api/v1/query`): a query
this reads wrongly fails there, with Prometheus' own message.

`{{ … }}` placeholders are blanked out first (same length, so offsets hold): a name that a template
writes is not checked, and a matcher value from a template counts as some non-empty value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Matcher", "Selector", "selectors"]

_TEMPLATE = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_BLANK = "\x00"
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_NUMBER = re.compile(r"[0-9.][0-9A-Za-z_.+-]*")
_SPACE = re.compile(r"(?:\s+|#[^\n]*)*")
_OPERATOR = re.compile(r"=~|!~|!=|=")
_GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_AGGREGATIONS = frozenset(
    {
        "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
        "bottomk", "topk", "quantile", "limitk", "limit_ratio",
    }
)  # fmt: skip
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "start", "end"}) | _GROUPING


@dataclass(frozen=True, slots=True)
class Matcher:
    """`label op "value"` inside braces; `offset` is where the label name starts (0-based)."""

    label: str
    op: str
    value: str
    offset: int
    templated: bool = False
    """The value holds a `{{ … }}` (some value an alert gives)."""


@dataclass(frozen=True, slots=True)
class Selector:
    """A vector selector: its metric name (None for `{…}` alone, or a templated one) and its matchers."""

    name: str | None
    offset: int
    matchers: tuple[Matcher, ...] = ()


def selectors(query: str) -> list[Selector]:
    """Every vector selector of `query`, in order."""
    return _Scanner(_TEMPLATE.sub(lambda m: _BLANK * len(m.group(0)), query)).run()


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.index = 0
        self.found: list[Selector] = []

    def run(self) -> list[Selector]:
        text = self.text
        while self.index < len(text):
            self.index = _SPACE.match(text, self.index).end()  # type: ignore[union-attr]
            if self.index >= len(text):
                break
            char = text[self.index]
            ident = _IDENT.match(text, self.index)
            if char in "\"'`":
                self.index = _string_end(text, self.index)
            elif char == "[":
                self.index = _closing(text, self.index, "[", "]")
            elif char == "{":
                self.found.append(self._braces(None, self.index))
            elif ident is not None:
                self._identifier(ident)
            elif char.isdigit() or (char == "." and text[self.index + 1 : self.index + 2].isdigit()):
                self.index = _NUMBER.match(text, self.index).end()  # type: ignore[union-attr]
            else:
                self.index += 1
        return self.found

    def _identifier(self, ident: re.Match[str]) -> None:
        name, start = ident.group(0), ident.start()
        self.index = ident.end()
        after = _SPACE.match(self.text, self.index).end()  # type: ignore[union-attr]
        following = self.text[after : after + 1]
        templated = self.text[start - 1 : start] == _BLANK or following == _BLANK
        next_word = _IDENT.match(self.text, after)
        if name in _GROUPING:
            if following == "(":
                self.index = _closing(self.text, after, "(", ")")
            return
        if following == "(" or name in _KEYWORDS:
            return
        if name in _AGGREGATIONS and next_word is not None and next_word.group(0) in ("by", "without"):
            return
        if following == "{":
            self.index = after
            selector = self._braces(None if templated else name, start)
        else:
            selector = Selector(None if templated else name, start)
        self.found.append(selector)

    def _braces(self, name: str | None, start: int) -> Selector:
        """The matchers between `{` (at `self.index`) and `}`; moves past the `}`."""
        text, matchers = self.text, []
        end = _closing(text, self.index, "{", "}")
        index = self.index + 1
        while index < end - 1:
            index = _SPACE.match(text, index).end()  # type: ignore[union-attr]
            label = _IDENT.match(text, index)
            quoted = text[index : index + 1] in ('"', "'")
            if label is None and not quoted:
                index += 1
                continue
            label_end = _string_end(text, index) if quoted else label.end()  # type: ignore[union-attr]
            label_name = text[index + 1 : label_end - 1] if quoted else text[index:label_end]
            at = _SPACE.match(text, label_end).end()  # type: ignore[union-attr]
            op = _OPERATOR.match(text, at)
            if op is None:
                index = label_end
                continue
            value_at = _SPACE.match(text, op.end()).end()  # type: ignore[union-attr]
            value_end = _string_end(text, value_at) if text[value_at : value_at + 1] in "\"'`" else value_at
            raw = text[value_at + 1 : value_end - 1]
            matchers.append(Matcher(label_name, op.group(0), _unescape(raw), index, _BLANK in raw))
            index = value_end
        self.index = end
        if name is None:
            named = next((m for m in matchers if m.label == "__name__" and m.op == "=" and not m.templated), None)
            name = named.value if named is not None else None
        return Selector(name, start, tuple(m for m in matchers if m.label != "__name__"))


def _string_end(text: str, start: int) -> int:
    """The index after the string literal that starts at `start` (or the end of the text)."""
    quote = text[start]
    index = start + 1
    while index < len(text):
        if text[index] == "\\" and quote != "`":
            index += 2
            continue
        if text[index] == quote:
            return index + 1
        index += 1
    return len(text)


def _closing(text: str, start: int, opening: str, closing: str) -> int:
    """The index after the `closing` that matches the `opening` at `start`, skipping strings."""
    depth, index = 0, start
    while index < len(text):
        char = text[index]
        if char in "\"'`":
            index = _string_end(text, index)
            continue
        if char == opening:
            depth += 1
        elif char == closing:
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return len(text)


def _unescape(raw: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), raw)
