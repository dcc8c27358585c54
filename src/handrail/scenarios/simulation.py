"""Probes that answer from a scenario instead of the world, behind the same `Probe` protocol.

The assessment hands a probe only its params and context, so a simulated probe finds the
diagnostic by its config (two diagnostics with the same type and config are one observation;
`scenarios/load.py` refuses scenarios that give them different output). Like a real probe it
renders the config's `{{ ... }}` placeholders first, so a label the scenario lacks makes the
diagnostic read `error`, as it would in production.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from handrail.diagnostics import DIAGNOSTIC_PARAMS
from handrail.diagnostics.base import Observation, Probe, ProbeContext, ProbeParams
from handrail.errors import ProbeError, TemplateError
from handrail.runbook.model import Runbook
from handrail.runbook.template import has_placeholders, render_text
from handrail.scenarios.load import TIMEOUT, SimulatedOutput

__all__ = ["SIMULATED_MESSAGE", "SimulatedProbe", "simulated_probes"]

SIMULATED_MESSAGE = "simulated output"


@dataclass(frozen=True, slots=True)
class _Answer:
    params: ProbeParams
    config: Mapping[str, Any]
    output: SimulatedOutput


class SimulatedProbe:
    """Answers one diagnostic type from a scenario: the output given for the diagnostic with these params."""

    def __init__(self, answers: list[_Answer]) -> None:
        self._answers = answers

    async def observe(self, params: ProbeParams, context: ProbeContext) -> Observation:
        answer = next((a for a in self._answers if a.params == params), None)
        if answer is None:
            raise ProbeError("the scenario gives no output for this diagnostic")
        for text in _strings(answer.config):
            if has_placeholders(text):
                try:
                    render_text(text, context.template)
                except TemplateError as exc:
                    raise ProbeError(f"config: {exc}") from exc
        if answer.output.error == TIMEOUT:
            raise TimeoutError
        if answer.output.error is not None:
            raise ProbeError(answer.output.error)
        # A name the scenario leaves out reads as null: no data, which never reads as healthy.
        values: dict[str, Any] = dict.fromkeys(params.provided_names()) | dict(answer.output.values)
        return Observation(values, answer.output.message or SIMULATED_MESSAGE)

    async def aclose(self) -> None:
        """Nothing to release."""


def simulated_probes(runbook: Runbook, outputs: Mapping[str, SimulatedOutput]) -> dict[str, Probe[Any]]:
    """One simulated probe per diagnostic type the runbook uses, answering with `outputs` (by diagnostic id)."""
    answers: dict[str, list[_Answer]] = {}
    for diagnostic in runbook.diagnostics:
        output = outputs.get(diagnostic.id)
        if output is None:
            continue
        try:
            params = DIAGNOSTIC_PARAMS[diagnostic.type].model_validate(diagnostic.config)
        except ValidationError:
            continue  # the assessment reports the invalid config itself, before it asks a probe
        answers.setdefault(diagnostic.type, []).append(_Answer(params, diagnostic.config, output))
    return {kind: SimulatedProbe(found) for kind, found in answers.items()}


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
