"""A scenario passes only when every expectation it gives holds; each kind of difference is reported."""

from __future__ import annotations

import pytest

from handrail.engine import Status
from handrail.runbook.model import Runbook
from handrail.scenarios import Expectation, Scenario, SimulatedOutput, load_scenario_file, run_scenario

from .support import FIXTURES, load_runbook

DOWN = {
    "up": SimulatedOutput({"value": 0}),
    "latency": SimulatedOutput({"value": 0.2}),
    "health": SimulatedOutput({"any_unreachable": True, "all_healthy": False}),
}


@pytest.fixture(scope="module")
def tiny() -> Runbook:
    return load_runbook()


def _down(expect: Expectation, labels: dict[str, str] | None = None) -> Scenario:
    return Scenario("down", "x.test.yaml", 1, {"namespace": "shop"} if labels is None else labels, DOWN, expect)


async def test_every_scenario_of_the_tiny_file_passes(tiny: Runbook) -> None:
    loaded = load_scenario_file(FIXTURES / "tiny.test.yaml", tiny)
    outcomes = [await run_scenario(tiny, scenario) for scenario in loaded.scenarios]
    assert [(o.scenario.name, o.differences) for o in outcomes] == [(s.name, ()) for s in loaded.scenarios]
    assert outcomes[0].plan.awaiting_approval == ("restart",)
    assert outcomes[0].fired == (0,)


@pytest.mark.parametrize(
    ("expect", "difference"),
    [
        pytest.param(
            Expectation(statuses={"up": Status.HEALTHY}),
            "statuses.up: expected healthy, got critical (simulated output)",
            id="status",
        ),
        pytest.param(
            Expectation(decisions=(0, 1)),
            "decisions: expected [1, 2], got [1] (2: Slow — scale up and look)",
            id="decisions",
        ),
        pytest.param(
            Expectation(remediations=("scale", "restart")),
            "remediations: expected [scale, restart], got [restart]",
            id="remediations",
        ),
        pytest.param(
            Expectation(wait_for_approval=()),
            "waitForApproval: expected none, got [restart]",
            id="approval",
        ),
        pytest.param(Expectation(escalates=True), "escalates: expected true, got false", id="escalates"),
    ],
)
async def test_each_unmet_expectation_is_one_difference(tiny: Runbook, expect: Expectation, difference: str) -> None:
    outcome = await run_scenario(tiny, _down(expect))
    assert not outcome.passed
    assert [str(d) for d in outcome.differences] == [difference]


async def test_expectations_left_out_are_not_checked(tiny: Runbook) -> None:
    outcome = await run_scenario(tiny, _down(Expectation(escalates=False)))
    assert outcome.passed
    assert outcome.duration_ms > 0


async def test_a_missing_label_shows_as_the_status_it_causes(tiny: Runbook) -> None:
    outcome = await run_scenario(tiny, _down(Expectation(statuses={"up": Status.CRITICAL}), labels={}))
    (difference,) = outcome.differences
    assert difference.got == "error"
    assert "labels.namespace }} has no value" in difference.detail


async def test_planned_remediations_are_compared_in_plan_order(tiny: Runbook) -> None:
    slow = dict(DOWN, up=SimulatedOutput({"value": 1}), latency=SimulatedOutput({"value": 3}))
    in_order = Expectation(remediations=("scale", "look"), wait_for_approval=())
    assert (await run_scenario(tiny, Scenario("s", "x", 1, {"namespace": "a"}, slow, in_order))).passed
    swapped = Expectation(remediations=("look", "scale"))
    assert not (await run_scenario(tiny, Scenario("s", "x", 1, {"namespace": "a"}, slow, swapped))).passed


async def test_a_decision_that_cannot_be_evaluated_is_noted(tiny: Runbook) -> None:
    first = tiny.decision_tree[0].model_copy(update={"condition": "1 / 0 > 1"})
    broken = tiny.model_copy(update={"decision_tree": [first]})
    outcome = await run_scenario(broken, _down(Expectation(escalates=True)))
    assert outcome.decision_errors == ("decision 1: column 3: division by zero",)
    assert outcome.passed  # nothing fired, nothing planned: the incident escalates
