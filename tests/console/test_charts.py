"""console/charts.py: thresholds read from interpret's syntax tree, and an incident's recorded charts drawn as SVG."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any
from xml.etree import ElementTree

import pytest
import yaml

from handrail.console.charts import evidence_charts, interpret_lines
from handrail.runbook.model import Diagnostic
from handrail.store import TimelineRecord
from support.records import AT, action, chart, record, verification

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '</text><script>alert(1)</script><text x="'

RUNBOOK = yaml.safe_load(
    """
id: cpu
name: CPU
description: busy pods
severity: P2
service: web
triggers: [{type: metric_threshold, metricQuery: "max(cpu_busy)", threshold: 50}]
diagnostics:
  - id: busy
    name: Busy pods
    description: how busy
    type: prometheus_query
    config: {query: cpu_busy}
    interpret: {critical: "value > 70", warning: "value > 40", healthy: "value <= 40"}
decisionTree: [{otherwise: true, then: [page], description: anything}]
remediations: [{id: page, name: Page, description: page someone, type: escalate}]
escalation: {primary: "#web"}
"""
)


def diagnostic(critical: str, warning: str | None = None, **derive: str) -> Diagnostic:
    return Diagnostic.model_validate(
        {
            "id": "d",
            "name": "D",
            "description": "d",
            "type": "prometheus_query",
            "config": {"query": "x"},
            "interpret": {"critical": critical, "warning": warning, "healthy": "true"},
            "derive": derive,
        }
    )


@pytest.mark.parametrize(
    ("critical", "warning", "expected"),
    [
        pytest.param("value > 70", "value >= 50", [("critical", 70.0), ("warning", 50.0)], id="both"),
        pytest.param("90 < max", None, [("critical", 90.0)], id="number-first-flips"),
        pytest.param("value < -5", None, [("critical", -5.0)], id="negative"),
        pytest.param(
            "value > 0.9 && status == 'x' || avg >= 2", None, [("critical", 0.9), ("critical", 2.0)], id="and-or"
        ),
        pytest.param("count > 3", None, [], id="count-is-not-on-the-series-scale"),
        pytest.param("value == 1", None, [], id="equality-is-no-threshold"),
        pytest.param("value > other", None, [], id="no-number"),
        pytest.param("empty", None, [], id="no-comparison"),
    ],
)
def test_thresholds_are_the_comparisons_of_a_series_name_with_a_number(
    critical: str, warning: str | None, expected: list[tuple[str, float]]
) -> None:
    assert [(line.kind, line.value) for line in interpret_lines(diagnostic(critical, warning))] == expected


def test_a_name_derive_redefines_draws_no_threshold() -> None:
    assert interpret_lines(diagnostic("value > 70", value="value * 100")) == []


def test_a_threshold_says_which_condition_it_comes_from() -> None:
    (line,) = interpret_lines(diagnostic("2 <= max"))
    assert line.label == "critical: max >= 2"


def busy(chart_id: str, **extra: Any) -> dict[str, Any]:
    series = [
        {"labels": {"__name__": "cpu_busy", "pod": HOSTILE}, "points": [[0, 10], [15, None], [30, 80], [45, 75]]},
        {"labels": {"pod": "b"}, "points": [[0, 5], [15, 6]]},
    ]
    return chart(chart_id, end=AT + timedelta(seconds=5), series=series, seriesTotal=9, **extra)


def story() -> tuple[Any, list[TimelineRecord], list[Any]]:
    trigger = {**busy("trigger-0"), "source": "trigger", "name": "Trigger: max(cpu_busy)", "threshold": 50}
    assessment = {"diagnosticResults": [], "decisions": [], "history": [busy("busy"), trigger]}
    checked_at = AT + timedelta(minutes=3)
    checked = verification(chart("busy", end=checked_at, error="boom", series=[]), at=checked_at)
    run = replace(action(), started_at=AT + timedelta(minutes=1))
    return record(runbook=RUNBOOK, assessment=assessment), [checked], [run]


def test_an_incident_s_charts_are_its_diagnosis_then_each_verification_as_safe_svg_files() -> None:
    charts = evidence_charts(*story())
    assert [(c.phase, c.id, c.file_name) for c in charts] == [
        ("diagnosis", "busy", "diagnosis-busy.svg"),
        ("diagnosis", "trigger-0", "diagnosis-trigger-0.svg"),
        ("verification", "busy", "verification-1-busy.svg"),
    ]
    assert charts[2].verdict == "healthy"
    for drawn in charts:
        tree = ElementTree.fromstring(str(drawn.svg))  # well-formed XML, a standalone SVG
        assert tree.tag == f"{SVG}svg"
        assert not list(tree.iter(f"{SVG}script"))
        assert "<script" not in str(drawn.svg)


def test_a_diagnosis_chart_has_the_series_labelled_the_thresholds_and_the_moments() -> None:
    busy = ElementTree.fromstring(str(evidence_charts(*story())[0].svg))
    paths = [p for p in busy.iter(f"{SVG}path") if p.get("class") == "series"]
    assert len(paths) == 2
    assert paths[0].get("d", "").count("M") == 2  # the missing sample is a gap, not a made-up line
    legend = [t.text for g in busy.iter(f"{SVG}g") if g.get("class") == "legend" for t in g.iter(f"{SVG}text")]
    assert legend == [f'cpu_busy{{pod="{HOSTILE}"}}'[:49] + "…", '{pod="b"}']  # escaped text, not markup
    lines = {g.get("class"): g.get("data-value") for g in busy.iter(f"{SVG}g") if "threshold" in (g.get("class") or "")}
    assert lines == {"threshold critical": "70", "threshold warning": "40"}
    markers = [g.find(f"{SVG}title").text for g in busy.iter(f"{SVG}g") if "marker" in (g.get("class") or "")]  # type: ignore[union-attr]
    assert markers == ["incident opened", "restart (succeeded)"]
    notes = [t.text for t in busy.iter(f"{SVG}text") if t.get("class") == "note"]
    assert notes == ["the 2 highest of 9 series"]


def test_a_trigger_chart_draws_its_threshold_and_a_failed_one_says_why() -> None:
    _, trigger, failed = evidence_charts(*story())
    drawn = ElementTree.fromstring(str(trigger.svg))
    (line,) = [g for g in drawn.iter(f"{SVG}g") if "threshold" in (g.get("class") or "")]
    assert line.get("data-value") == "50"
    assert failed.error == "boom"
    notes = [t.text for t in ElementTree.fromstring(str(failed.svg)).iter(f"{SVG}text") if t.get("class") == "note"]
    assert notes == ["no data: boom"]


def test_a_record_without_history_or_with_a_broken_runbook_snapshot_still_draws() -> None:
    assert evidence_charts(record(assessment=None), [], []) == []
    (drawn,) = evidence_charts(record(runbook={}, assessment={"history": [busy("busy")]}), [], [])
    tree = ElementTree.fromstring(str(drawn.svg))
    assert not [g for g in tree.iter(f"{SVG}g") if "threshold" in (g.get("class") or "")]  # no runbook, no lines
