"""Notifications from incidents: one durable delivery job per notification and notifier.

`Notes` numbers an incident's notifications (so a replayed workflow starts the same delivery
jobs, which DBOS then recognises by id) and hands each to every notifier that accepts its target.
Besides the news for the escalation targets (opened, an approval needed, escalated, resolved),
every step a person wants to see follows in the primary target, the incident's own channel
(`follow`): a decision with who and why, an action's start and end, a verification, an
escalation sent elsewhere. A Slack channel shows each as an update of the incident's message
and a reply in its thread (notify/slack.py).
`deliver_notification` waits for the earlier jobs to the same target through the same notifier,
then retries with backoff and writes a final failure to the timeline; it never blocks the
incident. `announce` tells every escalation target what a person did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dbos import DBOS, SetWorkflowID

from handrail.engine.messages import incident_details, notification
from handrail.engine.runtime import current, off_loop
from handrail.errors import NotifyError
from handrail.notify.base import Notification
from handrail.runbook.model import Runbook
from handrail.store import IncidentState

__all__ = [
    "ANNOUNCE_WORKFLOW",
    "APPROVAL_WAIT",
    "DELIVER_WORKFLOW",
    "NOTIFY_ATTEMPTS",
    "ORDER_WAIT_SECONDS",
    "Notes",
    "announce",
    "deliver_notification",
    "record",
]

NOTIFY_ATTEMPTS = 10
"""Delivery attempts 1 s, 2 s, 4 s ... apart: about 17 minutes before a notification is given up."""
ORDER_WAIT_SECONDS = 20 * 60
"""The longest a notification waits for earlier ones to its target (their retries end sooner than this)."""
_ORDER_PAUSE_MAX = 5.0
APPROVAL_WAIT = "approval: "
"""How an incident's `waiting_for` starts while a remediation waits for approval (then its id)."""


@DBOS.step(name="handrail.record")
async def record(incident_id: str, kind: str, message: str) -> None:
    await off_loop(current().store.record, incident_id, kind, message)


@dataclass
class Notes:
    """Sends an incident's notifications, each through its own durable delivery workflow."""

    incident_id: str
    runbook: Runbook
    prefix: str = "n"
    sequence: int = 0

    def escalation_targets(self) -> list[str]:
        secondary = self.runbook.escalation.secondary
        return [secondary] if secondary else [self.runbook.escalation.primary]

    def all_targets(self) -> list[str]:
        targets = [self.runbook.escalation.primary, self.runbook.escalation.secondary]
        return [t for i, t in enumerate(targets) if t and t not in targets[:i]]

    async def follow(self, kind: str, headline: str, body: str = "", *, state: str, outcome: str = "") -> None:
        """A step of the incident, for its primary target (the channel whose message follows the incident).

        `outcome` (`healthy`, `critical`, ...) is how the step went, when it has one: a notifier may show it.
        """
        await self.send(kind, self.runbook.escalation.primary, headline, body, state=state, outcome=outcome)

    async def escalate(self, headline: str, body: str, *, state: str, approval: str | None = None) -> None:
        """Page the escalation targets; the primary target hears of it too (`escalation_sent`) when it is not one.

        The primary hears a kind of its own so that no pager there is triggered a second time.
        """
        targets = self.escalation_targets()
        for target in targets:
            await self.send("escalated", target, headline, body, state=state, approval=approval)
        primary = self.runbook.escalation.primary
        if primary not in targets:
            reason = body.split("\n", 1)[0].strip() or headline
            echo = f"{reason} (sent to {', '.join(targets)})"
            await self.send("escalation_sent", primary, headline, echo, state=state, approval=approval)

    async def send(
        self,
        kind: str,
        target: str,
        headline: str,
        body: str,
        *,
        state: str,
        approval: str | None = None,
        instructions: str | None = None,
        outcome: str = "",
    ) -> None:
        self.sequence += 1
        prepared = await _prepare(self.incident_id, target, approval, instructions)
        if outcome:
            prepared["details"]["outcome"] = outcome
        note = notification(
            kind,
            incident_id=self.incident_id,
            runbook=self.runbook,
            target=target,
            headline=headline,
            body=body,
            state=state,
            sequence=self.sequence,
            details=prepared["details"],
        )
        for name in prepared["notifiers"]:
            with SetWorkflowID(f"{self.incident_id}:{self.prefix}{self.sequence}:{name}"):
                await DBOS.start_workflow_async(deliver_notification, name, _note_dict(note))


