"""What every notifier has: the `Notification` it delivers, and the `Notifier` protocol.

A notification says what happened to an incident (opened, escalated, an approval is needed, ...)
and where the runbook wants it heard (`target`: a channel, a pager schedule, a name). The engine
hands each one to every notifier that `accepts` its target; a notifier delivers it its own way
(a webhook POST, a log line, a Slack message, a PagerDuty event) or raises `NotifyError`, which the engine
retries with backoff. Notifiers know nothing of the store, the engine or settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Notification", "Notifier"]


@dataclass(frozen=True, slots=True)
class Notification:
    """One message about an incident, to one target, in plain values."""

    target: str
    """Where it should go, as the runbook says: `#incidents-payment`, `pagerduty:dba-oncall`, a name."""
    kind: str
    """What happened: `opened`, `escalated`, `approval_needed`, `action`, `resolved`, `message`, ..."""
    title: str
    """One line."""
    text: str
    """The body: plain text, may be multi-line."""
    severity: str = ""
    """The runbook's severity, `P1`..`P4` (empty when there is none)."""
    incident_id: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    """Short key facts: service, runbook, state, ..."""
    dedup_key: str = ""
    """A stable id of this notification (the engine sets it); a retry carries the same one, so receivers may dedupe."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """Structured incident facts for rich notifiers (Slack blocks, PagerDuty custom_details): `url`, `overall`,
    `diagnostics` [{name, status, message, trend}], `recommended` [{id, name, type, requiresApproval}], `instructions`,
    `approval` {remediation, name, description}."""

    def to_dict(self) -> dict[str, object]:
        """The notification as JSON-ready values under camelCase keys (the webhook payload uses the same)."""
        return {
            "kind": self.kind,
            "target": self.target,
            "title": self.title,
            "text": self.text,
            "severity": self.severity,
            "incidentId": self.incident_id,
            "fields": {str(key): str(value) for key, value in self.fields.items()},
            "dedupKey": self.dedup_key,
        }


class Notifier(Protocol):
    """Delivers notifications to one kind of receiver (a webhook, a log, Slack, PagerDuty)."""

    name: str
    """What the timeline calls this notifier: `webhook`, `log`, ..."""

    def accepts(self, target: str) -> bool:
        """Whether this notifier delivers to `target`.

        Args:
            target: a `Notification.target`, as the runbook wrote it.

        Returns:
            True when `send` should be given notifications for that target.
        """
        ...

    async def send(self, notification: Notification) -> None:
        """Deliver one notification, once (the engine retries).

        Args:
            notification: what to say, and to which target.

        Raises:
            NotifyError: it was not delivered; the message says why in one short line, without
                secrets. Nothing else escapes.
        """
        ...

    async def aclose(self) -> None:
        """Release what the notifier holds (HTTP clients); a no-op if nothing."""
        ...
