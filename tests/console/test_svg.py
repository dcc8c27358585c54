"""The decision tree diagram, sparklines and charts: what they mark, and that every text is escaped."""

from __future__ import annotations

import math
from pathlib import Path
from xml.etree import ElementTree

from handrail.console.svg import column_chart, decision_tree, render_tree, sparkline
from handrail.runbook.load import load_runbook_file

EXAMPLES = Path(__file__).parents[2] / "examples" / "runbooks"


def _runbook():  # type: ignore[no-untyped-def]
    return load_runbook_file(EXAMPLES / "bad-deploy.yaml").runbook


def test_the_tree_marks_the_path_an_incident_took() -> None:
    runbook = _runbook()
    assessment = {
        "diagnosticResults": [{"stepId": "unavailable_replicas", "status": "critical"}],
        "decisions": [{"index": 1, "matched": True}, {"index": 0, "matched": False}],
    }
    tree = decision_tree(runbook, assessment, ["inspect_rollout"])
    assert tree.node("diag-unavailable_replicas").state == "critical"
    assert tree.node("decision-1").state == "fired"
    assert tree.node("decision-0").state == ""
    assert tree.node("remediation-inspect_rollout").state == "planned"
    taken = {(e.source, e.target) for e in tree.edges if e.taken}
    assert taken == {("diag-unavailable_replicas", "decision-1"), ("decision-1", "remediation-inspect_rollout")}
    # decision 0 reads three diagnostics: one edge from each
    assert {e.source for e in tree.edges if e.target == "decision-0"} == {
        "diag-since_rollout",
        "diag-error_rate",
        "diag-latency_p99",
    }


def test_the_tree_is_well_formed_svg_with_every_text_escaped() -> None:
    runbook = _runbook()
    hostile = runbook.model_copy(update={"name": '<script>alert("x")</script> & co'})
    svg = str(render_tree(decision_tree(hostile), title=hostile.name))
    root = ElementTree.fromstring(svg)  # parses: nothing broke out of an attribute or element
    assert root.tag.endswith("svg")
    assert "<script>" not in svg
    assert root.get("aria-label") == '<script>alert("x")</script> & co'
    nodes = list(root.iter("{http://www.w3.org/2000/svg}g"))
    assert len(nodes) == len(runbook.diagnostics) + len(runbook.decision_tree) + len(runbook.remediations)


def test_a_sparkline_needs_two_finite_samples() -> None:
    assert str(sparkline([{"time": 1, "value": 2.0}], label="x")) == ""
    assert str(sparkline([{"time": 1, "value": math.nan}, {"time": 2, "value": 1.0}], label="x")) == ""
    line = str(
        sparkline([{"time": 1, "value": 1.0}, {"time": 2, "value": 3.0}, {"time": 3, "value": None}], label="<l>")
    )
    root = ElementTree.fromstring(line)
    points = root.find("{http://www.w3.org/2000/svg}polyline").get("points")  # type: ignore[union-attr]
    assert len(points.split()) == 2  # type: ignore[union-attr]
    assert "min 1" in line
    assert "max 3" in line
    assert "&lt;l&gt;" in line


def test_a_column_chart_without_values_says_so() -> None:
    empty = str(column_chart([("01 Jan", None), ("08 Jan", None)], title="MTTR"))
    assert "no data" in empty
    bars = ElementTree.fromstring(str(column_chart([("a", 1.0), ("b", 4.0), ("c", None)], title="t")))
    heights = [float(r.get("height", 0)) for r in bars.iter("{http://www.w3.org/2000/svg}rect")]
    assert len(heights) == 2
    assert heights[1] == 4 * heights[0]
