"""Simulated probes answer at the Probe boundary, and the real assessment reads them like real ones."""

from __future__ import annotations

import pytest

from handrail.diagnostics.base import ProbeContext
from handrail.diagnostics.prometheus_query import PrometheusQueryParams
from handrail.engine import Status, assess
from handrail.errors import ProbeError
from handrail.runbook.model import Runbook
from handrail.scenarios.load import SimulatedOutput
from handrail.scenarios.simulation import SIMULATED_MESSAGE, simulated_probes

from .support import load_runbook

SHOP = ProbeContext(template={"labels": {"namespace": "shop"}, "annotations": {}})
UP = PrometheusQueryParams.model_validate({"query": 'up{job="tiny", namespace="{{ labels.namespace }}"}'})
LATENCY = PrometheusQueryParams.model_validate({"query": 'tiny_latency_p99{job="tiny"}'})


@pytest.fixture(scope="module")
def tiny() -> Runbook:
    return load_runbook()


def _outputs(**given: SimulatedOutput) -> dict[str, SimulatedOutput]:
    return {"up": SimulatedOutput({"value": 1}), "latency": SimulatedOutput({"value": 0.1}), **given}


async def test_probe_answers_by_config_and_leaves_other_names_null(tiny: Runbook) -> None:
    probe = simulated_probes(tiny, _outputs(latency=SimulatedOutput({"value": 2.5, "count": 1})))["prometheus_query"]
    up = await probe.observe(UP, SHOP)
    latency = await probe.observe(LATENCY, SHOP)
    assert up.values["value"] == 1
    assert latency.values["value"] == 2.5
    assert latency.values["count"] == 1
    assert set(latency.values) == set(LATENCY.provided_names())
    assert latency.values["empty"] is None
    assert latency.message == SIMULATED_MESSAGE


async def test_probe_raises_the_probe_error_or_a_timeout(tiny: Runbook) -> None:
    probes = simulated_probes(tiny, _outputs(up=SimulatedOutput({}, "Prometheus answered 503")))
    with pytest.raises(ProbeError, match="Prometheus answered 503"):
        await probes["prometheus_query"].observe(UP, SHOP)
    probes = simulated_probes(tiny, _outputs(up=SimulatedOutput({}, "timeout")))
    with pytest.raises(TimeoutError):
        await probes["prometheus_query"].observe(UP, SHOP)


async def test_probe_fails_like_a_real_one_when_a_template_label_is_missing(tiny: Runbook) -> None:
    probe = simulated_probes(tiny, _outputs())["prometheus_query"]
    with pytest.raises(ProbeError, match=r"labels.namespace }} has no value \(is the label missing\?\)"):
        await probe.observe(UP, ProbeContext())
    assert (await probe.observe(LATENCY, ProbeContext())).values["value"] == 0.1  # no template, no label needed


async def test_assessment_turns_simulated_failures_into_error_statuses(tiny: Runbook) -> None:
    outputs = {
        "up": SimulatedOutput({}, "timeout"),
        "latency": SimulatedOutput({}, "Prometheus answered 503"),
        "health": SimulatedOutput({"all_healthy": True, "any_unreachable": False}),
    }
    assessment = await assess(tiny, probes=simulated_probes(tiny, outputs), labels={"namespace": "shop"})
    up, latency, health = assessment.results
    assert (up.status, up.message) == (Status.ERROR, "timed out after 30s")
    assert (latency.status, latency.message) == (Status.ERROR, "Prometheus answered 503")
    assert health.status is Status.HEALTHY
    assert [d.index for d in assessment.decisions if d.matched] == [2]


async def test_assessment_runs_derive_on_simulated_values(tiny: Runbook) -> None:
    outputs = _outputs(latency=SimulatedOutput({"value": 1.5}), health=SimulatedOutput({"all_healthy": True}))
    assessment = await assess(tiny, probes=simulated_probes(tiny, outputs), labels={"namespace": "shop"})
    latency = assessment.result("latency")
    assert latency is not None
    assert (latency.status, latency.facts) == (Status.WARNING, {"slow": True})
    assert assessment.recommended_actions == ("scale", "look")
