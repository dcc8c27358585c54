"""`store_figures`: what `/metrics` reports from our tables, read at scrape time so every process agrees."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from handrail.store.schema import ACTION_RUNS, INCIDENTS, TIMELINE

__all__ = ["ShadowTally", "StoreFigures", "shadow_tallies", "store_figures"]


@dataclass(frozen=True, slots=True)
class ShadowTally:
    """How often a shadow version planned what the active runbook planned, over the runs whose plans both exist."""

    runbook: str
    """The active runbook's id."""
    shadow: str
    """The shadow version's runbook id."""
    runs: int
    """Shadow runs whose plan and whose active incident's plan are both recorded."""
    agreements: int
    """Of those, the runs that planned the same remediations in the same order."""


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
    shadows: list[ShadowTally] = field(default_factory=list)
    """Each shadow version's runs and agreements with its active runbook (#15)."""


def store_figures(engine: sa.Engine, *, since: datetime) -> StoreFigures:
    """Incidents by state and runbook, action runs by type and outcome, failed notifications, diagnostic durations."""
    with engine.connect() as connection:
        incidents = [
            (state, runbook, count)
            for state, runbook, count in connection.execute(
                sa.select(INCIDENTS.c.state, INCIDENTS.c.runbook_id, sa.func.count())
                .where(INCIDENTS.c.shadow_of.is_(None))  # a shadow's run is not an incident (#15)
                .group_by(INCIDENTS.c.state, INCIDENTS.c.runbook_id)
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
        shadows = _tallies(connection, None)
    return StoreFigures(incidents, actions, int(failed), dict(samples), shadows)


def shadow_tallies(engine: sa.Engine, *, runbook_id: str | None = None) -> list[ShadowTally]:
    """The shadow tallies (of one runbook, active or shadow, when given), by runbook and shadow id."""
    with engine.connect() as connection:
        return _tallies(connection, runbook_id)


def _tallies(connection: sa.Connection, runbook_id: str | None) -> list[ShadowTally]:
    shadow, active = INCIDENTS.alias("shadow"), INCIDENTS.alias("active")
    query = (
        sa.select(active.c.runbook_id, shadow.c.runbook_id, active.c.plan, shadow.c.plan)
        .join(active, active.c.id == shadow.c.shadow_of)
        .where(shadow.c.assessment.is_not(None), active.c.assessment.is_not(None))
    )
    if runbook_id is not None:
        query = query.where(sa.or_(active.c.runbook_id == runbook_id, shadow.c.runbook_id == runbook_id))
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for runbook, shadow_id, active_plan, shadow_plan in connection.execute(query):
        tally = counts[(runbook, shadow_id)]
        tally[0] += 1
        tally[1] += list(active_plan or []) == list(shadow_plan or [])
    return [ShadowTally(key[0], key[1], runs, agreed) for key, (runs, agreed) in sorted(counts.items())]
