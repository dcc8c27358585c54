"""IncidentService holds input to `api.limits` by any route, raises typed errors, and waits without blocking."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from handrail.engine.service import IncidentRecord, IncidentService
from handrail.errors import IncidentConflictError, IncidentError, IncidentNotFoundError, InputLimitError
from handrail.limits import InputLimits
from handrail.runbook.model import Runbook
from handrail.store import NewIncident, SqlIncidentStore, create_engine

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


class NoClient:
    """A DBOS client nothing may reach: reading incidents needs none."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the DBOS client's {name} was reached")


def stored_service(tmp_path: Path) -> IncidentService:
    store = SqlIncidentStore(create_engine(f"sqlite:///{tmp_path / 's.db'}"))
    store.migrate()
    return IncidentService(store, NoClient())  # type: ignore[arg-type]


def _open(service: IncidentService, incident_id: str) -> None:
    runbook = RUNBOOK.model_dump(mode="json", by_alias=True, exclude_none=True)
    new = NewIncident(incident_id, runbook, "k", "manual", "t", {}, {}, dry_run=False)
    service.store.open_or_join(new)


def test_waiting_for_an_assessment_ends_at_its_timeout_and_returns_the_incident_once_it_has_one(
    tmp_path: Path,
) -> None:
    service = stored_service(tmp_path)
    _open(service, "INC-1")
    assert asyncio.run(service.wait_for_assessment("INC-1", timeout=0.2, interval=0.05)) is None

    async def assessed_meanwhile() -> IncidentRecord | None:
        waiting = asyncio.create_task(service.wait_for_assessment("INC-1", timeout=30, interval=0.05))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        await service.pool.run(service.store.set_assessment, "INC-1", {"diagnosticResults": []}, [], "healthy")
        return await waiting

    record = asyncio.run(assessed_meanwhile())
    assert record is not None
    assert record.assessment == {"diagnosticResults": []}
    service.pool.close()


@pytest.mark.parametrize(
    ("call", "error"),
    [
        pytest.param(lambda s: s.get("INC-NOPE"), IncidentNotFoundError, id="get"),
        pytest.param(lambda s: s.story("INC-NOPE"), IncidentNotFoundError, id="story"),
        pytest.param(lambda s: s.note("INC-NOPE", "x", actor="a"), IncidentNotFoundError, id="note"),
        pytest.param(lambda s: s.decide("INC-NOPE", "page", "approve", actor="a"), IncidentNotFoundError, id="decide"),
        pytest.param(lambda s: s.decide("INC-1", "page", "approve", actor="a"), IncidentConflictError, id="no-gate"),
        pytest.param(lambda s: s.decide("INC-1", "nope", "done", actor="a"), IncidentConflictError, id="no-such-step"),
        pytest.param(lambda s: s.note("INC-1", "  ", actor="a"), IncidentConflictError, id="empty-note"),
    ],
)
def test_the_service_raises_a_typed_error_each_face_answers_by_its_type(
    tmp_path: Path, call: Callable[[IncidentService], Coroutine[Any, Any, object]], error: type[IncidentError]
) -> None:
    service = stored_service(tmp_path)
    _open(service, "INC-1")
    with pytest.raises(error):
        asyncio.run(call(service))
    service.pool.close()
