"""`store_figures`: what `/metrics` reports from our tables, read at scrape time so every process agrees."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from handrail.store.schema import ACTION_RUNS, INCIDENTS, TIMELINE

__all__ = ["StoreFigures", "store_figures"]


@dataclass(frozen=True, slots=True)
class StoreFigures:
    incidents: list[tuple[str, str, int]] = field(default_factory=list)
    """(state, runbook id, count)."""
    action_runs: list[tuple[str, str, int]] = field(default_factory=list)
    """(action type, status, count)."""
    notification_failures: int = 0
    """Notifications given up after every retry."""
    diagnostic_seconds: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    """(runbook id, diagnostic id) → durations since `since`."""


def store_figures(engine: sa.Engine, *, since: datetime) -> StoreFigures:
    """Incidents by state and runbook, action runs by type and outcome, failed notifications, diagnostic durations."""
    with engine.connect() as connection:
        incidents = [
            (state, runbook, count)
            for state, runbook, count in connection.execute(
                sa.select(INCIDENTS.c.state, INCIDENTS.c.runbook_id, sa.func.count()).group_by(
                    INCIDENTS.c.state, INCIDENTS.c.runbook_id
                )
            )
        ]
        actions = [
            (kind, status, count)
            for kind, status, count in connection.execute(
                sa.select(ACTION_RUNS.c.action_type, ACTION_RUNS.c.status, sa.func.count()).group_by(
                    ACTION_RUNS.c.action_type, ACTION_RUNS.c.status
                )
            )
        ]
        failed = connection.execute(
            sa.select(sa.func.count())
            .select_from(TIMELINE)
            .where(TIMELINE.c.kind == "notification", TIMELINE.c.message.like("% could not deliver %"))
        ).scalar_one()
        query = (
            sa.select(INCIDENTS.c.runbook_id, TIMELINE.c.data)
            .join(INCIDENTS, INCIDENTS.c.id == TIMELINE.c.incident_id)
            .where(TIMELINE.c.kind == "diagnostic", TIMELINE.c.at >= since)
        )
        samples: dict[tuple[str, str], list[float]] = defaultdict(list)
        for runbook_id, data in connection.execute(query):
            if isinstance(data, dict) and isinstance(data.get("durationMs"), int | float):
                samples[(runbook_id, str(data.get("stepId")))].append(data["durationMs"] / 1000)
    return StoreFigures(incidents, actions, int(failed), dict(samples))