@DBOS.step(name="handrail.prepare_note")
async def _prepare(incident_id: str, target: str, approval: str | None, instructions: str | None) -> dict[str, Any]:
    """What a notification says about the incident, and the notifiers that take its target: one checkpoint."""
    runtime = current()
    record = await off_loop(runtime.store.get, incident_id)
    assert record is not None
    if record.shadow_of is not None:  # a shadow's run tells no one anything (#15): no notifier takes it
        return {"details": {}, "notifiers": []}
    runbook = Runbook.model_validate(record.runbook)
    waiting = record.waiting_for or ""
    if approval is None and record.state is IncidentState.AWAITING_APPROVAL and waiting.startswith(APPROVAL_WAIT):
        # whatever is said while an approval waits (an acknowledgement, an escalation) keeps its buttons
        approval = waiting.removeprefix(APPROVAL_WAIT)
    remediation = runbook.remediation(approval) if approval else None
    details = incident_details(
        incident_id,
        runbook,
        record.assessment,
        console_url=runtime.console_url,
        approval=remediation,
        instructions=instructions,
    )
    return {"details": details, "notifiers": [n.name for n in runtime.notifiers if n.accepts(target)]}


def _note_dict(note: Notification) -> dict[str, Any]:
    return {
        "details": dict(note.details),
        "target": note.target,
        "kind": note.kind,
        "title": note.title,
        "text": note.text,
        "severity": note.severity,
        "incident_id": note.incident_id,
        "fields": dict(note.fields),
        "dedup_key": note.dedup_key,
    }


DELIVER_WORKFLOW = "handrail.deliver_notification"


@DBOS.workflow(name=DELIVER_WORKFLOW)
async def deliver_notification(notifier_name: str, note: dict[str, Any]) -> bool:
    """Deliver one notification after the earlier ones to its target, with retries and backoff.

    A final failure goes on the timeline.
    """
    await _after_earlier_deliveries(notifier_name, note)
    try:
        await _send(notifier_name, note)
    except Exception as exc:
        await record(
            note["incident_id"],
            "notification",
            f"{notifier_name} could not deliver '{note['title']}' to {note['target']}: {exc}",
        )
        return False
    await record(note["incident_id"], "notification", f"{notifier_name}: sent '{note['title']}' to {note['target']}")
    return True


async def _after_earlier_deliveries(notifier_name: str, note: dict[str, Any]) -> None:
    """Wait (durably) until the earlier deliveries to this target through this notifier have finished.

    Each delivery retries on its own schedule, so after an outage a later notification could
    otherwise arrive first: a PagerDuty `resolve` before its `trigger` (which then opens an alert that
    nothing resolves), or a Slack message updated back to "opened" after "resolved" (#9's outage drill).
    """
    pause, waited = 0.25, 0.0
    while waited < ORDER_WAIT_SECONDS and await _earlier_pending(
        DBOS.workflow_id or "", notifier_name, note.get("incident_id"), note["target"]
    ):
        await DBOS.sleep_async(pause)
        waited += pause
        pause = min(pause * 2, _ORDER_PAUSE_MAX)


@DBOS.step(name="handrail.earlier_pending")
async def _earlier_pending(workflow_id: str, notifier_name: str, incident_id: str | None, target: str) -> bool:
    """Whether a delivery of this incident to `target` through `notifier_name`, started before this one, still runs."""
    if incident_id is None:
        return False
    jobs = await DBOS.list_workflows_async(
        name=DELIVER_WORKFLOW, workflow_id_prefix=f"{incident_id}:", load_output=False
    )
    mine = next((job for job in jobs if job.workflow_id == workflow_id), None)
    if mine is None:
        return False

    def order(job: Any) -> tuple[int, str]:
        return (job.created_at or 0, job.workflow_id)

    return any(
        job.status in ("PENDING", "ENQUEUED", "DELAYED")
        and order(job) < order(mine)
        and job.input is not None
        and list(job.input["args"][:1]) == [notifier_name]
        and job.input["args"][1].get("target") == target
        for job in jobs
    )


@DBOS.step(
    name="handrail.send", retries_allowed=True, max_attempts=NOTIFY_ATTEMPTS, interval_seconds=1.0, backoff_rate=2.0
)
async def _send(notifier_name: str, note: dict[str, Any]) -> None:
    notifier = current().notifier(notifier_name)
    if notifier is None:
        raise NotifyError(f"no notifier named {notifier_name} is configured")
    await notifier.send(Notification(**note))


ANNOUNCE_WORKFLOW = "handrail.announce"


@DBOS.workflow(name=ANNOUNCE_WORKFLOW)
async def announce(incident_id: str, kind: str, headline: str) -> None:
    """Tell every escalation target what a person did: acknowledged, resolved, cancelled."""
    details = await _runbook_of(incident_id)
    runbook = Runbook.model_validate(details["runbook"])
    notes = Notes(incident_id, runbook, prefix=f"{kind}-")
    for target in notes.all_targets():
        await notes.send(kind, target, headline, headline, state=details["state"])


@DBOS.step(name="handrail.runbook_of")
async def _runbook_of(incident_id: str) -> dict[str, Any]:
    record = await off_loop(current().store.get, incident_id)
    assert record is not None
    return {"runbook": dict(record.runbook), "state": record.state.value}
