"""Reading what the broken-runbook fixtures in tests/fixtures/invalid say about themselves."""

from __future__ import annotations

import re
from pathlib import Path

from handrail.safety import AllowList

__all__ = ["allow_list"]

ALLOW = re.compile(r"^# allow: (\w+)=(.*)$", re.MULTILINE)


def allow_list(path: Path) -> AllowList | None:
    """A fixture that needs settings says so: `# allow: commands=kubectl,helm` (the settings' allow-lists)."""
    found = {kind: values.split(",") for kind, values in ALLOW.findall(path.read_text(errors="replace"))}
    return AllowList(**found) if found else None
