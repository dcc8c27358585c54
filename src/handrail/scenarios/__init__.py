"""Runbook tests (`handrail test`): scenario files beside runbooks, run through the real assessment with
simulated probes, checked against their expectations, with decision-tree coverage (docs/runbook-tests.md)."""

from __future__ import annotations

from handrail.scenarios.coverage import Coverage, Tally, measure_coverage
from handrail.scenarios.junit import junit_xml
from handrail.scenarios.load import Expectation, LoadedScenarios, Scenario, SimulatedOutput, load_scenario_file
from handrail.scenarios.run import Difference, ScenarioOutcome, run_scenario
from handrail.scenarios.suite import RunbookReport, SuiteReport, run_suite

__all__ = [
    "Coverage",
    "Difference",
    "Expectation",
    "LoadedScenarios",
    "RunbookReport",
    "Scenario",
    "ScenarioOutcome",
    "SimulatedOutput",
    "SuiteReport",
    "Tally",
    "junit_xml",
    "load_scenario_file",
    "measure_coverage",
    "run_scenario",
    "run_suite",
]
