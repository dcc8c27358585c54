"""Load a scenario file against its runbook: every name it uses must exist there, or a problem says where.

Reading and the shape use the runbook machinery (`runbook/source.py`, strict pydantic models,
`validation_problems`), so a broken scenario file gets `path:line:col: HRnnn message` with the
same codes as a runbook file. A scenario that names a diagnostic the runbook lacks, a name its
probe does not provide, a decision or a remediation the runbook does not have is an error at
that key or value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from handrail.diagnostics import DIAGNOSTIC_PARAMS
from handrail.diagnostics.base import ProbeParams
from handrail.engine.assessment import Status
from handrail.errors import RunbookError
from handrail.runbook.load import did_you_mean, format_path, validation_problems
from handrail.runbook.model import Diagnostic, Runbook
from handrail.runbook.problem import Problem
from handrail.runbook.source import Document, DocumentPath, read_document
from handrail.scenarios.model import ExpectSpec, ScenarioFileSpec, ScenarioSpec

__all__ = [
    "ERROR_KEY",
    "TIMEOUT",
    "Expectation",
    "LoadedScenarios",
    "Scenario",
    "SimulatedOutput",
    "load_scenario_file",
]

ERROR_KEY = "error"
"""`{error: text}` makes the probe fail with that message."""
TIMEOUT = "timeout"
"""`{error: timeout}` makes the probe run out of time, as a real timeout does."""


@dataclass(frozen=True, slots=True)
class SimulatedOutput:
    """What one probe returns in a scenario: raw values by the names its type provides, or an error."""

    values: Mapping[str, Any]
    error: str | None = None
    message: str | None = None
    """The probe's message (a replay gives the recorded one); `simulated output` when None."""


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a scenario asserts; None is "not checked"."""

    statuses: Mapping[str, Status] | None = None
    decisions: tuple[int, ...] | None = None
    """0-based positions in the runbook's `decisionTree`, sorted."""
    remediations: tuple[str, ...] | None = None
    wait_for_approval: tuple[str, ...] | None = None
    escalates: bool | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    """One scenario, resolved against its runbook (decisions by index)."""

    name: str
    path: str
    line: int
    labels: Mapping[str, str]
    outputs: Mapping[str, SimulatedOutput]
    expect: Expectation


@dataclass(frozen=True, slots=True)
class LoadedScenarios:
    """A scenario file as read: the scenarios (only when it has no problem) and its problems."""

    path: str
    scenarios: tuple[Scenario, ...]
    problems: tuple[Problem, ...]


def load_scenario_file(path: Path | str, runbook: Runbook | None, *, display: str | None = None) -> LoadedScenarios:
    """Read, validate and resolve one scenario file; without a runbook only its shape is checked."""
    shown = display or str(path)
    try:
        document = read_document(path, display=shown)
    except RunbookError as exc:
        return LoadedScenarios(shown, (), tuple(exc.problems))
    try:
        spec = ScenarioFileSpec.model_validate(document.data)
    except ValidationError as exc:
        invalid = validation_problems(exc, document, model=ScenarioFileSpec)
        return LoadedScenarios(shown, (), _sorted([_reworded(problem) for problem in invalid]))
    if runbook is None:
        return LoadedScenarios(shown, (), ())
    resolver = _Resolver(runbook, document)
    scenarios = tuple(resolver.scenario(index, item, spec.labels) for index, item in enumerate(spec.scenarios))
    resolver.check_unique_names(spec.scenarios)
    found = _sorted(resolver.problems)
    return LoadedScenarios(shown, () if found else scenarios, found)


