"""`IncidentService`: the one door to incidents. The API, the console, Slack, the CLI and the threshold poller use it.

Every read (one incident, a filtered list, a timeline, action runs), every trigger and join (with
its dedup key and incident id), every decision a person makes, four-eyes (`api.fourEyes`, in
`decide`) and the typed errors each face answers with (`IncidentNotFoundError`,
`IncidentConflictError`, `IncidentForbiddenError`) are here, so no face reaches into the store.

It is async and never blocks the event loop it is awaited on: the store is behind
`AsyncIncidentStore`, and DBOS's client (enqueue, messages, cancellation) runs on the same bounded
`BlockingPool` (handrail/blocking.py, #14). It writes to the store and talks to the engine through
DBOS's client, so it works from any process — a CLI call (`asyncio.run`) with no server included.
In a process that also runs the engine (`handrail serve`), a new incident starts there at once
(`local_engine`) instead of waiting on the queue for a worker's next poll.
The records and states the faces show are re-exported here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from dbos import DBOSClient

from handrail.blocking import BlockingPool
from handrail.engine.incident import (
    ALERT_RESOLVED_WORKFLOW,
    HUMAN_TOPIC,
    INCIDENT_QUEUE,
    INCIDENT_WORKFLOW,
    SHADOW_WORKFLOW,
)
from handrail.engine.messages import DECISIONS
from handrail.engine.notifications import ANNOUNCE_WORKFLOW
from handrail.errors import (
    FourEyesError,
    IncidentConflictError,
    IncidentError,
    IncidentForbiddenError,
    IncidentNotFoundError,
)
from handrail.limits import InputLimits
from handrail.runbook.model import Remediation, Runbook
from handrail.store import ActionRun, IncidentRecord, IncidentState, NewIncident, SqlIncidentStore, TimelineRecord
from handrail.store.async_incidents import AsyncIncidentStore
from handrail.store.figures import ShadowTally, StoreFigures, shadow_tallies, store_figures
from handrail.store.incidents import history_line, plain_json
from handrail.store.reconnect import is_disconnect
from handrail.store.records import incident_summary, shadow_summary
from handrail.store.schema import PERSON
from handrail.store.sessions import SqlConsoleSessions

__all__ = [
    "DECISIONS",
    "ActionRun",
    "IncidentConflictError",
    "IncidentError",
    "IncidentForbiddenError",
    "IncidentNotFoundError",
    "IncidentRecord",
    "IncidentService",
    "IncidentState",
    "IncidentStory",
    "LocalEngine",
    "ShadowTally",
    "SqlConsoleSessions",
    "StoreFigures",
    "TimelineRecord",
    "alert_dedup_key",
    "dedup_key_for",
    "history_line",
    "incident_summary",
    "is_disconnect",
    "new_incident_id",
    "plain_json",
    "shadow_summary",
    "threshold_dedup_key",
]

logger = logging.getLogger(__name__)

IncidentStory = tuple[IncidentRecord, list[TimelineRecord], list[ActionRun]]
"""An incident with its timeline and action runs: what the handoff view and the report are made of."""


def new_incident_id() -> str:
    """`INC-` and 12 hex digits: short enough to type, random enough never to collide in practice."""
    return f"INC-{secrets.token_hex(6).upper()}"


def dedup_key_for(runbook: Runbook, labels: Mapping[str, str]) -> str:
    """The default dedup key (a manual trigger without one): the runbook and the labels."""
    return f"{runbook.id}|{json.dumps(sorted(labels.items()))}"


def alert_dedup_key(runbook_id: str, *, fingerprint: str, group_key: str, labels: Mapping[str, str]) -> str:
    """An Alertmanager alert's key for one runbook: its fingerprint (or group key and labels without one)."""
    return f"{runbook_id}|{fingerprint or f'{group_key}|{sorted(labels.items())}'}"


def _no_shadows(runbook_id: str) -> Sequence[Runbook]:
    """A service without a catalog knows of no shadow versions."""
    return ()


