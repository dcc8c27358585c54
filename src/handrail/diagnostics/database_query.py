"""database_query: a read-only SQL query on a named connection."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field

from handrail.diagnostics.base import ProbeParams

__all__ = ["DatabaseQueryParams"]


class DatabaseQueryParams(ProbeParams):
    """`query` runs in a read-only transaction with a statement timeout on `database`."""

    query: str = Field(min_length=1)
    database: str = "default"
    """A database connection named in handrail.yaml."""
    max_rows: int = Field(default=1000, gt=0, le=100_000)

    PROVIDES: ClassVar[Mapping[str, str]] = {
        "rows": "the rows, each a mapping of column to value",
        "row_count": "how many rows came back (at most maxRows)",
        "columns": "the column names",
        "value": "the first column of the first row (null when there are no rows)",
    }
