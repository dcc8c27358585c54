"""What the fuzz tests (tests/fuzz/) share: repeatable Hypothesis settings and hostile text.

`fuzz_settings(n)` runs `n` examples derandomized (the same examples on every run, so CI is
repeatable and a failure reproduces), with no example database and no per-example deadline (a
loaded CI machine must not fail a test for being slow). Raise `n` locally to search harder:

    HANDRAIL_FUZZ_SCALE=20 .venv/bin/pytest tests/fuzz   # 20 times the examples, still deterministic

`HOSTILE` is what an attacker puts in an alert label; `hostile_text()` mixes it with anything.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

__all__ = ["HOSTILE", "fuzz_settings", "hostile_text"]

HOSTILE = [
    '"} or vector(1)',
    '"}) or vector(1) #',
    "'; DROP TABLE handrail_incidents; --",
    "' OR 1=1 --",
    "$(touch /tmp/handrail-pwned)",
    "`id`",
    "; rm -rf /",
    "a\nb\r\nc",
    "../../etc/passwd",
    "..",
    "%2e%2e%2f",
    "{{ labels.secret }}",
    "${HOME}",
    "\\",
    "\x00",
    "é✓😀",
    "x" * 600,
]


def fuzz_settings(max_examples: int) -> settings:
    """`max_examples` examples (times HANDRAIL_FUZZ_SCALE), the same ones on every run."""
    scale = max(1, int(os.environ.get("HANDRAIL_FUZZ_SCALE", "1")))
    return settings(
        max_examples=max_examples * scale,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def hostile_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """An attacker's label value: a known injection, anything at all, or both glued together."""
    anything = st.text(max_size=max_size)
    known = st.sampled_from(HOSTILE)
    return st.one_of(known, anything, st.tuples(anything, known, anything).map("".join))
