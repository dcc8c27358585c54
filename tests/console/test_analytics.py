"""Analytics: incidents per week and per runbook, MTTA and MTTR, what fires and what resolves."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from handrail.console.analytics import analyse
from handrail.store import IncidentRecord, IncidentState

TODAY = date(2026, 11, 26)  # a Thursday


def incident(
    opened: datetime,
    *,
    runbook: str = "db",
    acked: float | None = None,
    resolved: float | None = None,
    state: IncidentState = IncidentState.RESOLVED,
    escalated: bool = False,
    fired: tuple[str, ...] = (),
    plan: tuple[str, ...] = (),
    dry_run: bool = False,
) -> IncidentRecord:
    """An incident opened at `opened`, acknowledged and closed `acked`/`resolved` minutes later."""

    def later(minutes: float | None) -> datetime | None:
        return opened + timedelta(minutes=minutes) if minutes is not None else None

    fields: dict[str, Any] = {
        "id": f"INC-{opened:%d%H%M%S}-{runbook}",
        "runbook_id": runbook,
        "title": runbook,
        "severity": "P2",
        "service": "s",
        "runbook": {},
        "state": state,
        "is_open": not state.is_final,
        "dedup_key": "k",
        "trigger_type": "manual",
        "triggered_by": "t",
        "labels": {},
        "annotations": {},
        "dry_run": dry_run,
        "waiting_for": None,
        "plan": list(plan),
        "assessment": {"decisions": [{"description": d, "matched": True} for d in fired]},
        "overall_severity": "critical",
        "escalated": escalated,
        "acknowledged_by": "a" if acked is not None else None,
        "acknowledged_at": later(acked),
        "created_at": opened,
        "updated_at": opened,
        "mitigated_at": None,
        "escalated_at": None,
        "closed_at": later(resolved),
        "joins": 0,
    }
    return IncidentRecord(**fields)


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def test_weeks_run_monday_to_sunday_with_mean_times_in_minutes() -> None:
    this_monday = date(2026, 11, 23)
    records = [
        incident(at(this_monday), acked=2, resolved=10, fired=("pool full",), plan=("kill",)),
        incident(at(this_monday + timedelta(days=3)), acked=4, resolved=30, fired=("pool full",), plan=("kill",)),
        incident(at(this_monday - timedelta(days=1)), acked=10, resolved=60),  # Sunday: the week before
        incident(at(this_monday - timedelta(weeks=20))),  # outside the window
        incident(at(this_monday), acked=1, resolved=1, dry_run=True),  # rehearsals do not count
    ]
    result = analyse(records, today=TODAY, weeks=4)
    assert [w.label for w in result.weeks] == ["02 Nov", "09 Nov", "16 Nov", "23 Nov"]
    assert [w.incidents for w in result.weeks] == [0, 0, 1, 2]
    assert result.weeks[-1].mtta_minutes == 3.0
    assert result.weeks[-1].mttr_minutes == 20.0
    assert result.weeks[-2].mttr_minutes == 60.0
    assert result.weeks[0].mtta_minutes is None
    assert result.since == date(2026, 11, 2)


def test_per_runbook_decisions_and_what_remediations_lead_to() -> None:
    monday = date(2026, 11, 23)
    records = [
        incident(at(monday), runbook="db", resolved=5, fired=("pool full",), plan=("kill",)),
        incident(at(monday, 13), runbook="db", resolved=50, fired=("pool full",), plan=("kill",), escalated=True),
        incident(at(monday, 14), runbook="db", state=IncidentState.ESCALATED, fired=("pool full",), plan=("kill",)),
        incident(at(monday, 15), runbook="web", state=IncidentState.CANCELLED, fired=("slow",), plan=("restart",)),
    ]
    result = analyse(records, today=TODAY, weeks=1)
    db, web = result.runbooks
    assert (db.label, db.incidents, db.resolved, db.escalated) == ("db", 3, 2, 1)
    assert db.mttr_minutes == 27.5  # (5 + 50) / 2; the open one is not resolved yet
    assert (web.label, web.incidents, web.resolved) == ("web", 1, 0)
    assert result.decisions == (("db", "pool full", 3), ("web", "slow", 1))
    kill, restart = result.remediations
    assert (kill.remediation, kill.planned, kill.resolved, kill.escalated) == ("kill", 2, 1, 1)  # open ones wait
    assert (restart.remediation, restart.planned, restart.resolved) == ("restart", 1, 0)
