"""prometheus_query: an instant or range query over the Prometheus HTTP API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from handrail.diagnostics.base import ProbeParams
from handrail.runbook.model import Duration

__all__ = ["PrometheusQueryParams"]


class PrometheusQueryParams(ProbeParams):
    """`query` in PromQL; with `range` (and optional `step`) it becomes a range query for trends."""

    query: str
    range: Duration | None = None
    step: Duration | None = None
    connection: str | None = None
    """A Prometheus connection named in handrail.yaml (default: the default one, or PROMETHEUS_URL)."""

    PROVIDES: ClassVar[Mapping[str, str]] = {
        "value": "the first sample's value, a number (null when the result is empty)",
        "values": "every series' value (the last sample of each, for ranges), a list of numbers",
        "series": "every series: {labels, value}",
        "count": "how many series came back",
        "sum": "the sum of `values`",
        "min": "the smallest of `values` (null when empty)",
        "max": "the largest of `values` (null when empty)",
        "avg": "the mean of `values` (null when empty)",
        "empty": "true when the query returned no series",
    }
    RANGE_PROVIDES: ClassVar[Mapping[str, str]] = {
        "samples": "for ranges: the first series' samples, [{time, value}]",
        "first": "for ranges: the first series' first value",
        "last": "for ranges: the first series' last value",
        "delta": "for ranges: last - first of the first series",
    }

    def provided_names(self) -> Mapping[str, str]:
        return {**self.PROVIDES, **self.RANGE_PROVIDES} if self.range is not None else self.PROVIDES
