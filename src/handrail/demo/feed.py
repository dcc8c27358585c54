"""What the demo shows in the terminal: alerts as Prometheus sees them, and each incident's timeline as it grows.

`DemoFeed.poll()` asks Prometheus (`/api/v1/alerts`) and Handrail's API (`/api/v1/incidents`, then each
incident that changed) what is new since the last poll, and returns it as `FeedEvent`s in order;
`render_event` turns one into a line of rich text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from rich.text import Text

from handrail.engine import Status
from handrail.terminal import STATUS_STYLE

__all__ = ["DemoFeed", "FeedEvent", "render_event"]

_STATUS_IN_MESSAGE = re.compile(r": (healthy|warning|critical|unknown|error)\b")
_KIND_STYLE = {
    "alert": "bold magenta",
    "triggered": "bold magenta",
    "state": "cyan",
    "decision": "bold",
    "plan": "bold",
    "action": "bold blue",
    "action_described": "blue",
    "decision_by_person": "bold yellow",
    "verification": "bold",
    "notification": "dim",
    "escalation": "bold yellow",
}
_FINAL_STATES = ("resolved", "failed", "cancelled")


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One line of the feed: when, from where (an alert or an incident), what kind, and the message."""

    at: datetime
    source: str
    kind: str
    message: str
    runbook: str = ""


@dataclass
class DemoFeed:
    """Polls Prometheus and Handrail; each poll returns only what is new."""

    client: httpx.Client
    api_url: str
    token: str
    prometheus_url: str
    _alerts: dict[str, str] = field(default_factory=dict)
    _seen: dict[str, int] = field(default_factory=dict)
    _finished: set[str] = field(default_factory=set)

    def poll(self) -> list[FeedEvent]:
        """New alert states and new timeline entries, oldest first (a piece that does not answer is skipped)."""
        events = [*self._alert_events(), *self._incident_events()]
        return sorted(events, key=lambda event: event.at)

    def _alert_events(self) -> list[FeedEvent]:
        try:
            answer = self.client.get(f"{self.prometheus_url}/api/v1/alerts", timeout=5)
            alerts = answer.json()["data"]["alerts"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return []
        events = []
        current: dict[str, str] = {}
        for alert in alerts:
            name = str(alert.get("labels", {}).get("alertname", "?"))
            current[name] = str(alert.get("state", "?"))
        for name, state in current.items():
            if self._alerts.get(name) != state:
                events.append(FeedEvent(_now(), "prometheus", "alert", f"{name} is {state}"))
        for name in self._alerts.keys() - current.keys():
            events.append(FeedEvent(_now(), "prometheus", "alert", f"{name} resolved"))
        self._alerts = current
        return events

    def _incident_events(self) -> list[FeedEvent]:
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            answer = self.client.get(
                f"{self.api_url}/api/v1/incidents", params={"limit": 50}, headers=headers, timeout=5
            )
            incidents = answer.json()["incidents"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return []
        events: list[FeedEvent] = []
        for summary in reversed(incidents):
            incident_id = str(summary["id"])
            if incident_id in self._finished:
                continue
            try:
                detail: dict[str, Any] = self.client.get(
                    f"{self.api_url}/api/v1/incidents/{incident_id}", headers=headers, timeout=5
                ).json()
                timeline = detail["timeline"]
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                continue
            seen = self._seen.get(incident_id, 0)
            for entry in timeline[seen:]:
                events.append(
                    FeedEvent(
                        datetime.fromisoformat(entry["at"]),
                        incident_id,
                        str(entry["kind"]),
                        str(entry["message"]),
                        str(summary.get("runbookId", "")),
                    )
                )
            self._seen[incident_id] = len(timeline)
            if summary.get("state") in _FINAL_STATES:
                self._finished.add(incident_id)
        return events


def render_event(event: FeedEvent) -> Text:
    """`12:00:01 INC-… database-connection-exhaustion  state  collecting evidence`, styled by kind and status."""
    line = Text()
    line.append(event.at.astimezone().strftime("%H:%M:%S "), style="dim")
    line.append(f"{event.source:<17} ", style="bold" if event.source.startswith("INC-") else "magenta")
    if event.runbook:
        line.append(f"{event.runbook} ", style="dim")
    first_line = event.message.split("\n", 1)[0]
    style = _KIND_STYLE.get(event.kind, "")
    status = _STATUS_IN_MESSAGE.search(first_line)
    if event.kind in ("diagnostic", "verification") and status is not None:
        style = STATUS_STYLE[Status(status.group(1))]
    if event.kind == "state" and first_line.startswith("verified healthy"):
        style = "bold green"
    elif event.kind == "state" and ("person" in first_line or "failed" in first_line):
        style = "bold yellow"
    line.append(first_line, style=style)
    return line


def _now() -> datetime:
    return datetime.now().astimezone()
