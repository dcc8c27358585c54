"""log_search: count and sample matching log lines in files or in Loki."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal, Self

from pydantic import Field, model_validator

from handrail.diagnostics.base import ProbeParams
from handrail.runbook.model import Duration

__all__ = ["LogSearchParams"]


class LogSearchParams(ProbeParams):
    """`backend: file` reads `paths` (globs) for `pattern` or `regex`; `backend: loki` runs `query`."""

    backend: Literal["file", "loki"] = "file"
    paths: list[str] = Field(default_factory=list)
    pattern: str | None = None
    regex: str | None = None
    query: str | None = None
    window: Duration = 900.0
    limit: int = Field(default=20, gt=0, le=1000)
    connection: str | None = None

    PROVIDES: ClassVar[Mapping[str, str]] = {
        "count": "how many lines matched within the window",
        "samples": "the first `limit` matching lines",
        "first_seen": "when the first match was logged (ISO 8601; null when unknown)",
        "last_seen": "when the last match was logged (ISO 8601; null when unknown)",
    }

    @model_validator(mode="after")
    def _check_backend(self) -> Self:
        if self.backend == "file" and not self.paths:
            raise ValueError("the file backend needs `paths` (globs of log files)")
        if self.backend == "file" and (self.pattern is None) == (self.regex is None):
            raise ValueError("the file backend needs exactly one of `pattern` (substring) or `regex`")
        if self.backend == "loki" and not self.query:
            raise ValueError("the loki backend needs `query` (LogQL)")
        return self
