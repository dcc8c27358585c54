"""Alert label matchers as triggers write them: `value` exact, `=~regex` / `!~regex` full matches, `!=value`."""

from __future__ import annotations

import re2

__all__ = ["matcher_holds"]


def matcher_holds(matcher: str, value: str | None) -> bool:
    """Whether a label with `value` (None: the alert lacks it) satisfies `matcher`."""
    options = re2.Options()
    options.log_errors = False
    if matcher.startswith(("=~", "!~")):
        found = value is not None and re2.compile(f"^(?:{matcher[2:]})$", options).search(value) is not None
        return found if matcher.startswith("=~") else not found
    if matcher.startswith("!="):
        return value != matcher[2:]
    return value == matcher
