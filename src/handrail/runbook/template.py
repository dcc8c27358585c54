"""`{{ labels.namespace }}` in config strings, escaped for where the value lands.

Alert labels come from whoever can send an alert, so a value is never pasted into a query or a
script as it is. Each renderer knows the syntax it writes into:

- PromQL: inside a string literal the value is string-escaped (and regex-escaped after `=~`/`!~`);
  outside a string only names, numbers and durations are allowed.
- Shell (`/bin/sh -c`): the value never becomes script text; it is passed in an environment
  variable and the placeholder becomes `"${HANDRAIL_V1}"`. Inside single quotes: refused.
- argv lists: the value is one argument, as it is (no shell ever parses it).
- SQL: the value becomes a bind parameter; inside a quoted literal: refused.
- URLs: the value is percent-encoded, `/` included, and `.`/`..` too, so it stays one path
  segment or query value; and a placeholder in the scheme, userinfo, host or port is refused
  (`url_placeholder_problem`, which `handrail lint` reports as HR320), so a label can never
  choose where a request goes.
- Addresses (`host:port`, a TLS server name): every part says where a connection goes, so no
  placeholder is allowed at all (`address_placeholder_problem`, also HR320); `render_address` refuses one.

A config field that says where a request goes is marked with a `DestinationField`: `TemplateUrl`
(`UrlTemplateField`) or `TemplateAddress` (`AddressTemplateField`). Lint finds every marked field
through the config model and asks the mark which placeholders it refuses; the renderer asks the same.

The text between the braces is an expression (docs/expressions.md), usually a label path.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

import re2
from pydantic import Field

from handrail.errors import ExpressionError, TemplateError
from handrail.expression import Expression, parse

__all__ = [
    "AddressTemplateField",
    "DestinationField",
    "ShellScript",
    "SqlStatement",
    "Template",
    "TemplateAddress",
    "TemplateUrl",
    "UrlTemplateField",
    "address_placeholder_problem",
    "has_placeholders",
    "parse_template",
    "render_address",
    "render_argv",
    "render_promql",
    "render_shell",
    "render_sql",
    "render_text",
    "render_url",
    "sql_skeleton",
    "url_placeholder_problem",
]

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_PROMQL_BARE = re.compile(r"^[A-Za-z0-9_:.]+$")
ENV_PREFIX = "HANDRAIL_V"


@dataclass(frozen=True, slots=True)
class Placeholder:
    """One `{{ ... }}`: its expression and where it starts in the template (1-based)."""

    expression: Expression
    column: int


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: literal text and placeholders, in order."""

    source: str
    parts: tuple[str | Placeholder, ...]

    @property
    def placeholders(self) -> tuple[Placeholder, ...]:
        return tuple(part for part in self.parts if isinstance(part, Placeholder))


@dataclass(frozen=True, slots=True)
class ShellScript:
    """A script for `/bin/sh -c` and the environment that carries the inserted values."""

    script: str
    env: dict[str, str]


@dataclass(frozen=True, slots=True)
class SqlStatement:
    """SQL with `:hr_pN` bind parameters and their values."""

    sql: str
    params: dict[str, object]


def has_placeholders(text: str) -> bool:
    """True when `text` contains `{{`."""
    return "{{" in text


def parse_template(source: str) -> Template:
    """Split `source` into text and placeholders; raise `TemplateError` on a bad one."""
    parts: list[str | Placeholder] = []
    position = 0
    for match in _PLACEHOLDER.finditer(source):
        parts.append(source[position : match.start()])
        try:
            expression = parse(match.group(1).strip())
        except ExpressionError as exc:
            raise TemplateError(f"column {match.start() + 1}: in {match.group(0)}: {exc.message}") from None
        parts.append(Placeholder(expression, match.start() + 1))
        position = match.end()
    rest = source[position:]
    if "{{" in rest:
        raise TemplateError(f"column {position + rest.index('{{') + 1}: '{{{{' is never closed with '}}}}'")
    parts.append(rest)
    return Template(source, tuple(part for part in parts if part != ""))


