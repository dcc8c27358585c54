"""shell_command: a read-only command; its exit code and output are the evidence."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field

from handrail.diagnostics.base import ProbeParams

__all__ = ["ShellCommandParams"]


class ShellCommandParams(ProbeParams):
    """`command`: an argv list, or a string run by `/bin/sh -c`."""

    command: str | list[str] = Field(min_length=1)
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)

    PROVIDES: ClassVar[Mapping[str, str]] = {
        "exit_code": "the command's exit status",
        "stdout": "standard output (capped at 64 KiB)",
        "stderr": "standard error (capped at 64 KiB)",
        "lines": "standard output split into lines",
        "json": "standard output parsed as JSON (null when it is not JSON)",
    }
