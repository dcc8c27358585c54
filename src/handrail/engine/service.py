"""`IncidentService`: what people and alerts do to incidents; the CLI, the API, the console and Slack all call it.

It writes to the store and talks to the engine through DBOS's client (enqueue, messages,
cancellation), so it works from any process — a CLI call with no server running included. It is
also where four-eyes is decided (`api.fourEyes`): every route that approves goes through `decide`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from dbos import DBOSClient

from handrail.engine.incident import ALERT_RESOLVED_WORKFLOW, HUMAN_TOPIC, INCIDENT_QUEUE, INCIDENT_WORKFLOW
from handrail.engine.notifications import ANNOUNCE_WORKFLOW
from handrail.errors import FourEyesError, IncidentError
from handrail.limits import InputLimits
from handrail.runbook.model import Remediation, Runbook
from handrail.store import IncidentRecord, IncidentState, NewIncident, SqlIncidentStore
from handrail.store.schema import PERSON

__all__ = ["DECISIONS", "IncidentService", "new_incident_id"]

DECISIONS: Mapping[str, str] = {
    "approve": "approved",
    "reject": "rejected",
    "done": "marked done",
    "skip": "skipped",
}


def new_incident_id() -> str:
    """`INC-` and 12 hex digits: short enough to type, random enough never to collide in practice."""
    return f"INC-{secrets.token_hex(6).upper()}"


@dataclass
class IncidentService:
    store: SqlIncidentStore
    client: DBOSClient
    limits: InputLimits = field(default_factory=InputLimits)
    """Labels, annotations, notes and reasons are held to these whichever route they came by."""
    four_eyes: bool = False
    """`api.fourEyes`: whoever opened an incident, by any route, may not approve or reject its actions."""

    # -- triggers -----------------------------------------------------------------------------

    def trigger(
        self,
        runbook: Runbook,
        *,
        trigger_type: str,
        triggered_by: str,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        dedup_key: str | None = None,
        dry_run: bool = False,
    ) -> tuple[IncidentRecord, bool]:
        """Open an incident (and enqueue its workflow in the same transaction), or join the open one."""
        labels = dict(labels or {})
        annotations = dict(annotations or {})
        self.limits.check_labels(labels)
        self.limits.check_annotations(annotations)
        incident_id = new_incident_id()
        key = dedup_key or f"{runbook.id}|{json.dumps(sorted(labels.items()))}"
        new = NewIncident(
            id=incident_id,
            runbook=runbook.model_dump(mode="json", by_alias=True, exclude_none=True),
            dedup_key=key,
            trigger_type=trigger_type,
            triggered_by=triggered_by,
            labels=labels,
            annotations=annotations,
            dry_run=dry_run,
        )

        def enqueue(connection: sa.Connection) -> None:
            options: Any = {
                "workflow_name": INCIDENT_WORKFLOW,
                "queue_name": INCIDENT_QUEUE,
                "workflow_id": incident_id,
            }
            self.client.enqueue_in_transaction(connection, options, incident_id)

        return self.store.open_or_join(new, on_open=enqueue)

    def alert_resolved(self, dedup_key: str, *, source: str) -> IncidentRecord | None:
        """The alert behind an open incident resolved: record it; verify and close if the runbook asks."""
        incident = self.store.find_open_by_dedup_key(dedup_key)
        if incident is None:
            return None
        self.store.record(incident.id, "alert", f"the alert resolved ({source})", actor=source)
        if Runbook.model_validate(incident.runbook).resolve_when_alert_resolves:
            options: Any = {
                "workflow_name": ALERT_RESOLVED_WORKFLOW,
                "queue_name": INCIDENT_QUEUE,
                "workflow_id": f"{incident.id}:alert-resolved",
            }
            self.client.enqueue(options, incident.id)
        return incident

    # -- people -------------------------------------------------------------------------------

    def decide(self, incident_id: str, remediation_id: str, kind: str, *, actor: str, reason: str = "") -> None:
        """approve / reject an automated remediation, or mark a manual one done / skipped."""
        if kind not in DECISIONS:
            raise IncidentError(f"unknown decision {kind!r}; use one of {', '.join(DECISIONS)}")
        self.limits.check_reason(reason)
        incident = self._open(incident_id)
        self._check_four_eyes(incident, kind, actor)
        remediation = self._remediation(incident, remediation_id)
        if kind in ("approve", "reject") and not (remediation.type == "automated" and remediation.requires_approval):
            raise IncidentError(f"{remediation_id} does not need approval (it is {remediation.type})")
        if kind in ("done", "skip") and remediation.type != "manual":
            raise IncidentError(f"{remediation_id} is {remediation.type}; only manual remediations are done or skipped")
        earlier = self._decision_for(incident_id, remediation_id)
        if earlier is not None:
            raise IncidentError(f"{remediation_id} was already {earlier}")
        message = f"{remediation_id} {DECISIONS[kind]} by {actor}" + (f": {reason}" if reason else "")
        data = {"remediation": remediation_id, "decision": kind, "reason": reason}
        self.store.record(incident_id, "decision_by_person", message, actor=actor, data=data)
        payload = {"kind": kind, "remediation": remediation_id, "actor": actor, "reason": reason}
        self.client.send(incident_id, payload, HUMAN_TOPIC, idempotency_key=f"{incident_id}:{remediation_id}:{kind}")

    def _check_four_eyes(self, incident: IncidentRecord, kind: str, actor: str) -> None:
        """Refuse the opener's approval or rejection. The opener is who opened it, by any route, never a joiner.

        Names are compared as the store keeps them (`triggered_by`): the API token's name, which is also
        the name of a console session made from that token and of a Slack user mapped to it
        (`notifiers.slack.users`); the alert webhook's token name; the CLI's `--as` or OS user name.
        """
        if self.four_eyes and kind in ("approve", "reject") and incident.triggered_by == PERSON.fit(actor):
            raise FourEyesError(f"{actor} triggered {incident.id}; someone else must {kind} (four eyes)")

    def acknowledge(self, incident_id: str, *, actor: str) -> IncidentRecord:
        before = self.get(incident_id)
        if not self.store.acknowledge(incident_id, actor):
            raise IncidentError(f"no incident {incident_id}")
        if before.acknowledged_at is None:
            self._announce(incident_id, "acknowledged", f"acknowledged by {actor}")
        return self.get(incident_id)

    def _announce(self, incident_id: str, kind: str, headline: str) -> None:
        """Tell the escalation targets (Slack threads, PagerDuty acknowledge/resolve) what a person did."""
        options: Any = {
            "workflow_name": ANNOUNCE_WORKFLOW,
            "queue_name": INCIDENT_QUEUE,
            "workflow_id": f"{incident_id}:announce:{kind}",
        }
        self.client.enqueue(options, incident_id, kind, headline)

    def note(self, incident_id: str, text: str, *, actor: str) -> None:
        self.limits.check_note(text)
        self.get(incident_id)
        if not text.strip():
            raise IncidentError("a note needs some text")
        self.store.record(incident_id, "note", text, actor=actor)

    def resolve(self, incident_id: str, *, actor: str, reason: str = "") -> IncidentRecord:
        return self._close(incident_id, IncidentState.RESOLVED, actor, reason or "resolved by a person")

    def cancel(self, incident_id: str, *, actor: str, reason: str = "") -> IncidentRecord:
        return self._close(incident_id, IncidentState.CANCELLED, actor, reason or "cancelled by a person")

    def _close(self, incident_id: str, state: IncidentState, actor: str, reason: str) -> IncidentRecord:
        self.limits.check_reason(reason)
        self._open(incident_id)
        record = self.store.transition(incident_id, state, f"{reason} ({actor})", actor=actor)
        if record is None:
            raise IncidentError(f"{incident_id} is already closed")
        # Stop the plan and the escalation timer: nothing may run on a closed incident.
        for workflow_id in (incident_id, f"{incident_id}:escalation"):
            self.client.cancel_workflow(workflow_id)
        self._announce(incident_id, state.value, f"{state.value} by {actor}")
        return record

    # -- reading ------------------------------------------------------------------------------

    def queue_depth(self) -> int:
        """Incident workflows enqueued and not yet picked up by a worker."""
        queued = self.client.list_queued_workflows(queue_name=INCIDENT_QUEUE, status="ENQUEUED", load_input=False)
        return len(queued)

    def get(self, incident_id: str) -> IncidentRecord:
        record = self.store.get(incident_id)
        if record is None:
            raise IncidentError(f"no incident {incident_id}")
        return record

    def _open(self, incident_id: str) -> IncidentRecord:
        record = self.get(incident_id)
        if not record.is_open:
            raise IncidentError(f"{incident_id} is {record.state.value}; it takes no more decisions")
        return record

    def _remediation(self, incident: IncidentRecord, remediation_id: str) -> Remediation:
        remediation = Runbook.model_validate(incident.runbook).remediation(remediation_id)
        if remediation is None:
            raise IncidentError(f"runbook {incident.runbook_id} has no remediation {remediation_id}")
        if incident.plan and remediation_id not in incident.plan:
            raise IncidentError(f"{remediation_id} is not in this incident's plan ({', '.join(incident.plan)})")
        return remediation

    def _decision_for(self, incident_id: str, remediation_id: str) -> str | None:
        for event in self.store.timeline(incident_id):
            if event.kind == "decision_by_person" and event.data and event.data.get("remediation") == remediation_id:
                return f"{DECISIONS[event.data['decision']]} by {event.actor}"
        return None
