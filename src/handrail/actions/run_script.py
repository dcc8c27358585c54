"""run_script: SQL on a named database connection, or a shell script or command."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Self

from pydantic import Field, model_validator

from handrail.actions.base import ActionParams
from handrail.runbook.model import Duration

__all__ = ["RunScriptParams"]


class RunScriptParams(ActionParams):
    """Exactly one of `sql` (with `database`), `shell` (a script for /bin/sh) or `command` (argv)."""

    sql: str | None = Field(default=None, min_length=1)
    database: str | None = None
    shell: str | None = Field(default=None, min_length=1)
    command: list[str] | None = Field(default=None, min_length=1)
    timeout: Duration = 60.0

    KEY_HINTS: ClassVar[Mapping[str, str]] = {
        "script": "write SQL as `sql` with `database` (the connection), or a shell script as `shell`",
    }

    @model_validator(mode="after")
    def _one_script(self) -> Self:
        given = [n for n in (self.sql, self.shell, self.command) if n is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `sql` (with `database`), `shell` or `command`")
        if self.sql is not None and not self.database:
            raise ValueError("`sql` needs `database`: the connection (named in handrail.yaml) to run it on")
        if self.database is not None and self.sql is None:
            raise ValueError("`database` only applies to `sql`")
        return self
