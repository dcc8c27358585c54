"""Reading what the broken-runbook fixtures in tests/fixtures/invalid say about themselves."""

from __future__ import annotations

import json
import re
from pathlib import Path

from handrail.lint import Policy
from handrail.safety import AllowList
from handrail.settings import PolicySettings

__all__ = ["allow_list", "place_of", "policy"]

ALLOW = re.compile(r"^# allow: (\w+)=(.*)$", re.MULTILINE)
POLICY = re.compile(r"^# policy: (.*)$", re.MULTILINE)


def allow_list(path: Path) -> AllowList | None:
    """A fixture that needs settings says so: `# allow: commands=kubectl,helm` (the settings' allow-lists)."""
    found = {kind: values.split(",") for kind, values in ALLOW.findall(path.read_text(errors="replace"))}
    return AllowList(**found) if found else None


def policy(path: Path) -> Policy | None:
    """A fixture that breaks a policy names it as the settings write it: `# policy: {"requireFallback": true}`."""
    found = POLICY.search(path.read_text(errors="replace"))
    return PolicySettings.model_validate(json.loads(found.group(1))).checker() if found else None


def place_of(text: str, needle: str, occurrence: int = 0) -> str:
    """`line:column` of the `occurrence`-th (0-based) `needle` in `text`, 1-based as problems print them."""
    index = -1
    for _ in range(occurrence + 1):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    return f"{line}:{index - (text.rfind(chr(10), 0, index) + 1) + 1}"
