"""Turn expression text into an `Expression`: limits, the Lark LALR parser, and plain-words errors.

The grammar lives in `grammar.lark`. Lark builds a tree without recursion; the tree's depth is
checked before it is converted to nodes, so hostile nesting is refused before anything recurses.
No Lark exception leaves this module: each becomes an `ExpressionSyntaxError` with a column.
"""

from __future__ import annotations

import difflib
import functools
from importlib import resources

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from handrail.errors import ExpressionSyntaxError
from handrail.expression.description import quote
from handrail.expression.expression import Expression
from handrail.expression.function import FUNCTIONS, arity_problem, regex_problem
from handrail.expression.node import (
    Attribute,
    Binary,
    Call,
    Comparison,
    Index,
    ListLiteral,
    Literal,
    Logical,
    Name,
    Node,
    Unary,
)

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "parse"]

MAX_LENGTH = 4096
MAX_DEPTH = 64

_OPERATOR_SYMBOLS = {
    "OR_SYM": "or",
    "OR_KW": "or",
    "AND_SYM": "and",
    "AND_KW": "and",
    "BANG": "not",
    "NOT_KW": "not",
    "EQ": "==",
    "STRICT_EQ": "==",
    "NE": "!=",
    "STRICT_NE": "!=",
    "LT": "<",
    "LE": "<=",
    "GT": ">",
    "GE": ">=",
    "IN": "in",
    "PLUS": "+",
    "MINUS": "-",
    "STAR": "*",
    "SLASH": "/",
    "PERCENT": "%",
}
_VALUE_TOKENS = frozenset({"NAME", "NUMBER", "STRING", "TRUE", "FALSE", "NULL"})
_BINARY_TOKENS = frozenset(_OPERATOR_SYMBOLS) - {"BANG"}
_COMPARISON_TOKENS = frozenset({"EQ", "STRICT_EQ", "NE", "STRICT_NE", "LT", "LE", "GT", "GE", "IN"})
_CLOSERS = {"_COMMA": "','", "_RPAR": "')'", "_RSQB": "']'", "$END": "the end of the expression"}
# A duration is a number of seconds; `ms` divides so that 1000ms is exactly 1.0.
_UNIT_SECONDS = {"ms": 1 / 1000, "s": 1, "m": 60, "h": 60 * 60, "d": 24 * 60 * 60}
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}
_CHARACTER_HINTS = {
    "=": "; compare with '==' (or '===')",
    "&": "; write 'and' as '&&' or 'and'",
    "|": "; write 'or' as '||' or 'or'",
    "'": "; this string is never closed: end it with '",
    '"': '; this string is never closed: end it with "',
}


def parse(source: str) -> Expression:
    """Parse `source` into an Expression, or raise ExpressionSyntaxError saying where and why."""
    if len(source) > MAX_LENGTH:
        raise ExpressionSyntaxError(
            f"the expression is {len(source)} characters long; the limit is {MAX_LENGTH}",
            column=MAX_LENGTH + 1,
        )
    return _parse_checked(source)


@functools.lru_cache(maxsize=1024)
def _parse_checked(source: str) -> Expression:
    """Parse text already known to be short enough; results are cached because runbooks repeat."""
    if not source.strip():
        raise ExpressionSyntaxError("the expression is empty", column=1)
    tree = _parse_tree(source)
    _check_depth(tree)
    return Expression(source=source, root=_convert(tree))


@functools.cache
def _parser() -> Lark:
    """Build the LALR parser once, on first use."""
    grammar = resources.files(__package__).joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="basic",
        propagate_positions=True,
        maybe_placeholders=False,
        # Only NUMBER: a second callback would meet lark's keyword callback on NAME (CallChain binds
        # its loop variable late), so names are checked when the tree is converted instead.
        lexer_callbacks={"NUMBER": _check_number},
    )


def _parse_tree(source: str) -> Tree[Token]:
    """Run Lark, translating every Lark error into an ExpressionSyntaxError."""
    try:
        tree: Tree[Token] = _parser().parse(source)
    except UnexpectedCharacters as exc:
        raise _unexpected_character(source, exc.pos_in_stream or 0) from exc
    except UnexpectedToken as exc:
        raise _unexpected_token(source, exc) from exc
    except UnexpectedInput as exc:
        column = len(source.rstrip()) + 1
        raise ExpressionSyntaxError("the expression ends too early", column=column) from exc
    except LarkError as exc:
        raise ExpressionSyntaxError(f"cannot parse the expression: {exc}", column=1) from exc
    return tree


