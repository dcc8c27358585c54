"""flush_cache: flush a Redis database, or only the keys matching a pattern."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from handrail.actions.base import ActionParams

__all__ = ["FlushCacheParams"]


class FlushCacheParams(ActionParams):
    """`pattern` deletes matching keys with SCAN + UNLINK (never KEYS); without it, FLUSHDB."""

    backend: Literal["redis", "memcached"] = "redis"
    connection: str = "default"
    """A cache connection named in handrail.yaml."""
    pattern: str | None = Field(default=None, min_length=1)
    db: int | None = Field(default=None, ge=0)