def _value(placeholder: Placeholder, context: Mapping[str, object]) -> str:
    try:
        value = placeholder.expression.evaluate(context)
    except ExpressionError as exc:
        raise TemplateError(f"{{{{ {placeholder.expression.source} }}}}: {exc.message}") from None
    if value is None:
        raise TemplateError(f"{{{{ {placeholder.expression.source} }}}} has no value (is the label missing?)")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return str(int(value))
    if isinstance(value, str | int | float):
        return str(value)
    raise TemplateError(f"{{{{ {placeholder.expression.source} }}}} is a {type(value).__name__}, not a single value")


def _render(source: str, context: Mapping[str, object], insert: Callable[[str, str, Placeholder], str]) -> str:
    """Render with `insert(text_so_far, value, placeholder)` deciding how each value is written."""
    out = ""
    for part in parse_template(source).parts:
        out += insert(out, _value(part, context), part) if isinstance(part, Placeholder) else part
    return out


def render_text(source: str, context: Mapping[str, object]) -> str:
    """Plain text (a message, a Kubernetes name): values as they are."""
    return _render(source, context, lambda _, value, __: value)


# -- where a request goes -----------------------------------------------------------------


class DestinationField(ABC):
    """Marks a config field that says where a request goes: lint (HR320) and its renderer refuse the same."""

    @abstractmethod
    def placeholder_problem(self, template: Template) -> tuple[int, str] | None:
        """(column, why) for the first placeholder that would choose where the request goes, or None."""


class UrlTemplateField(DestinationField):
    """A URL template: placeholders after the origin only; `render_url` renders it."""

    def placeholder_problem(self, template: Template) -> tuple[int, str] | None:
        return url_placeholder_problem(template)


class AddressTemplateField(DestinationField):
    """A `host:port` or a TLS server name: all of it says where a connection goes; `render_address` reads it."""

    def placeholder_problem(self, template: Template) -> tuple[int, str] | None:
        return address_placeholder_problem(template)


TemplateUrl = Annotated[str, Field(pattern=r"^https?://"), UrlTemplateField()]
"""An http(s) URL in a runbook config whose path and query may hold `{{ ... }}`, and nothing before them may."""

TemplateAddress = Annotated[str, AddressTemplateField()]
"""A `host:port` (or a host name) in a runbook config: no `{{ ... }}` anywhere in it."""


_HOLE = "\ue000"
"""Stands for a placeholder while a URL template's literal structure is read (a private-use character)."""


def url_placeholder_problem(template: Template) -> tuple[int, str] | None:
    """(column, why) for the first placeholder in the scheme, userinfo, host or port of a URL template, or None.

    The origin is everything before the first `/`, `?` or `#` after `scheme://` (RFC 3986 §3.2), read from
    the literal text alone: a value cannot end it or add an `@` or `:`, because every value is percent-encoded.
    """
    skeleton, holes = "", []
    for part in template.parts:
        if isinstance(part, Placeholder):
            holes.append((len(skeleton), part))
        skeleton += _HOLE if isinstance(part, Placeholder) else part
    scheme_end = skeleton.find("://")
    if scheme_end < 0 or any(index < scheme_end for index, _ in holes):
        authority_start, authority_end = len(skeleton), len(skeleton)
    else:
        authority_start = scheme_end + 3
        ends = [i for i in (skeleton.find(c, authority_start) for c in "/?#") if i >= 0]
        authority_end = min(ends, default=len(skeleton))
    authority = skeleton[authority_start:authority_end]
    host_start = authority_start + authority.rfind("@") + 1
    closing = skeleton.rfind("]", host_start, authority_end)
    port_start = skeleton.rfind(":", max(host_start, closing), authority_end)
    for index, placeholder in holes:
        if index >= authority_end:
            return None
        if index < authority_start:
            where = "scheme"
        elif index < host_start:
            where = "userinfo"
        elif 0 <= port_start < index:
            where = "port"
        else:
            where = "host"
        return placeholder.column, (
            f"{{{{ {placeholder.expression.source} }}}} is in the URL's {where}: alert labels may fill path segments"
            " and query values only, never choose where a request goes; write the scheme, host and port out"
        )
    return None