def _checked_name(token: Token) -> str:
    """Refuse names starting with two underscores: they look like Python internals, and mean nothing."""
    if token.startswith("__"):
        raise ExpressionSyntaxError(f"names starting with '__' are not allowed: '{token}'", column=_column(token))
    return str(token)


def _check_number(token: Token) -> Token:
    """Refuse a number with an unknown unit after it (`5min`) while lexing."""
    _number_value(token, column=_column(token))
    return token


def _column(token: Token) -> int:
    """Return the 1-based column of a token within the expression text."""
    return (token.start_pos or 0) + 1


def _unexpected_character(source: str, position: int) -> ExpressionSyntaxError:
    """Describe a character no token can start with."""
    char = source[position]
    hint = _CHARACTER_HINTS.get(char, "")
    if not hint and char.isalpha():
        hint = "; names use only ASCII letters, digits and '_'"
    return ExpressionSyntaxError(f"unexpected character {char!r}{hint}", column=position + 1)


def _unexpected_token(source: str, exc: UnexpectedToken) -> ExpressionSyntaxError:
    """Say, in plain words, what was found and what could have come instead."""
    token: Token = exc.token
    accepted: frozenset[str] = frozenset(exc.interactive_parser.accepts())  # type: ignore[no-untyped-call]
    if token.type == "$END":
        found, column = "the expression ends too early", len(source.rstrip()) + 1
    else:
        found, column = f"unexpected {_describe_token(token)}", _column(token)
    if token.type in _COMPARISON_TOKENS and not accepted & _COMPARISON_TOKENS:
        return ExpressionSyntaxError(
            "comparisons cannot be chained; join them with 'and' (a < b and b < c)", column=column
        )
    return ExpressionSyntaxError(f"{found}; expected {_expected_words(accepted)}", column=column)


def _describe_token(token: Token) -> str:
    """Name a token the way an author would: `name 'x'`, `number 5`, `')'`."""
    if token.type == "NAME":
        return f"name '{token}'"
    if token.type == "NUMBER":
        return f"number {token}"
    if token.type == "STRING":
        return f"string {token}"
    return f"'{token}'"


def _expected_words(accepted: frozenset[str]) -> str:
    """Turn the set of acceptable terminals into words: `an operator or the end of the expression`."""
    parts: list[str] = []
    if accepted & _VALUE_TOKENS == {"NAME"}:
        parts.append("a field name")
    elif accepted & _VALUE_TOKENS:
        parts.append("a value")
    elif accepted == {"IN"}:
        parts.append("'in'")
    elif accepted & _BINARY_TOKENS:
        parts.append("an operator")
    parts.extend(words for terminal, words in _CLOSERS.items() if terminal in accepted)
    if not parts:
        return "something else"
    if len(parts) == 1:
        return parts[0]
    return f"{', '.join(parts[:-1])} or {parts[-1]}"


def _check_depth(tree: Tree[Token]) -> None:
    """Refuse trees nested deeper than MAX_DEPTH, without recursion (the tree may be very deep)."""
    pending: list[tuple[Tree[Token], int]] = [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_DEPTH:
            column = getattr(node.meta, "start_pos", 0) + 1
            raise ExpressionSyntaxError(
                f"the expression nests more than {MAX_DEPTH} levels deep (every operator, call, "
                "bracket and parenthesis adds one); split it into simpler parts",
                column=column,
            )
        pending.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))


