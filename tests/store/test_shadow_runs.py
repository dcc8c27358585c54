"""Shadow runs in the store (#15): written beside the incident they ride with, never listed, counted or joined."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from handrail.store import IncidentState, NewIncident, SqlIncidentStore
from handrail.store.figures import ShadowTally, shadow_tallies, store_figures

ACTIVE = {"id": "db-slow", "name": "DB slow", "severity": "P2", "service": "db"}
SHADOW = {**ACTIVE, "id": "db-slow-v2", "shadowOf": "db-slow"}


@pytest.fixture
def store(any_store: SqlIncidentStore) -> SqlIncidentStore:
    return any_store


def incident(incident_id: str, key: str = "k") -> NewIncident:
    return NewIncident(incident_id, ACTIVE, key, "alert", "alertmanager", {"pod": "a"}, {}, False)


def open_with_shadow(store: SqlIncidentStore, incident_id: str, shadow_id: str, key: str = "k") -> None:
    shadow = replace(incident(shadow_id, f"shadow|{incident_id}|db-slow-v2"), runbook=SHADOW, shadow_of=incident_id)
    record, opened = store.open_or_join(incident(incident_id, key), on_open=lambda c: store.add_shadow(c, shadow))
    assert opened
    assert record.id == incident_id


def test_a_shadow_run_is_written_with_its_incident_and_only_read_beside_it(store: SqlIncidentStore) -> None:
    open_with_shadow(store, "INC-1", "INC-S1")
    shadow = store.get("INC-S1")
    assert shadow is not None
    assert shadow.shadow_of == "INC-1"
    assert shadow.is_shadow
    assert (shadow.runbook_id, dict(shadow.labels), shadow.trigger_type) == ("db-slow-v2", {"pod": "a"}, "alert")
    assert [r.id for r in store.find()] == ["INC-1"]
    assert [r.id for r in store.find(runbook_id="db-slow-v2")] == []
    assert [r.id for r in store.shadows("INC-1")] == ["INC-S1"]
    assert store.shadows("INC-S1") == []
    assert "shadow of INC-1" in store.timeline("INC-S1")[0].message


def test_a_shadow_run_is_never_joined_and_never_holds_a_dedup_key(store: SqlIncidentStore) -> None:
    open_with_shadow(store, "INC-1", "INC-S1")
    # a manual trigger may bring any key, the shadow's too: it opens an incident of its own
    record, opened = store.open_or_join(incident("INC-2", "shadow|INC-1|db-slow-v2"))
    assert opened
    assert record.id == "INC-2"
    assert store.find_open_by_dedup_key("shadow|INC-1|db-slow-v2").id == "INC-2"  # type: ignore[union-attr]
    record, opened = store.open_or_join(incident("INC-3", "k"))
    assert not opened
    assert record.id == "INC-1"
    assert store.get("INC-S1").joins == 0  # type: ignore[union-attr]


def test_figures_count_no_shadow_run_and_tally_agreement(store: SqlIncidentStore) -> None:
    for number, (active_plan, shadow_plan) in enumerate(
        [(["restart"], ["restart"]), (["restart"], ["kill_idle"]), (["page"], ["page"])]
    ):
        open_with_shadow(store, f"INC-{number}", f"INC-S{number}", key=f"k{number}")
        store.set_assessment(f"INC-{number}", {"overall": "critical"}, active_plan, "critical")
        store.set_assessment(f"INC-S{number}", {"overall": "critical"}, shadow_plan, "critical")
        store.transition(f"INC-S{number}", IncidentState.RECORDED, "shadow run: plan recorded")
    open_with_shadow(store, "INC-9", "INC-S9", key="k9")  # the shadow has not planned yet: not compared
    store.set_assessment("INC-9", {"overall": "critical"}, ["restart"], "critical")
    figures = store_figures(store.engine, since=datetime.now(UTC) - timedelta(hours=1))
    assert sorted(figures.incidents) == [("triggered", "db-slow", 4)]
    assert figures.shadows == [ShadowTally("db-slow", "db-slow-v2", runs=3, agreements=2)]
    assert shadow_tallies(store.engine, runbook_id="db-slow-v2") == figures.shadows
    assert shadow_tallies(store.engine, runbook_id="other") == []


def test_a_shadow_run_without_the_incident_it_rides_beside_is_refused(store: SqlIncidentStore) -> None:
    with pytest.raises(ValueError, match="names the incident"):
        store.open_or_join(incident("INC-1"), on_open=lambda c: store.add_shadow(c, incident("INC-S1", "x")))
    assert store.get("INC-1") is None  # the whole transaction went
    with store.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM handrail_incidents")).scalar_one() == 0