class _Resolver:
    """Checks one file's scenarios against the runbook, collecting problems at their places."""

    def __init__(self, runbook: Runbook, document: Document) -> None:
        self.runbook = runbook
        self.document = document
        self.problems: list[Problem] = []
        self.params = {d.id: _params(d) for d in runbook.diagnostics}

    def problem(self, at: DocumentPath, code: str, message: str, *, key: bool = False) -> None:
        self.problems.append(Problem(self.document.path, self.document.position(at, key=key), code, message))

    def scenario(self, index: int, spec: ScenarioSpec, file_labels: Mapping[str, str]) -> Scenario:
        at: DocumentPath = ("scenarios", index)
        outputs = self.outputs((*at, "diagnostics"), spec.diagnostics)
        expect = self.expectation((*at, "expect"), spec.expect)
        line = self.document.position(at).line
        return Scenario(spec.name, self.document.path, line, {**file_labels, **spec.labels}, outputs, expect)

    def outputs(self, at: DocumentPath, given: Mapping[str, Mapping[str, Any]]) -> dict[str, SimulatedOutput]:
        known = [d.id for d in self.runbook.diagnostics]
        outputs: dict[str, SimulatedOutput] = {}
        misspelt: set[str] = set()
        for diagnostic_id, raw in given.items():
            diagnostic = self.runbook.diagnostic(diagnostic_id)
            if diagnostic is None:
                hint = did_you_mean(diagnostic_id, known)
                if hint:
                    misspelt.add(hint.split("'")[1])
                hint = hint or f"; the runbook's diagnostics are {_listed(known)}"
                message = f"unknown key '{diagnostic_id}' in {format_path(at)}: the runbook has no such diagnostic"
                self.problem((*at, diagnostic_id), "HR104", message + hint, key=True)
                continue
            output = self.output((*at, diagnostic_id), diagnostic, raw)
            if output is not None:
                outputs[diagnostic_id] = output
        missing = [d for d in known if d not in given and d not in misspelt]  # a misspelling is reported once
        if missing:
            message = (
                f"missing simulated output in {format_path(at)} for {_listed(missing)}"
                f" (give every diagnostic its probe's values, or `error: <message>`)"
            )
            self.problem(at, "HR101", message, key=True)
        self.check_same_probe(at, outputs)
        return outputs

    def output(self, at: DocumentPath, diagnostic: Diagnostic, raw: Mapping[str, Any]) -> SimulatedOutput | None:
        if ERROR_KEY in raw:
            others = [key for key in raw if key != ERROR_KEY]
            if others:
                message = f"{format_path(at)}: give either `error` or the probe's values, not both"
                self.problem((*at, others[0]), "HR105", message, key=True)
                return None
            error = raw[ERROR_KEY]
            if not isinstance(error, str) or not error.strip():
                message = f"{format_path((*at, ERROR_KEY))}: expected the probe's error message (or `timeout`)"
                self.problem((*at, ERROR_KEY), "HR102", message)
                return None
            return SimulatedOutput({}, error)
        params = self.params[diagnostic.id]
        provided = list(params.provided_names()) if params is not None else []
        ok = True
        for name in raw:
            if name in provided or params is None:
                continue
            ok = False
            if name in diagnostic.derive:
                hint = f"; '{name}' is computed by `derive` from the probe's values ({_listed(provided)})"
            else:
                hint = did_you_mean(name, provided) or f"; {diagnostic.type} provides {_listed(provided)}"
            message = f"unknown key '{name}' in {format_path(at)}: {diagnostic.type} does not provide it{hint}"
            self.problem((*at, name), "HR104", message, key=True)
        return SimulatedOutput(dict(raw)) if ok else None

    def check_same_probe(self, at: DocumentPath, outputs: Mapping[str, SimulatedOutput]) -> None:
        """Two diagnostics with the same type and config make the same observation; a scenario cannot split them."""
        diagnostics = [d for d in self.runbook.diagnostics if d.id in outputs and self.params[d.id] is not None]
        for position, second in enumerate(diagnostics):
            for first in diagnostics[:position]:
                same = first.type == second.type and self.params[first.id] == self.params[second.id]
                if same and outputs[first.id] != outputs[second.id]:
                    message = (
                        f"{format_path((*at, second.id))}: '{second.id}' runs the same {second.type} probe with the"
                        f" same config as '{first.id}', so it sees the same output; give both the same values"
                    )
                    self.problem((*at, second.id), "HR105", message, key=True)
                    break

    def expectation(self, at: DocumentPath, spec: ExpectSpec) -> Expectation:
        statuses = None
        if spec.statuses is not None:
            statuses = {}
            known = [d.id for d in self.runbook.diagnostics]
            for diagnostic_id, status in spec.statuses.items():
                if diagnostic_id not in known:
                    where = format_path((*at, "statuses"))
                    hint = did_you_mean(diagnostic_id, known) or f"; the runbook's diagnostics are {_listed(known)}"
                    message = f"unknown key '{diagnostic_id}' in {where}: the runbook has no such diagnostic{hint}"
                    self.problem((*at, "statuses", diagnostic_id), "HR104", message, key=True)
                    continue
                statuses[diagnostic_id] = Status(status)
        decisions = None
        if spec.decisions is not None:
            found = (self.decision((*at, "decisions", i), item) for i, item in enumerate(spec.decisions))
            decisions = tuple(sorted({index for index in found if index is not None}))
        remediations = self.remediation_ids((*at, "remediations"), spec.remediations)
        approvals = self.remediation_ids((*at, "waitForApproval"), spec.wait_for_approval)
        return Expectation(statuses, decisions, remediations, approvals, spec.escalates)

    def decision(self, at: DocumentPath, reference: object) -> int | None:
        """A decision named by its 1-based position, its description, or `otherwise`: its 0-based index."""
        tree = self.runbook.decision_tree
        where = format_path(at)
        if isinstance(reference, int) and not isinstance(reference, bool):
            if 1 <= reference <= len(tree):
                return reference - 1
            message = f"{where}: the runbook has no decision {reference} (its decisionTree has {len(tree)})"
            self.problem(at, "HR103", message)
            return None
        if not isinstance(reference, str):
            message = f"{where}: expected a decision's position in decisionTree (1, 2, ...) or its description"
            self.problem(at, "HR102", message)
            return None
        matches = [i for i, d in enumerate(tree) if d.description == reference]
        if not matches and reference == "otherwise":
            matches = [i for i, d in enumerate(tree) if d.otherwise]
        if len(matches) == 1:
            return matches[0]
        if matches:
            numbers = ", ".join(str(i + 1) for i in matches)
            self.problem(at, "HR103", f"{where}: decisions {numbers} share this description; name one by its position")
            return None
        shown = reference if len(reference) <= 60 else reference[:57] + "..."
        hint = did_you_mean(reference, [d.description for d in tree])
        message = f"{where}: the runbook has no decision described '{shown}'{hint}"
        self.problem(at, "HR103", message)
        return None

    def remediation_ids(self, at: DocumentPath, given: Sequence[str] | None) -> tuple[str, ...] | None:
        if given is None:
            return None
        known = [r.id for r in self.runbook.remediations]
        for index, remediation_id in enumerate(given):
            if remediation_id not in known:
                hint = did_you_mean(remediation_id, known) or f"; its remediations are {_listed(known)}"
                message = f"{format_path((*at, index))}: the runbook has no remediation '{remediation_id}'{hint}"
                self.problem((*at, index), "HR103", message)
        return tuple(given)

    def check_unique_names(self, specs: Sequence[ScenarioSpec]) -> None:
        first: dict[str, int] = {}
        for index, spec in enumerate(specs):
            if spec.name in first:
                where = format_path(("scenarios", first[spec.name]))
                message = f"scenario name '{spec.name}' is already used by {where}"
                self.problem(("scenarios", index, "name"), "HR301", message)
            else:
                first[spec.name] = index


def _params(diagnostic: Diagnostic) -> ProbeParams | None:
    """The diagnostic's validated config; None when it does not validate (lint reports that as HR306)."""
    try:
        return DIAGNOSTIC_PARAMS[diagnostic.type].model_validate(diagnostic.config)
    except ValidationError:
        return None


def _reworded(problem: Problem) -> Problem:
    """`validation_problems` names the top of a file "the runbook"; here it is a scenario file."""
    message = problem.message.replace("in the runbook", "at the top of the scenario file")
    return Problem(problem.path, problem.position, problem.code, message)


def _listed(names: Sequence[str]) -> str:
    return ", ".join(f"'{name}'" for name in names) if names else "nothing"


def _sorted(problems: Sequence[Problem]) -> tuple[Problem, ...]:
    return tuple(sorted(problems, key=lambda p: (p.position.line, p.position.column, p.code)))
