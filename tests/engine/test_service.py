"""IncidentService holds what people and alerts send to `api.limits`, whichever route it came by."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from handrail.engine.service import IncidentService
from handrail.errors import IncidentError, InputLimitError
from handrail.limits import InputLimits
from handrail.runbook.model import Runbook

RUNBOOK = Runbook.model_validate(
    {
        "id": "r",
        "name": "R",
        "description": "d",
        "severity": "P3",
        "service": "s",
        "triggers": [{"type": "manual"}],
        "diagnostics": [],
        "decisionTree": [{"otherwise": True, "then": ["page"], "description": "d"}],
        "remediations": [{"id": "page", "name": "Page", "description": "d", "type": "escalate"}],
        "escalation": {"primary": "#x", "escalateAfterMinutes": 5},
    }
)


class Untouchable:
    """A store and a DBOS client in one, that fail the test when anything reaches them."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"{name} was reached: the limit must be checked first")


def service(**limits: int) -> IncidentService:
    return IncidentService(Untouchable(), Untouchable(), InputLimits.model_validate(limits))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        pytest.param(lambda s: s.note("INC-1", "n" * 10_001, actor="a"), "text", id="note"),
        pytest.param(lambda s: s.decide("INC-1", "x", "approve", actor="a", reason="r" * 2001), "reason", id="decide"),
        pytest.param(lambda s: s.resolve("INC-1", actor="a", reason="r" * 2001), "reason", id="resolve"),
        pytest.param(lambda s: s.cancel("INC-1", actor="a", reason="r" * 2001), "reason", id="cancel"),
        pytest.param(
            lambda s: s.trigger(
                RUNBOOK, trigger_type="alert", triggered_by="a", labels={"a": "v" * (20 * 1024 * 1024)}
            ),
            "labels.a",
            id="20-mib-label",
        ),
        pytest.param(
            lambda s: s.trigger(RUNBOOK, trigger_type="manual", triggered_by="a", annotations={"d": "v" * 16_385}),
            "annotations.d",
            id="annotation",
        ),
    ],
)
def test_input_past_its_limit_is_refused_before_the_store_sees_it(
    call: Callable[[IncidentService], Coroutine[Any, Any, object]], field: str
) -> None:
    with pytest.raises(InputLimitError) as caught:
        asyncio.run(call(service()))
    assert caught.value.field == field
    assert isinstance(caught.value, IncidentError)  # the CLI, the console and Slack already show these


def test_raised_limits_let_a_longer_note_through_to_the_store() -> None:
    with pytest.raises(AssertionError, match="was reached"):
        asyncio.run(service(noteChars=20_000).note("INC-1", "n" * 15_000, actor="a"))