def _convert(tree: Tree[Token]) -> Node:
    """Convert a depth-checked Lark tree into nodes."""
    kids = tree.children
    kind = tree.data
    if kind == "group":
        return _convert(_subtree(kids[0]))
    if kind == "literal":
        return _literal(_token(kids[0]))
    if kind == "name":
        token = _token(kids[0])
        return Name(name=_checked_name(token), column=_column(token))
    if kind == "list":
        bracket = _token(kids[0])
        return ListLiteral(items=tuple(_convert(_subtree(kid)) for kid in kids[1:]), column=_column(bracket))
    if kind == "call":
        return _call(_token(kids[0]), tuple(_convert(_subtree(kid)) for kid in kids[1:]))
    if kind == "attribute":
        field = _token(kids[1])
        target = _convert(_subtree(kids[0]))
        return Attribute(target=target, name=_checked_name(field), column=_column(field))
    if kind == "index":
        bracket = _token(kids[1])
        target, index = _convert(_subtree(kids[0])), _convert(_subtree(kids[2]))
        return Index(target=target, index=index, column=_column(bracket))
    if kind == "unary":
        operator = _token(kids[0])
        operand = _convert(_subtree(kids[1]))
        return Unary(op=_OPERATOR_SYMBOLS[operator.type], operand=operand, column=_column(operator))
    operator = _token(kids[1])
    left, right = _convert(_subtree(kids[0])), _convert(_subtree(kids[-1]))
    symbol, column = _OPERATOR_SYMBOLS[operator.type], _column(operator)
    if kind == "comparison":
        op = "not in" if len(kids) == 4 else symbol
        return Comparison(op=op, left=left, right=right, column=column)
    if kind == "logical":
        return Logical(op=symbol, left=left, right=right, column=column)
    return Binary(op=symbol, left=left, right=right, column=column)


def _literal(token: Token) -> Literal:
    """Build a literal from its token, keeping how it reads in source form."""
    column = _column(token)
    if token.type == "NUMBER":
        return Literal(value=_number_value(token, column=column), text=str(token), column=column)
    if token.type == "STRING":
        value = _string_value(token)
        return Literal(value=value, text=quote(value), column=column)
    keywords: dict[str, bool | None] = {"TRUE": True, "FALSE": False, "NULL": None}
    return Literal(value=keywords[token.type], text=str(token), column=column)


def _call(name: Token, args: tuple[Node, ...]) -> Call:
    """Build a call, checking the function exists, its argument count and a literal regex."""
    column = _column(name)
    _checked_name(name)
    if name not in FUNCTIONS:
        close = difflib.get_close_matches(str(name), sorted(FUNCTIONS), n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"the functions are {', '.join(sorted(FUNCTIONS))}"
        raise ExpressionSyntaxError(f"unknown function '{name}'; {hint}", column=column)
    problem = arity_problem(str(name), len(args))
    if problem is not None:
        raise ExpressionSyntaxError(problem, column=column)
    if name == "matches" and isinstance(args[1], Literal) and isinstance(args[1].value, str):
        problem = regex_problem(args[1].value)
        if problem is not None:
            raise ExpressionSyntaxError(problem, column=args[1].column)
    return Call(name=str(name), args=args, column=column)


def _token(child: Tree[Token] | Token) -> Token:
    """Narrow a tree child that the grammar guarantees is a token."""
    assert isinstance(child, Token)
    return child


def _subtree(child: Tree[Token] | Token) -> Tree[Token]:
    """Narrow a tree child that the grammar guarantees is a subtree."""
    assert isinstance(child, Tree)
    return child


def _number_value(text: str, *, column: int) -> int | float:
    """Read a number or a duration (`1e3`, `2.5`, `1000ms` -> 1.0 seconds); refuse unknown units."""
    end = 0
    while end < len(text) and (text[end].isdigit() or text[end] == "."):
        end += 1
    if end + 1 < len(text) and text[end] in "eE":
        after_sign = end + 2 if text[end + 1] in "+-" else end + 1
        if after_sign < len(text) and text[after_sign].isdigit():
            end = after_sign
            while end < len(text) and text[end].isdigit():
                end += 1
    number, unit = text[:end], text[end:]
    if unit and unit not in _UNIT_SECONDS:
        raise ExpressionSyntaxError(
            f"'{text}' is not a number or a duration; a duration ends in ms, s, m, h or d (like 5m)",
            column=column,
        )
    if unit == "ms":
        return float(number) / 1000
    if unit:
        return float(number) * _UNIT_SECONDS[unit]
    if number.isdigit():
        return int(number)
    return float(number)


def _string_value(text: str) -> str:
    """Read a quoted string token; a backslash before any character but n t \\ ' " stays as written."""
    body = text[1:-1]
    pieces: list[str] = []
    position = 0
    while position < len(body):
        char = body[position]
        if char == "\\" and position + 1 < len(body):
            following = body[position + 1]
            pieces.append(_ESCAPES.get(following, char + following))
            position += 2
        else:
            pieces.append(char)
            position += 1
    return "".join(pieces)
