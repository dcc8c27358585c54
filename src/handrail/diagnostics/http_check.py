"""http_check: a list of HTTP endpoints, checked concurrently."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import Field

from handrail.diagnostics.base import ProbeParams
from handrail.runbook.model import StrictModel

__all__ = ["HttpCheckParams", "HttpEndpoint"]


class HttpEndpoint(StrictModel):
    """One endpoint: healthy when it answers with an expected status (and body, if asked)."""

    name: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://")
    method: Literal["GET", "HEAD", "POST", "PUT", "OPTIONS"] = "GET"
    expect_status: int | list[int] = 200
    body_contains: str | None = None
    body_matches: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    verify_tls: bool = True


class HttpCheckParams(ProbeParams):
    """`urls`: the endpoints to check (the reference write-up's key)."""

    urls: list[HttpEndpoint] = Field(min_length=1)

    PROVIDES: ClassVar[Mapping[str, str]] = {
        "all_healthy": "true when every endpoint answered as expected",
        "any_unreachable": "true when an endpoint could not be reached (connection error or timeout)",
        "any_slow": "the slowest latency among endpoints that answered, a duration (compare with 1000ms)",
        "max_latency": "the slowest latency among endpoints that answered, a duration",
        "healthy_count": "how many endpoints answered as expected",
        "total_count": "how many endpoints were checked",
        "unreachable": "the names of the endpoints that could not be reached",
        "endpoints": "each endpoint: {name, status, latency, error}",
        "tls_days_left": "for HTTPS endpoints: the fewest days until a certificate expires",
    }
