"""database_query: a read-only SQL query on a named connection."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field, SecretStr

from handrail.diagnostics.base import ProbeParams
from handrail.runbook.model import Duration, StrictModel

__all__ = ["DatabaseConnection", "DatabaseQueryParams"]


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


class DatabaseConnection(StrictModel):
    """A database to query: a SQLAlchemy URL (postgresql://, sqlite:///, mysql+pymysql://).

    The URL usually holds a password, so it is a secret: give it as `${DATABASE_URL}`.
    """

    url: SecretStr
    statement_timeout: Duration = 10.0
    """The longest one query may run, enforced by the database itself where it can."""
