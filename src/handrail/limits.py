"""How much Handrail takes from outside: request bodies, alerts, labels, annotations, notes, reasons.

`InputLimits` is the `api.limits` settings section (docs/settings.md, docs/security.md). The API's
body reader (`api/body.py`) holds every request body to `body_bytes` (`alert_body_bytes` for the
Alertmanager webhook) and JSON to `json_depth` levels; `IncidentService` checks labels, annotations,
notes and reasons with the methods here, whichever route they came by (API, console, Slack, CLI).
Over a limit is an `InputLimitError` naming the field, never a truncation: what was stored is what
was sent.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from handrail.errors import InputLimitError
from handrail.runbook.model import StrictModel

__all__ = ["InputLimits"]

MIB = 1024 * 1024


class InputLimits(StrictModel):
    """The sizes of what people and alerts send; raise one in `api.limits` if a real sender needs more."""

    body_bytes: int = Field(default=MIB, ge=1024)
    """Bytes a request body may have, on every route but the Alertmanager webhook."""
    alert_body_bytes: int = Field(default=4 * MIB, ge=1024)
    """Bytes a body posted to `/api/v1/alerts/alertmanager` may have (a whole alert group)."""
    json_depth: int = Field(default=32, ge=4, le=200)
    """Levels of nesting a JSON body may have (Handrail's own bodies have at most four)."""
    alerts: int = Field(default=1000, ge=1)
    """Alerts in one webhook post."""
    labels: int = Field(default=100, ge=1)
    """Labels an alert or a trigger may carry; annotations likewise."""
    key_chars: int = Field(default=256, ge=1)
    """Characters in a label or annotation name."""
    label_chars: int = Field(default=4096, ge=1)
    """Characters in a label value."""
    annotation_chars: int = Field(default=16384, ge=1)
    """Characters in an annotation value."""
    note_chars: int = Field(default=10_000, ge=1)
    """Characters in a note on an incident."""
    reason_chars: int = Field(default=2000, ge=1)
    """Characters in the reason given with a decision, a resolve or a cancel."""

    def check_labels(self, labels: Mapping[str, str], *, field: str = "labels") -> None:
        """Raise `InputLimitError` naming `field` (or `field.NAME`) when labels break a limit."""
        self._check_pairs(labels, field, self.label_chars, "label")

    def check_annotations(self, annotations: Mapping[str, str], *, field: str = "annotations") -> None:
        """Raise `InputLimitError` naming `field` (or `field.NAME`) when annotations break a limit."""
        self._check_pairs(annotations, field, self.annotation_chars, "annotation")

    def check_note(self, text: str, *, field: str = "text") -> None:
        _check_text(text, self.note_chars, field, "a note", "noteChars")

    def check_reason(self, text: str, *, field: str = "reason") -> None:
        _check_text(text, self.reason_chars, field, "a reason", "reasonChars")

    def _check_pairs(self, pairs: Mapping[str, str], field: str, value_chars: int, kind: str) -> None:
        if len(pairs) > self.labels:
            raise InputLimitError(f"{field}: more than {self.labels} {kind}s (api.limits.labels)", field=field)
        for name, value in pairs.items():
            if len(name) > self.key_chars:
                # the field names the map, not the name: a name past its limit is not echoed back
                message = f"{field}: a {kind} name is longer than {self.key_chars} characters (api.limits.keyChars)"
                raise InputLimitError(message, field=field)
            if len(value) > value_chars:
                setting = "labelChars" if kind == "label" else "annotationChars"
                message = f"{field}.{name}: longer than {value_chars} characters (api.limits.{setting})"
                raise InputLimitError(message, field=f"{field}.{name}")


def _check_text(text: str, most: int, field: str, what: str, setting: str) -> None:
    if len(text) > most:
        raise InputLimitError(f"{field}: {what} is longer than {most} characters (api.limits.{setting})", field=field)
