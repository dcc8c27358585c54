"""The evidence as it was: each Prometheus query's hour before diagnosis (or verification), kept with the incident.

For every `prometheus_query` diagnostic, and every `metric_threshold` trigger of the runbook, the
same expression runs as a range query over the hour before (`HISTORY_MINUTES` engine minutes, so
`engine.minuteSeconds` scales it as it scales every engine timer; `HISTORY_POINTS` samples, a
step of 15 s in a real hour), beside the diagnostic and never inside it: the
diagnostic's result, status and duration do not wait for it or depend on it, and a range query
that fails or takes longer than `HISTORY_TIMEOUT` is recorded with the reason instead of series.

What is kept is bounded (docs/console.md): the `MAX_SERIES` series with the highest peak, at most
`MAX_POINTS` samples each, times as seconds from `start`, values as numbers or null. Each chart
is a plain JSON value stored in the assessment (`history`) or the verification's timeline event,
so the review sees the evidence after Prometheus has forgotten it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from handrail.diagnostics import DIAGNOSTIC_PARAMS
from handrail.diagnostics.base import History, HistoryProbe, HistorySeries, Probe, ProbeContext
from handrail.diagnostics.prometheus_query import PrometheusQueryParams
from handrail.errors import ProbeError
from handrail.redaction import redact
from handrail.runbook.model import Runbook

__all__ = [
    "HISTORY_MINUTES",
    "HISTORY_POINTS",
    "HISTORY_TIMEOUT",
    "MAX_LABEL_TEXT",
    "MAX_POINTS",
    "MAX_SERIES",
    "record_history",
    "trend",
]

HISTORY_MINUTES = 60
"""How far back each chart reaches: the hour before."""
HISTORY_POINTS = 240
"""Samples per series asked for: a step of 15 s over the hour, a few hundred points."""
HISTORY_TIMEOUT = 10.0
"""Seconds a range query may take (at most the diagnostic's own timeout)."""
MAX_SERIES = 5
"""Series kept per chart: those with the highest peak; the rest are counted (`seriesTotal`)."""
MAX_POINTS = 300
"""Samples kept per series; more (a Prometheus that ignores the step) are thinned evenly."""
MAX_LABEL_TEXT = 200
"""Characters of a label value kept."""
_DIAGNOSTIC_TYPE = "prometheus_query"


async def record_history(
    runbook: Runbook,
    *,
    probes: Mapping[str, Probe[Any]],
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    end: float,
    minute_seconds: float = 60.0,
    triggers: bool = True,
) -> list[dict[str, Any]]:
    """A chart per Prometheus diagnostic and (`triggers`) metric_threshold trigger, ending at `end`; never raises."""
    probe = probes.get(_DIAGNOSTIC_TYPE)
    if not isinstance(probe, HistoryProbe):
        return []
    template = {"labels": dict(labels), "annotations": dict(annotations)}
    jobs: list[tuple[dict[str, Any], Any, float]] = []
    for diagnostic in runbook.diagnostics:
        if diagnostic.type != _DIAGNOSTIC_TYPE:
            continue
        head = {"source": "diagnostic", "id": diagnostic.id, "name": diagnostic.name}
        try:
            params: Any = DIAGNOSTIC_PARAMS[_DIAGNOSTIC_TYPE].model_validate(diagnostic.config)
        except ValidationError as exc:
            jobs.append(({**head, "error": f"invalid config: {exc.errors()[0]['msg']}"}, None, 0.0))
            continue
        jobs.append((head, params, min(HISTORY_TIMEOUT, diagnostic.timeout)))
    if triggers:
        for index, trigger in enumerate(runbook.triggers):
            if trigger.type == "metric_threshold" and trigger.metric_query:
                head = {"source": "trigger", "id": f"trigger-{index}", "name": f"Trigger: {trigger.metric_query}"}
                if trigger.threshold is not None:
                    head["threshold"] = trigger.threshold
                jobs.append((head, PrometheusQueryParams(query=trigger.metric_query), HISTORY_TIMEOUT))
    window = HISTORY_MINUTES * minute_seconds
    charts = await asyncio.gather(
        *(_chart(probe, head, params, timeout, template, end - window, end) for head, params, timeout in jobs)
    )
    return list(charts)


async def _chart(
    probe: HistoryProbe[Any],
    head: dict[str, Any],
    params: Any,
    timeout: float,
    template: Mapping[str, object],
    start: float,
    end: float,
) -> dict[str, Any]:
    step = (end - start) / HISTORY_POINTS
    chart = {**head, "start": start, "end": end, "step": step, "series": [], "seriesTotal": 0}
    if params is None:
        return chart
    try:
        async with asyncio.timeout(timeout):
            found = await probe.history(
                params, ProbeContext(template=template, timeout=timeout), start=start, end=end, step=step
            )
    except ProbeError as exc:
        return {**chart, "error": redact(str(exc))}
    except TimeoutError:
        return {**chart, "error": f"the range query took longer than {timeout:g}s"}
    except Exception as exc:  # the chart is extra evidence: nothing in it may take the diagnosis down
        return {**chart, "error": f"internal error in the range query: {type(exc).__name__}"}
    return {**chart, **_kept(found, start)}


def _kept(found: History, start: float) -> dict[str, Any]:
    ranked = sorted(found.series, key=_peak, reverse=True)
    kept = {
        "query": found.query,
        "series": [_series(item, start) for item in ranked[:MAX_SERIES]],
        "seriesTotal": len(found.series),
    }
    if found.warnings:
        kept["warnings"] = list(found.warnings)
    return kept


def _peak(series: HistorySeries) -> float:
    return max((value for _, value in series.samples if math.isfinite(value)), default=-math.inf)


def _series(series: HistorySeries, start: float) -> dict[str, Any]:
    samples = series.samples
    if len(samples) > MAX_POINTS:
        stride = len(samples) / MAX_POINTS
        samples = tuple(samples[int(i * stride)] for i in range(MAX_POINTS))
    return {
        "labels": {str(k)[:MAX_LABEL_TEXT]: str(v)[:MAX_LABEL_TEXT] for k, v in sorted(series.labels.items())},
        "points": [[round(t - start, 3), _value(v)] for t, v in samples],
    }


def _value(value: float) -> float | None:
    return float(f"{value:.6g}") if math.isfinite(value) else None


def trend(chart: Mapping[str, Any] | None, *, width: int = 20) -> list[float]:
    """The first (highest) series of a recorded chart in `width` slices, each its highest value: a spike stays."""
    series = (chart or {}).get("series") or []
    if not series or not isinstance(series[0], Mapping):
        return []
    values = [
        float(point[1])
        for point in series[0].get("points", [])
        if isinstance(point, Sequence) and len(point) == 2 and isinstance(point[1], int | float)
    ]
    if len(values) < 2:
        return []
    size = max(1, math.ceil(len(values) / width))
    return [max(values[i : i + size]) for i in range(0, len(values), size)]