def render_url(source: str, context: Mapping[str, object]) -> str:
    """A URL: every inserted value percent-encoded, so it cannot add a path, query or host.

    A placeholder in the scheme, userinfo, host or port is refused (`TemplateError`) before any value is read.
    """
    problem = url_placeholder_problem(parse_template(source))
    if problem is not None:
        raise TemplateError(f"column {problem[0]}: {problem[1]}")
    return _render(source, context, lambda _, value, __: _url_value(value))


def address_placeholder_problem(template: Template) -> tuple[int, str] | None:
    """(column, why) for the first placeholder in an address (`host:port`, or a host name), or None.

    An address is all origin (RFC 3986 §3.2.2-3.2.3), so no placeholder has a place in it. A TLS server
    name counts too: SNI (RFC 6066 §3) is what a TLS router or an SNI forward proxy picks the backend by.
    """
    skeleton = "".join(_HOLE if isinstance(part, Placeholder) else part for part in template.parts)
    port_start = skeleton.rfind(":", skeleton.rfind("]") + 1)
    index = 0
    for part in template.parts:
        if isinstance(part, Placeholder):
            where = "port" if 0 <= port_start < index else "host"
            return part.column, (
                f"{{{{ {part.expression.source} }}}} is in the address's {where}: alert labels never choose where a"
                " connection goes, and every part of an address (host, port, TLS server name) does; write it out"
            )
        index += len(part)
    return None


def render_address(source: str, context: Mapping[str, object]) -> str:
    """An address (`host:port`, a TLS server name) as written: one with a placeholder is refused (`TemplateError`).

    Nothing is read from `context`: every part of an address says where a connection goes.
    """
    problem = address_placeholder_problem(parse_template(source))
    if problem is not None:
        raise TemplateError(f"column {problem[0]}: {problem[1]}")
    return source


def _url_value(value: str) -> str:
    # `.` and `..` are dot-segments that clients collapse (RFC 3986 §5.2.4); encoded, they stay data
    return value.replace(".", "%2E") if value in (".", "..") else quote(value, safe="")


def render_argv(argv: Sequence[str], context: Mapping[str, object]) -> list[str]:
    """An argv list: each value stays inside its own argument; no shell parses it."""
    return [render_text(argument, context) for argument in argv]


# -- PromQL ------------------------------------------------------------------------------


def _promql_string(text: str) -> tuple[str | None, bool]:
    """(the quote char of the string literal `text` ends inside, or None; whether it is a regex)."""
    quote_char: str | None = None
    start = 0
    index = 0
    while index < len(text):
        char = text[index]
        if quote_char is None:
            if char in "\"'`":
                quote_char, start = char, index
        elif char == "\\" and quote_char != "`":
            index += 1
        elif char == quote_char:
            quote_char = None
        index += 1
    regex = quote_char is not None and text[:start].rstrip().endswith(("=~", "!~"))
    return quote_char, regex


def _promql_insert(before: str, value: str, placeholder: Placeholder) -> str:
    quote_char, regex = _promql_string(before)
    if quote_char is None:
        if not _PROMQL_BARE.match(value):
            raise TemplateError(
                f"{{{{ {placeholder.expression.source} }}}} is outside a PromQL string, where only names, numbers "
                f'and durations may be inserted; put it in quotes (label="{{{{ ... }}}}")'
            )
        return value
    if regex:
        value = re2.escape(value)
    if quote_char == "`":
        if "`" in value:
            raise TemplateError(f"{{{{ {placeholder.expression.source} }}}} contains a backtick inside a raw string")
        return value
    escaped = value.replace("\\", "\\\\").replace(quote_char, "\\" + quote_char)
    return escaped.replace("\n", "\\n").replace("\r", "\\r")


def render_promql(source: str, context: Mapping[str, object]) -> str:
    """A PromQL query with each value escaped for the string literal (or regex) it lands in."""
    return _render(source, context, _promql_insert)


