"""Incident history as `handrail replay` reads it: one JSON object per line (docs/replay.md).

A line is the API's incident (`incident_summary`: id, runbookId, triggeredAt, state, labels, ...)
with four keys more: `annotations`, `plan`, `assessment` (as the engine recorded it: each
diagnostic's status, raw values and message) and `runbook` (the snapshot the incident ran).
`handrail incidents export` writes it from the store, where secrets are already redacted;
`handrail replay --history FILE` reads it back, bounded, and a bad line is an error naming the
file, the line and the field. Unknown keys are ignored, so a newer export still reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from handrail.engine.assessment import Status
from handrail.errors import HistoryError

__all__ = [
    "MAX_HISTORY_LINES",
    "MAX_LINE_BYTES",
    "PastIncident",
    "RecordedAssessment",
    "RecordedDecision",
    "RecordedResult",
    "past_incident",
    "read_history",
]

MAX_LINE_BYTES = 4 * 1024 * 1024
"""The longest line read: a runbook snapshot (at most 1 MiB as a file) and its assessment fit well within."""
MAX_HISTORY_LINES = 100_000
"""The most lines a history file may hold (an export writes at most this many)."""


class _Recorded(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, alias_generator=to_camel, populate_by_name=True)


class RecordedResult(_Recorded):
    """One diagnostic as the incident recorded it."""

    step_id: str = Field(min_length=1, max_length=200)
    status: Status
    raw_value: dict[str, Any] | None = None
    """The probe's raw values before `derive`; None when the probe failed (its error is `message`)."""
    message: str = Field(default="", max_length=65536)
    probe_message: str | None = Field(default=None, max_length=65536)
    """The probe's own message (absent in incidents recorded before replay existed: `message` stands in)."""


class RecordedDecision(_Recorded):
    index: int | None = Field(default=None, ge=0)
    """0-based position in the recorded runbook's decisionTree."""
    description: str = Field(default="", max_length=10000)
    matched: bool = False


class RecordedAssessment(_Recorded):
    diagnostic_results: tuple[RecordedResult, ...] = ()
    decisions: tuple[RecordedDecision, ...] = ()

    def result(self, step_id: str) -> RecordedResult | None:
        return next((r for r in self.diagnostic_results if r.step_id == step_id), None)


class PastIncident(_Recorded):
    """One incident of the history: what triggered it, what its diagnostics returned, what it planned."""

    id: str = Field(min_length=1, max_length=200)
    runbook_id: str = Field(min_length=1, max_length=200)
    triggered_at: AwareDatetime
    state: str = ""
    dry_run: bool = False
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    plan: tuple[str, ...] = ()
    assessment: RecordedAssessment | None = None
    """None when the incident closed before its diagnostics ran: nothing to replay."""
    runbook: dict[str, Any] | None = None
    """The runbook as the incident ran it."""


def past_incident(line: Mapping[str, Any], *, where: str = "incident") -> PastIncident:
    """A history line (or the store's record in the same shape) as a `PastIncident`; `HistoryError` naming the field."""
    try:
        return PastIncident.model_validate(line)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "the line"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise HistoryError(f"{where}: {field}: {first['msg']}{more}") from exc


def read_history(path: Path, *, runbook_id: str | None = None, since: datetime | None = None) -> Iterator[PastIncident]:
    """The incidents of a history file (of one runbook, since a time), in file order; a bad line stops the read."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read: {exc.strerror}") from exc
    with handle:
        for number in range(1, MAX_HISTORY_LINES + 2):
            where = f"{path}:{number}"
            try:
                raw = handle.readline(MAX_LINE_BYTES + 1)
            except OSError as exc:
                raise HistoryError(f"{where}: cannot read: {exc.strerror}") from exc
            if not raw:
                return
            if number > MAX_HISTORY_LINES:
                raise HistoryError(f"{where}: a history holds at most {MAX_HISTORY_LINES:,} lines")
            if len(raw) > MAX_LINE_BYTES:
                raise HistoryError(f"{where}: the line is longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB")
            if not raw.strip():
                continue
            incident = past_incident(_decoded(raw, where), where=where)
            if runbook_id is not None and incident.runbook_id != runbook_id:
                continue
            if since is not None and incident.triggered_at < since:
                continue
            yield incident


def _decoded(raw: bytes, where: str) -> Mapping[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise HistoryError(f"{where}: not UTF-8 (byte {exc.start + 1})") from exc
    except json.JSONDecodeError as exc:
        raise HistoryError(f"{where}: not JSON: {exc.msg} (column {exc.colno})") from exc
    except RecursionError as exc:
        raise HistoryError(f"{where}: the JSON is nested too deeply") from exc
    if not isinstance(value, dict):
        raise HistoryError(f"{where}: expected a JSON object (one incident per line), got {type(value).__name__}")
    return value
