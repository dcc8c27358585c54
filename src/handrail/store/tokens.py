"""`SqlApiTokens`: the API tokens `handrail serve` generated, kept as SHA-256 digests beside the incidents."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from handrail.store.incidents import write_transaction
from handrail.store.schema import API_TOKENS

__all__ = ["SqlApiTokens"]


class SqlApiTokens:
    """Reads and adds stored token digests (name, role, sha256); the token itself is never stored."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def all(self) -> list[tuple[str, str, str]]:
        with self._engine.connect() as connection:
            return [(r.name, r.role, r.sha256) for r in connection.execute(sa.select(API_TOKENS))]

    def add(self, name: str, role: str, sha256: str) -> None:
        """Store a digest; SQLAlchemy's IntegrityError when a token of that name exists."""
        with write_transaction(self._engine) as connection:
            connection.execute(
                sa.insert(API_TOKENS).values(name=name, role=role, sha256=sha256, created_at=datetime.now(UTC))
            )