# -- shell --------------------------------------------------------------------------------


def _shell_quote_state(text: str) -> str | None:
    """The quote (' or ") that `text` ends inside, for a POSIX shell script, or None."""
    state: str | None = None
    index = 0
    while index < len(text):
        char = text[index]
        if state == "'":
            if char == "'":
                state = None
        elif char == "\\":
            index += 1
        elif char == '"':
            state = None if state == '"' else '"'
        elif char == "'" and state is None:
            state = "'"
        index += 1
    return state


def render_shell(source: str, context: Mapping[str, object]) -> ShellScript:
    """A `/bin/sh -c` script whose inserted values travel in environment variables."""
    env: dict[str, str] = {}

    def insert(before: str, value: str, placeholder: Placeholder) -> str:
        state = _shell_quote_state(before)
        if state == "'":
            raise TemplateError(
                f"{{{{ {placeholder.expression.source} }}}} is inside single quotes, where no value can be made safe;"
                " move it outside the quotes"
            )
        name = f"{ENV_PREFIX}{len(env) + 1}"
        env[name] = value
        return f"${{{name}}}" if state == '"' else f'"${{{name}}}"'

    return ShellScript(_render(source, context, insert), env)


# -- SQL ----------------------------------------------------------------------------------


def _sql_quote_state(text: str) -> str | None:
    """What `text` ends inside: a '…' literal, a "…" identifier, a comment, a $$ body, or nothing."""
    state: str | None = None
    index = 0
    while index < len(text):
        char, pair = text[index], text[index : index + 2]
        if state is None:
            if char in "'\"":
                state = char
            elif pair == "--":
                state = "--"
            elif pair == "/*":
                state, index = "/*", index + 1
            elif pair == "$$":
                state, index = "$$", index + 1
        elif state in ("'", '"') and char == state:
            if text[index + 1 : index + 2] == state:
                index += 1  # '' is an escaped quote
            else:
                state = None
        elif (state == "--" and char == "\n") or (state == "/*" and pair == "*/") or (state == "$$" and pair == "$$"):
            index += 0 if state == "--" else 1
            state = None
        index += 1
    return state


def render_sql(source: str, context: Mapping[str, object]) -> SqlStatement:
    """SQL whose inserted values are bind parameters, never SQL text."""
    params: dict[str, object] = {}

    def insert(before: str, value: str, placeholder: Placeholder) -> str:
        state = _sql_quote_state(before)
        if state is not None:
            where = {"'": "a quoted string", '"': "a quoted identifier", "$$": "a $$ body"}.get(state, "a comment")
            raise TemplateError(
                f"{{{{ {placeholder.expression.source} }}}} is inside {where}; write it outside quotes:"
                " it becomes a bind parameter"
            )
        name = f"hr_p{len(params) + 1}"
        params[name] = value
        binds.append((len(before), name))
        return f":{name}"

    binds: list[tuple[int, str]] = []
    sql = _render(source, context, insert)
    return SqlStatement(_bracket_binds(sql, binds), params)


def sql_skeleton(source: str) -> str:
    """`source` with each `{{ ... }}` as a `?` of the same length: the SQL as the database will lex it."""
    return _PLACEHOLDER.sub(lambda match: "?".ljust(len(match.group(0))), source)


def _bracket_binds(sql: str, binds: Sequence[tuple[int, str]]) -> str:
    """`(:hr_p1)` where a colon touches the bind: `{{ x }}::text`, `a[{{ i }}:{{ j }}]`.

    SQLAlchemy's `text()` reads `:name` as a bind parameter only when no `:` touches it, so
    `:hr_p1::text` would reach the database as written (a syntax error); in parentheses it is a
    bind, and the cast or the slice applies to it as written.
    """
    for start, name in reversed(binds):
        end = start + len(name) + 1
        if sql[start - 1 : start] == ":" or sql[end : end + 1] == ":":
            sql = f"{sql[:start]}({sql[start:end]}){sql[end:]}"
    return sql
