"""Coverage counts the decisions that fired and the statuses each diagnostic read, over every scenario."""

from __future__ import annotations

import pytest

from handrail.engine import Status
from handrail.runbook.model import Runbook
from handrail.scenarios import Tally, load_scenario_file, measure_coverage, run_scenario
from handrail.scenarios.coverage import possible_statuses

from .support import FIXTURES, load_runbook


@pytest.fixture(scope="module")
def tiny() -> Runbook:
    return load_runbook()


def test_possible_statuses_are_the_interpreted_ones_and_error(tiny: Runbook) -> None:
    assert [possible_statuses(d) for d in tiny.diagnostics] == [
        (Status.CRITICAL, Status.HEALTHY, Status.ERROR),
        (Status.WARNING, Status.HEALTHY, Status.ERROR),
        (Status.CRITICAL, Status.HEALTHY, Status.ERROR),
    ]


async def test_partial_coverage_names_what_no_scenario_exercised(tiny: Runbook) -> None:
    down = load_scenario_file(FIXTURES / "tiny.test.yaml", tiny).scenarios[0]
    coverage = measure_coverage(tiny, [(await run_scenario(tiny, down)).assessment])
    assert [d.index for d in coverage.missed_decisions] == [1, 2]
    assert [(s.diagnostic_id, s.status.value) for s in coverage.missed_statuses] == [
        ("up", "healthy"),
        ("up", "error"),
        ("latency", "warning"),
        ("latency", "error"),
        ("health", "healthy"),
        ("health", "error"),
    ]
    assert (coverage.decision_tally, coverage.status_tally) == (Tally(1, 3), Tally(3, 9))
    assert coverage.tally.percent == pytest.approx(100 * 4 / 12)


async def test_the_tiny_scenarios_cover_everything(tiny: Runbook) -> None:
    scenarios = load_scenario_file(FIXTURES / "tiny.test.yaml", tiny).scenarios
    coverage = measure_coverage(tiny, [(await run_scenario(tiny, s)).assessment for s in scenarios])
    assert coverage.missed_decisions == ()
    assert coverage.missed_statuses == ()
    assert coverage.tally == Tally(12, 12)


def test_no_scenario_is_zero_and_nothing_to_cover_is_full(tiny: Runbook) -> None:
    assert measure_coverage(tiny, []).tally.percent == 0.0
    assert Tally(0, 0).percent == 100.0
    assert str(Tally(3, 4) + Tally(1, 2)) == "4/6"
