"""The store: our own tables (incidents, timeline, action runs), beside DBOS's in one database."""

from __future__ import annotations

from handrail.store.incidents import SqlIncidentStore, create_engine
from handrail.store.records import (
    ActionRun,
    ActionStatus,
    IncidentRecord,
    IncidentState,
    NewIncident,
    TimelineRecord,
)

__all__ = [
    "ActionRun",
    "ActionStatus",
    "IncidentRecord",
    "IncidentState",
    "NewIncident",
    "SqlIncidentStore",
    "TimelineRecord",
    "create_engine",
]