def threshold_dedup_key(runbook_id: str, trigger_index: int) -> str:
    """A metric_threshold trigger's key: one open incident per runbook and trigger, however long it stays high."""
    return f"{runbook_id}|metric_threshold|{trigger_index}"


class LocalEngine(Protocol):
    """The engine running in this process (`engine.worker.Worker`), which can take a new incident at once."""

    def has_room(self) -> bool:
        """Whether it runs, may be called from here, and has room for one more incident."""
        ...

    async def start_incident(self, incident_id: str) -> None:
        """Start the recorded incident's workflow now."""
        ...


@dataclass
class IncidentService:
    store: SqlIncidentStore
    """The synchronous store, for the composition root and tests; the faces never touch it (#14)."""
    client: DBOSClient
    limits: InputLimits = field(default_factory=InputLimits)
    """Labels, annotations, notes and reasons are held to these whichever route they came by."""
    four_eyes: bool = False
    """`api.fourEyes`: whoever opened an incident, by any route, may not approve or reject its actions."""
    shadows_for: Callable[[str], Sequence[Runbook]] = _no_shadows
    """The shadow versions of a runbook id, from the catalog being served (blocking: called on `pool`); #15."""
    incidents: AsyncIncidentStore = field(init=False)
    """The store behind its async interface: every call on `pool`'s threads."""
    local_engine: LocalEngine | None = None
    """The engine of this process, when it runs one (`handrail serve`): new incidents start on it directly."""

    def __post_init__(self) -> None:
        self.incidents = AsyncIncidentStore(self.store)

    @property
    def pool(self) -> BlockingPool:
        """The bounded threads every blocking call of the faces runs on (database, DBOS client, files)."""
        return self.incidents.pool

    def close(self) -> None:
        """Let go of the pool's threads, DBOS's client and the database's connections."""
        self.pool.close()
        self.client.destroy()
        self.store.engine.dispose()

    # -- triggers -----------------------------------------------------------------------------

    async def trigger(
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
        """Open an incident (and enqueue its workflow in the same transaction), or join the open one.

        An incident that opens brings its runbook's shadow versions along (#15): each gets a record of its own,
        marked shadow and written in the same transaction, and the shadow workflow, which records a plan and
        acts on nothing. A shadow runbook is never triggered on its own.
        """
        if runbook.shadow_of is not None:
            raise IncidentConflictError(
                f"runbook {runbook.id} is a shadow of {runbook.shadow_of}: it runs only beside the incidents"
                f" {runbook.shadow_of} opens, and acts on nothing; trigger {runbook.shadow_of}"
            )
        labels = dict(labels or {})
        annotations = dict(annotations or {})
        self.limits.check_labels(labels)
        self.limits.check_annotations(annotations)
        incident_id = new_incident_id()
        new = NewIncident(
            id=incident_id,
            runbook=runbook.model_dump(mode="json", by_alias=True, exclude_none=True),
            dedup_key=dedup_key or dedup_key_for(runbook, labels),
            trigger_type=trigger_type,
            triggered_by=triggered_by,
            labels=labels,
            annotations=annotations,
            dry_run=dry_run,
        )
        shadows = [
            replace(
                new,
                id=new_incident_id(),
                runbook=shadow.model_dump(mode="json", by_alias=True, exclude_none=True),
                dedup_key=f"shadow|{incident_id}|{shadow.id}",
                shadow_of=incident_id,
            )
            for shadow in await self.pool.run(self.shadows_for, runbook.id)
        ]

        options: Any = {"workflow_name": INCIDENT_WORKFLOW, "queue_name": INCIDENT_QUEUE, "workflow_id": incident_id}

        def enqueue(connection: sa.Connection) -> None:
            self._enqueue(connection, INCIDENT_WORKFLOW, incident_id)
            enqueue_shadows(connection)

        def enqueue_shadows(connection: sa.Connection) -> None:
            for shadow in shadows:
                self.store.add_shadow(connection, shadow)
                self._enqueue(connection, SHADOW_WORKFLOW, shadow.id)

        local = self.local_engine
        if local is None or not local.has_room():
            return await self.incidents.open_or_join(new, on_open=enqueue)
        # The engine is here with room: record the incident, then start its workflow on it at once (no queue
        # poll to wait for). Should this process die in between, a worker finds the incident without a
        # workflow and enqueues it (Worker.enqueue_strays).
        # its shadows still go through the queue, in the incident's transaction
        record, opened = await self.incidents.open_or_join(new, on_open=enqueue_shadows if shadows else None)
        if opened:
            try:
                await local.start_incident(incident_id)
            except Exception:
                logger.warning("starting %s on this engine failed; it goes to the queue", incident_id, exc_info=True)
                await self.pool.run(self.client.enqueue, options, incident_id)
        return record, opened

    def _enqueue(self, connection: sa.Connection, workflow_name: str, incident_id: str) -> None:
        options: Any = {"workflow_name": workflow_name, "queue_name": INCIDENT_QUEUE, "workflow_id": incident_id}
        self.client.enqueue_in_transaction(connection, options, incident_id)

    async def alert_resolved(self, dedup_key: str, *, source: str) -> IncidentRecord | None:
        """The alert behind an open incident resolved: record it; verify and close if the runbook asks."""
        incident = await self.incidents.find_open_by_dedup_key(dedup_key)
        if incident is None:
            return None
        await self.incidents.record(incident.id, "alert", f"the alert resolved ({source})", actor=source)
        if Runbook.model_validate(incident.runbook).resolve_when_alert_resolves:
            options: Any = {
                "workflow_name": ALERT_RESOLVED_WORKFLOW,
                "queue_name": INCIDENT_QUEUE,
                "workflow_id": f"{incident.id}:alert-resolved",
            }
            await self.pool.run(self.client.enqueue, options, incident.id)
        return incident

    # -- people -------------------------------------------------------------------------------

    async def decide(
        self, incident_id: str, remediation_id: str, kind: str, *, actor: str, reason: str = ""
    ) -> IncidentRecord:
        """approve / reject an automated remediation, or mark a manual one done / skipped; the incident after."""
        if kind not in DECISIONS:
            raise IncidentConflictError(f"unknown decision {kind!r}; use one of {', '.join(DECISIONS)}")
        self.limits.check_reason(reason)
        incident = await self._open(incident_id)
        self._check_four_eyes(incident, kind, actor)
        remediation = self._remediation(incident, remediation_id)
        if kind in ("approve", "reject") and not (remediation.type == "automated" and remediation.requires_approval):
            raise IncidentConflictError(f"{remediation_id} does not need approval (it is {remediation.type})")
        if kind in ("done", "skip") and remediation.type != "manual":
            raise IncidentConflictError(
                f"{remediation_id} is {remediation.type}; only manual remediations are done or skipped"
            )
        earlier = await self._decision_for(incident_id, remediation_id)
        if earlier is not None:
            raise IncidentConflictError(f"{remediation_id} was already {earlier}")
        message = f"{remediation_id} {DECISIONS[kind]} by {actor}" + (f": {reason}" if reason else "")
        data = {"remediation": remediation_id, "decision": kind, "reason": reason}
        await self.incidents.record(incident_id, "decision_by_person", message, actor=actor, data=data)
        payload = {"kind": kind, "remediation": remediation_id, "actor": actor, "reason": reason}
        key = f"{incident_id}:{remediation_id}:{kind}"
        await self.pool.run(self.client.send, incident_id, payload, HUMAN_TOPIC, idempotency_key=key)
        return await self.get(incident_id)

    def _check_four_eyes(self, incident: IncidentRecord, kind: str, actor: str) -> None:
        """Refuse the opener's approval or rejection. The opener is who opened it, by any route, never a joiner.

        Names are compared as the store keeps them (`triggered_by`): the API token's name, which is also
        the name of a console session made from that token and of a Slack user mapped to it
        (`notifiers.slack.users`); the alert webhook's token name; the CLI's `--as` or OS user name.
        """
        if self.four_eyes and kind in ("approve", "reject") and incident.triggered_by == PERSON.fit(actor):
            raise FourEyesError(f"{actor} triggered {incident.id}; someone else must {kind} (four eyes)")

    async def acknowledge(self, incident_id: str, *, actor: str) -> IncidentRecord:
        before = _not_shadow(await self.get(incident_id), "acknowledged")
        if not await self.incidents.acknowledge(incident_id, actor):
            raise IncidentNotFoundError(f"no incident {incident_id}")
        if before.acknowledged_at is None:
            await self._announce(incident_id, "acknowledged", f"acknowledged by {actor}")
        return await self.get(incident_id)

    async def _announce(self, incident_id: str, kind: str, headline: str) -> None:
        """Tell the escalation targets (Slack threads, PagerDuty acknowledge/resolve) what a person did."""
        options: Any = {
            "workflow_name": ANNOUNCE_WORKFLOW,
            "queue_name": INCIDENT_QUEUE,
            "workflow_id": f"{incident_id}:announce:{kind}",
        }
        await self.pool.run(self.client.enqueue, options, incident_id, kind, headline)

    async def note(self, incident_id: str, text: str, *, actor: str) -> IncidentRecord:
        """Add a note to the timeline; the incident after."""
        self.limits.check_note(text)
        await self.get(incident_id)
        if not text.strip():
            raise IncidentConflictError("a note needs some text")
        await self.incidents.record(incident_id, "note", text, actor=actor)
        return await self.get(incident_id)

    async def resolve(self, incident_id: str, *, actor: str, reason: str = "") -> IncidentRecord:
        return await self._close(incident_id, IncidentState.RESOLVED, actor, reason or "resolved by a person")

    async def cancel(self, incident_id: str, *, actor: str, reason: str = "") -> IncidentRecord:
        return await self._close(incident_id, IncidentState.CANCELLED, actor, reason or "cancelled by a person")

    async def _close(self, incident_id: str, state: IncidentState, actor: str, reason: str) -> IncidentRecord:
        self.limits.check_reason(reason)
        await self._open(incident_id)
        record = await self.incidents.transition(incident_id, state, f"{reason} ({actor})", actor=actor)
        if record is None:
            raise IncidentConflictError(f"{incident_id} is already closed")
        # Stop the plan and the escalation timer: nothing may run on a closed incident.
        for workflow_id in (incident_id, f"{incident_id}:escalation"):
            await self.pool.run(self.client.cancel_workflow, workflow_id)
        await self._announce(incident_id, state.value, f"{state.value} by {actor}")
        return record

    # -- reading ------------------------------------------------------------------------------

    async def queue_depth(self) -> int:
        """Incident workflows enqueued and not yet picked up by a worker."""
        return await self.pool.run(self.queued_now)

    def figures_now(self) -> StoreFigures:
        """What `/metrics` reports from the database, blocking: for the metrics collector, on a pool thread."""
        return store_figures(self.store.engine, since=datetime.now(UTC) - timedelta(hours=1))

    def queued_now(self) -> int:
        """`queue_depth`, blocking: for callers already on a pool thread (the metrics collector)."""
        queued = self.client.list_queued_workflows(queue_name=INCIDENT_QUEUE, status="ENQUEUED", load_input=False)
        return len(queued)

    async def get(self, incident_id: str) -> IncidentRecord:
        record = await self.incidents.get(incident_id)
        if record is None:
            raise IncidentNotFoundError(f"no incident {incident_id}")
        return record

    async def find(
        self,
        *,
        states: Sequence[str] = (),
        open_only: bool = False,
        runbook_id: str | None = None,
        created_after: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[IncidentRecord]:
        """Incidents, newest first, filtered by state, openness, runbook and age."""
        return await self.incidents.find(
            states=states,
            open_only=open_only,
            runbook_id=runbook_id,
            created_after=created_after,
            limit=limit,
            offset=offset,
        )

    async def history(
        self, *, runbook_id: str | None = None, since: datetime | None = None, limit: int = 10_000, page: int = 500
    ) -> AsyncIterator[IncidentRecord]:
        """Incidents newest first, `page` at a time, at most `limit` (replay and export read no more than they use)."""
        offset = 0
        while offset < limit:
            records = await self.find(
                runbook_id=runbook_id, created_after=since, limit=min(page, limit - offset), offset=offset
            )
            for record in records:
                yield record
            if len(records) < page:
                return
            offset += len(records)

    async def shadows(self, incident_id: str) -> list[IncidentRecord]:
        """The shadow versions' runs beside an incident (#15), by runbook id; `find` never lists them."""
        return await self.pool.run(self.store.shadows, incident_id)

    async def shadow_tallies(self, runbook_id: str | None = None) -> list[ShadowTally]:
        """How often each shadow version planned what its active runbook planned (of one runbook, when given)."""
        return await self.pool.run(shadow_tallies, self.store.engine, runbook_id=runbook_id)

    async def timeline(self, incident_id: str) -> list[TimelineRecord]:
        return await self.incidents.timeline(incident_id)

    async def last_event_id(self, incident_id: str) -> int:
        """The id of the incident's newest timeline event (0 with none): a cheap "has anything happened"."""
        return await self.incidents.last_event_id(incident_id)

    async def action_runs(self, incident_id: str) -> list[ActionRun]:
        return await self.incidents.action_runs(incident_id)

    async def story(self, incident_id: str) -> IncidentStory:
        """The incident, its timeline and its action runs (for the handoff view and the report)."""
        story = await self.incidents.story(incident_id)
        if story is None:
            raise IncidentNotFoundError(f"no incident {incident_id}")
        return story

    async def wait_for_assessment(
        self, incident_id: str, *, timeout: float, interval: float = 0.1
    ) -> IncidentRecord | None:
        """The incident once its diagnostics have run; None if they have not within `timeout` seconds.

        Each look is one read on the pool and the pauses are the loop's sleeps, so a wait holds no
        thread and no connection while it waits.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            record = await self.get(incident_id)
            if record.assessment is not None:
                return record
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(min(interval, max(deadline - loop.time(), 0.0)))

    async def ping(self) -> None:
        """The database answers (SQLAlchemy's error when it does not)."""
        await self.incidents.ping()

    def console_sessions(self) -> SqlConsoleSessions:
        """The console's live sessions, on this service's database and pool."""
        return SqlConsoleSessions(self.store.engine, pool=self.pool, reconnect_within=self.store.reconnect_within)

    async def _open(self, incident_id: str) -> IncidentRecord:
        record = _not_shadow(await self.get(incident_id), "decided, resolved or cancelled")
        if not record.is_open:
            raise IncidentConflictError(f"{incident_id} is {record.state.value}; it takes no more decisions")
        return record

    def _remediation(self, incident: IncidentRecord, remediation_id: str) -> Remediation:
        remediation = Runbook.model_validate(incident.runbook).remediation(remediation_id)
        if remediation is None:
            raise IncidentConflictError(f"runbook {incident.runbook_id} has no remediation {remediation_id}")
        if incident.plan and remediation_id not in incident.plan:
            raise IncidentConflictError(f"{remediation_id} is not in this incident's plan ({', '.join(incident.plan)})")
        return remediation

    async def _decision_for(self, incident_id: str, remediation_id: str) -> str | None:
        for event in await self.incidents.timeline(incident_id):
            if event.kind == "decision_by_person" and event.data and event.data.get("remediation") == remediation_id:
                return f"{DECISIONS[event.data['decision']]} by {event.actor}"
        return None


def _not_shadow(record: IncidentRecord, what: str) -> IncidentRecord:
    """A shadow's run takes nothing from people: it waits for no one and nothing it plans is carried out."""
    if record.shadow_of is not None:
        raise IncidentConflictError(
            f"{record.id} is a shadow run beside {record.shadow_of}: it is not {what}; act on {record.shadow_of}"
        )
    return record
