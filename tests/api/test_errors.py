"""Errors the API answers on its own: a database that cannot be reached is a 503 to retry, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from handrail.api.errors import install_error_handlers
from handrail.errors import (
    FourEyesError,
    IncidentConflictError,
    IncidentError,
    IncidentForbiddenError,
    IncidentNotFoundError,
)
from handrail.store.incidents import create_engine
from support.api import TOKENS, api_client
from support.prometheus import closed_port

EXAMPLES = Path(__file__).parents[2] / "examples" / "runbooks"


def test_an_unreachable_database_is_a_503_with_retry_after(tmp_path: Path) -> None:
    with api_client(tmp_path, runbooks=EXAMPLES) as client, closed_port() as port:
        store = client.app.state.handrail.service.store  # type: ignore[attr-defined]
        store.engine = create_engine(f"postgresql://postgres@127.0.0.1:{port}/gone")
        store.reconnect_within = 0.3
        answer = client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {TOKENS['viewer']}"})
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert answer.json()["error"]["code"] == "unavailable"
    assert "Traceback" not in answer.text


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        pytest.param(IncidentNotFoundError("INC-1 is gone"), 404, "not_found", id="not-found"),
        pytest.param(IncidentConflictError("no incident may take this twice"), 409, "conflict", id="conflict"),
        pytest.param(IncidentForbiddenError("not yours to close"), 403, "forbidden", id="forbidden"),
        pytest.param(FourEyesError("no incident is approved by its opener"), 403, "four_eyes", id="four-eyes"),
        pytest.param(IncidentError("no incident fits"), 409, "conflict", id="any-other"),
    ],
)
def test_an_incident_error_is_answered_by_its_type_never_by_its_text(
    error: IncidentError, status: int, code: str
) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/fail")
    async def fail() -> None:
        raise error

    answer = TestClient(app).get("/fail")
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)
    assert answer.json()["error"]["message"] == str(error)
