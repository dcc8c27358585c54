"""Whatever text reaches the store, PostgreSQL takes it: from alerts, people, probes and actions.

PostgreSQL refuses NUL in text and values longer than a column; before store/schema.py's text
types, one NUL in a diagnostic's message or an action's output, or an approval reason past 256
characters, failed the engine's step (and the incident with it), and the API answered 500 (#9).
Here any text goes into every text the store writes, and reads back as stored: NUL as U+FFFD,
descriptions and names cut to their column, keys whole (a long dedup key as its digest).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from hypothesis import given

from handrail.store import ActionStatus, NewIncident, SqlIncidentStore
from handrail.store.incidents import create_engine
from support.engine import postgres_database
from support.fuzzing import fuzz_settings, hostile_text

RUNBOOK = {"id": "store-fuzz", "name": "Store Fuzz", "severity": "P3", "service": "fuzzing"}


@pytest.fixture(scope="module")
def store() -> Iterator[SqlIncidentStore]:
    with postgres_database() as url:
        store = SqlIncidentStore(create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1)))
        store.migrate()
        yield store
        store.engine.dispose()


def stored(text: str) -> str:
    return text.replace("\x00", "\ufffd")


def cut(text: str, length: int) -> str:
    text = stored(text)
    return text if len(text) <= length else text[: length - 1] + "…"


@fuzz_settings(60)
@given(key=hostile_text(), label=hostile_text(), by=hostile_text(), message=hostile_text(300), reason=hostile_text(300))
def test_any_text_is_stored_and_read_back_as_stored(
    store: SqlIncidentStore, key: str, label: str, by: str, message: str, reason: str
) -> None:
    incident_id = f"INC-{uuid.uuid4().hex[:12].upper()}"
    dedup_key = f"{incident_id}|{key}|" * 30  # past its column (512)
    new = NewIncident(incident_id, RUNBOOK, dedup_key, "alert", by, {"pod": label}, {"summary": label}, False)
    record, opened = store.open_or_join(new)
    assert opened
    assert store.find_open_by_dedup_key(dedup_key) == record  # still finds its incident
    assert record.labels == {"pod": label}  # JSON keeps even a NUL
    assert record.triggered_by == cut(by, 256)
    store.record(incident_id, "diagnostic", message, actor=by, data={"raw": message})
    action_key = f"{incident_id}:fix:1"
    store.record_intent(
        action_key,
        incident_id=incident_id,
        remediation_id="fix",
        attempt=1,
        action_type="run_script",
        description=message,
        target=f"command:{label}",
        approved_by=f"alice ({reason})",  # the approval's reason, as the engine writes it
    )
    run = store.finish_action(action_key, ActionStatus.SUCCEEDED, message, output=message)
    event = store.timeline(incident_id)[-1]
    assert (event.message, event.actor, event.data) == (stored(message), cut(by, 256), {"raw": message})
    assert (run.description, run.message, run.output) == (stored(message),) * 3
    assert run.approved_by == cut(f"alice ({reason})", 256)
    assert store.get(f"{incident_id}\x00") is None  # a lookup with a NUL finds nothing, and fails nothing
