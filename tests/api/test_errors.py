"""Errors the API answers on its own: a database that cannot be reached is a 503 to retry, never a traceback."""

from __future__ import annotations

from pathlib import Path

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
