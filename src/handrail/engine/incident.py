"""The incident as a durable DBOS workflow: diagnose, decide, remediate, verify, escalate.

Every piece of work is a checkpointed step, so a process killed at any point resumes where it
stood: completed steps are not repeated, durable sleeps and waits keep their deadlines. Actions
are guarded beyond that: the intent is recorded before an action starts, and a run found started
but never finished (the process died inside it) is marked `outcome_unknown`, verified and handed
to a person — it is never started a second time.

People speak to a running incident through DBOS messages on the `human` topic
(approve, reject, done, skip); the service records who said what before sending.

A shadow version's run (#15) is its own workflow, `handle_shadow`: diagnose, decide, record the plan,
close. It has no path to a notification, a timer or an action, and the steps that start those
(`_claim_action`, and `_prepare` in notifications.py) refuse a shadow's record besides.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dbos import DBOS, SetWorkflowID

from handrail.actions import ACTION_PARAMS
from handrail.actions.base import ActionContext, ActionOutcome
from handrail.engine.assessment import Assessment, assess
from handrail.engine.history import record_history
from handrail.engine.messages import approval_text, decided, evidence
from handrail.engine.notifications import APPROVAL_WAIT, Notes, record
from handrail.engine.plan import StepKind, step_kind
from handrail.engine.runtime import current, off_loop
from handrail.errors import ActionError, IncidentConflictError
from handrail.expression import parse
from handrail.runbook.model import Remediation, Runbook
from handrail.store import ActionStatus, IncidentRecord, IncidentState
from handrail.store.incidents import Event

__all__ = [
    "ALERT_RESOLVED_WORKFLOW",
    "HUMAN_TOPIC",
    "INCIDENT_QUEUE",
    "INCIDENT_WORKFLOW",
    "SHADOW_WORKFLOW",
    "alert_resolved",
    "handle_incident",
    "handle_shadow",
]

logger = logging.getLogger(__name__)

INCIDENT_QUEUE = "handrail-incidents"
INCIDENT_WORKFLOW = "handrail.incident"
SHADOW_WORKFLOW = "handrail.shadow"
HUMAN_TOPIC = "human"
WAIT_CHUNK = 3600.0
"""An indefinite wait for a person is a series of waits this long (each one checkpointed)."""


# -- the workflow -------------------------------------------------------------------------------


@DBOS.workflow(name=INCIDENT_WORKFLOW)
async def handle_incident(incident_id: str) -> str:
    """Carry one incident from trigger to resolution (or to a person)."""
    load = current().load
    load.running += 1
    try:
        return await _handle_incident(incident_id)
    finally:
        load.running -= 1


async def _handle_incident(incident_id: str) -> str:
    loaded = await _begin(incident_id)
    if loaded is None:
        return "closed"
    if loaded["shadowOf"] is not None:  # only ever enqueued as SHADOW_WORKFLOW; never carried as an incident
        return await _record_shadow_plan(incident_id)
    runbook = Runbook.model_validate(loaded["runbook"])
    notes = Notes(incident_id, runbook)
    await _start_escalation_timer(incident_id, runbook.escalation.escalate_after_minutes)
    await notes.send("opened", runbook.escalation.primary, "incident opened", _opened_text(loaded), state="triggered")
    diagnosis = await _diagnose(incident_id)
    plan: list[str] = diagnosis["plan"]
    if not plan:
        await _escalate(incident_id, "no decision planned any remediation: a person takes over", notes)
        return "escalated"
    inbox = _Inbox()
    performed: list[str] = []
    for remediation_id in plan:
        remediation = runbook.remediation(remediation_id)
        if remediation is None:  # the linter refuses such runbooks; a snapshot from an older version might not
            await record(incident_id, "plan", f"remediation {remediation_id} is not defined; skipped")
            continue
        outcome = await _remediate(incident_id, runbook, remediation, inbox, notes)
        if outcome in ("closed", "stop"):
            return "closed" if outcome == "closed" else "escalated"
        if outcome == "performed":
            performed.append(remediation_id)
    if not performed:
        await _escalate(incident_id, "no remediation was carried out: a person takes over", notes)
        return "escalated"
    return await _verify_and_close(incident_id, runbook, performed, diagnosis["verify"], notes)


@DBOS.workflow(name=SHADOW_WORKFLOW)
async def handle_shadow(incident_id: str) -> str:
    """A shadow version's run beside an incident (#15): its diagnostics and decisions run, its plan is recorded.

    Nothing acts: no escalation timer, no notification, no approval request, no action.
    """
    if await _begin(incident_id) is None:
        return "closed"
    return await _record_shadow_plan(incident_id)


async def _record_shadow_plan(incident_id: str) -> str:
    plan: list[str] = (await _diagnose(incident_id))["plan"]
    planned = ", ".join(plan) if plan else "nothing"
    await _transition(incident_id, IncidentState.RECORDED, f"shadow run: planned {planned}; nothing was carried out")
    return "recorded"


async def _remediate(incident_id: str, runbook: Runbook, remediation: Remediation, inbox: _Inbox, notes: Notes) -> str:
    """One remediation: "performed", "skipped", "stop" (the plan ends, escalated) or "closed"."""
    primary = runbook.escalation.primary
    kind = step_kind(remediation)
    if kind is StepKind.ESCALATE:
        targets = [t for t in (primary, runbook.escalation.secondary) if t]
        body = f"{remediation.name}: {remediation.description}\n\n{evidence(await _assessment(incident_id))}"
        for target in targets:  # the primary among them: its thread hears the page as it is
            await notes.send("escalated", target, remediation.name, body, state="escalated")
        await _mark_escalated(incident_id, f"{remediation.name}: paged {', '.join(targets)}")
        return "skipped"
    if kind is StepKind.MANUAL:
        waiting = f"done or skip: {remediation.id}"
        if not await _transition(
            incident_id, IncidentState.REMEDIATING, f"waiting for a person: {remediation.name}", waiting_for=waiting
        ):
            return "closed"
        await notes.send(
            "action_needed",
            primary,
            f"to do: {remediation.name}",
            remediation.instructions or "",
            state="remediating",
            instructions=remediation.instructions,
        )
        decision = await inbox.wait(remediation.id, ("done", "skip"), None)
        if decision is None:
            return "closed"
        done = decision["kind"] == "done"
        await notes.follow("done" if done else "skipped", decided(remediation.name, decision), state="remediating")
        return "performed" if done else "skipped"
    approval: dict[str, Any] | None = None
    if kind is StepKind.APPROVAL:
        waiting = f"{APPROVAL_WAIT}{remediation.id}"
        if not await _transition(
            incident_id, IncidentState.AWAITING_APPROVAL, f"{remediation.name} waits for approval", waiting_for=waiting
        ):
            return "closed"
        description = await _describe(incident_id, remediation.id)
        await notes.send(
            "approval_needed",
            primary,
            f"approve {remediation.name}?",
            approval_text(remediation, description),
            state="awaiting_approval",
            approval=remediation.id,
        )
        window = runbook.escalation.escalate_after_minutes * (await _minute_seconds())
        decision = await inbox.wait(remediation.id, ("approve", "reject"), window)
        if decision == "timeout":
            minutes = f"{runbook.escalation.escalate_after_minutes:g} minutes"
            await _escalate_flag(
                incident_id, f"no approval for {remediation.name} within {minutes}", notes, approval=remediation.id
            )
            decision = await inbox.wait(remediation.id, ("approve", "reject"), None)
        if decision is None or decision == "timeout":
            return "closed"
        if decision["kind"] == "reject":
            # no longer waiting: the plan goes on (the next remediation, or people)
            if not await _transition(incident_id, IncidentState.REMEDIATING, f"{remediation.name} was rejected"):
                return "closed"
            await notes.follow("rejected", decided(remediation.name, decision), state="remediating")
            return "skipped"
        approval = decision
        approved_by = f"{decision['actor']}" + (f" ({decision['reason']})" if decision.get("reason") else "")
    else:
        approved_by = "automatic: the runbook does not require approval"
    if not await _transition(incident_id, IncidentState.REMEDIATING, f"running {remediation.name}"):
        return "closed"
    if approval is not None:
        await notes.follow("approved", decided(remediation.name, approval), state="remediating")
    why = approved_by if approval is None else f"approved by {approved_by}"
    await notes.follow("action_started", f"starting {remediation.name}", why, state="remediating")
    ran = await _run_action(incident_id, remediation.id, 1, approved_by)
    status = ActionStatus(ran["status"])
    await notes.follow(
        "action_finished",
        f"{remediation.name}: {status.value.replace('_', ' ')}",
        ran["message"],
        state="remediating",
        outcome=_ACTION_OUTCOME.get(status, "unknown"),
    )
    if status in (ActionStatus.SUCCEEDED, ActionStatus.DRY_RUN):
        return "performed"
    if status == ActionStatus.BLOCKED:
        await _escalate(incident_id, f"{remediation.name} was blocked by a safety rail; people take over", notes)
        return "stop"
    if status == ActionStatus.OUTCOME_UNKNOWN:
        healthy = (await _check(incident_id, [d.id for d in runbook.diagnostics]))["healthy"]
        state = "healthy" if healthy else "not healthy"
        await _escalate(
            incident_id,
            f"{remediation.name} started but never reported (the engine stopped inside it);"
            f" it was not run again; the diagnostics now read {state}; a person confirms",
            notes,
        )
        return "stop"
    if remediation.continue_on_failure:
        await record(incident_id, "plan", f"{remediation.name} failed; continuing (continueOnFailure)")
        return "skipped"
    await _escalate(incident_id, f"{remediation.name} failed; the plan stops here", notes)
    return "stop"


async def _verify_and_close(
    incident_id: str, runbook: Runbook, performed: Sequence[str], verify: Mapping[str, list[str]], notes: Notes
) -> str:
    after = max(
        (r.verify.after if r.verify else 60.0) for r in (runbook.remediation(rid) for rid in performed) if r is not None
    )
    diagnostics = sorted({d for rid in performed for d in verify.get(rid, [])}) or [d.id for d in runbook.diagnostics]
    if not await _transition(
        incident_id, IncidentState.VERIFYING, f"verifying in {after:g}s: {', '.join(diagnostics)}"
    ):
        return "closed"
    await DBOS.sleep_async(after)
    check = await _check(incident_id, diagnostics)
    verdict = "verified healthy" if check["healthy"] else "still not healthy"
    await notes.follow(
        "verification",
        f"{verdict}: {', '.join(check['names'])}",
        check["text"],
        state="verifying",
        outcome="healthy" if check["healthy"] else "critical",
    )
    if check["healthy"]:
        if await _transition(incident_id, IncidentState.RESOLVED, "verified healthy after remediation"):
            for target in notes.all_targets():
                await notes.send(
                    "resolved", target, "resolved", "Verified healthy after remediation.", state="resolved"
                )
        return "resolved"
    await _escalate(incident_id, "still not healthy after remediation", notes)
    return "escalated"


# -- people -------------------------------------------------------------------------------------


@dataclass
class _Inbox:
    """Decisions from people; one that arrives early (for a later step) waits here for its turn.

    The stash is plain workflow state: on replay the same messages come back from the
    checkpointed `recv` calls in the same order, so it is rebuilt exactly.
    """

    stash: list[dict[str, Any]] = field(default_factory=list)

    async def wait(self, remediation_id: str, kinds: tuple[str, ...], timeout: float | None) -> Any:
        """The first matching decision; "timeout" when `timeout` passes; None if the incident closed."""
        for index, message in enumerate(self.stash):
            if message.get("remediation") == remediation_id and message.get("kind") in kinds:
                return self.stash.pop(index)
        started = await _now()
        while True:
            if timeout is None:
                chunk = WAIT_CHUNK
            else:
                chunk = timeout - (await _now() - started)
                if chunk <= 0:
                    return "timeout"
            message = await DBOS.recv_async(HUMAN_TOPIC, timeout_seconds=chunk)
            if message is None:
                if not await _is_open(current_incident()):
                    return None
                continue
            if message.get("kind") in ("resolve", "cancel"):
                return None
            if message.get("remediation") == remediation_id and message.get("kind") in kinds:
                return message
            self.stash.append(message)


def current_incident() -> str:
    workflow_id = DBOS.workflow_id
    assert workflow_id is not None
    return workflow_id


# -- steps --------------------------------------------------------------------------------------


@DBOS.step(name="handrail.begin")
async def _begin(incident_id: str) -> dict[str, Any] | None:
    """The incident as recorded, now `diagnosing`; None when it closed before it began.

    One step where there were two (#14): run again after a crash inside it, it finds the state
    already moved and moves nothing twice.
    """
    return await off_loop(_began, incident_id)


def _began(incident_id: str) -> dict[str, Any] | None:
    store = current().store
    record = store.get(incident_id)
    if record is not None and record.state is IncidentState.TRIGGERED:
        record = store.transition(incident_id, IncidentState.DIAGNOSING, "collecting evidence")
    if record is None or not record.is_open:
        return None
    return {
        "runbook": dict(record.runbook),
        "labels": dict(record.labels),
        "dryRun": record.dry_run,
        "triggeredBy": record.triggered_by,
        "triggerType": record.trigger_type,
        "shadowOf": record.shadow_of,
    }


@DBOS.step(name="handrail.now")
async def _now() -> float:
    return time.time()


@DBOS.step(name="handrail.minute_seconds")
async def _minute_seconds() -> float:
    return current().minute_seconds


@DBOS.step(name="handrail.is_open")
async def _is_open(incident_id: str) -> bool:
    record = await off_loop(current().store.get, incident_id)
    return record is not None and record.is_open


@DBOS.step(name="handrail.transition")
async def _transition(incident_id: str, state: IncidentState, message: str, waiting_for: str | None = None) -> bool:
    return await off_loop(current().store.transition, incident_id, state, message, waiting_for=waiting_for) is not None


@DBOS.step(name="handrail.assessment")
async def _assessment(incident_id: str) -> dict[str, Any] | None:
    record = await off_loop(current().store.get, incident_id)
    return dict(record.assessment) if record is not None and record.assessment else None


@DBOS.step(name="handrail.diagnose")
async def _diagnose(incident_id: str) -> dict[str, Any]:
    """Run the assessment; record it, every result and decision in one write; return the plan and what verifies it."""
    runtime = current()
    record = await off_loop(runtime.store.get, incident_id)
    assert record is not None
    runbook = Runbook.model_validate(record.runbook)
    result, history = await _assess_with_history(runbook, record, triggers=True)
    body = {**result.to_dict(), "history": history}
    plan = list(result.recommended_actions)
    events: list[Event] = [
        ("diagnostic", f"{d.name}: {d.status.value} — {d.message}", d.to_dict()) for d in result.results
    ]
    verify: dict[str, list[str]] = {}
    for decision in result.decisions:
        if not decision.matched:
            continue
        events.append(("decision", f"decision: {decision.description}", decision.to_dict()))
        sources = _diagnostics_in(decision.condition) if decision.condition else [d.id for d in runbook.diagnostics]
        for remediation_id in decision.then:
            verify.setdefault(remediation_id, [])
            verify[remediation_id] += [d for d in sources if d not in verify[remediation_id]]
    for remediation_id in plan:
        remediation = runbook.remediation(remediation_id)
        if remediation is not None and remediation.verify and remediation.verify.diagnostics:
            verify[remediation_id] = list(remediation.verify.diagnostics)
    summary = ", ".join(plan) if plan else "nothing"
    events.append(("plan", f"overall {result.overall_severity.value}; plan: {summary}", {"plan": plan}))
    severity = result.overall_severity.value
    await off_loop(runtime.store.set_assessment, incident_id, body, plan, severity, events=events)
    return {"plan": plan, "verify": verify, "severity": result.overall_severity.value}


async def _assess_with_history(
    runbook: Runbook, record: IncidentRecord, *, triggers: bool
) -> tuple[Assessment, list[dict[str, Any]]]:
    """The assessment, and beside it the hour before of its Prometheus queries (engine/history.py).

    The range queries run concurrently with the diagnostics, never inside them: they do not change a
    diagnostic's result, and one that fails is recorded with its reason. The plan waits for both, so a
    range query slower than the diagnostics delays it, by at most `history.HISTORY_TIMEOUT`.
    """
    runtime = current()
    async with runtime.assessment_slots:  # bounded, so a storm of incidents cannot starve its own diagnostics
        result, history = await asyncio.gather(
            assess(
                runbook,
                probes=runtime.probes,
                labels=record.labels,
                annotations=record.annotations,
                deadline=runtime.assessment_deadline,
            ),
            record_history(
                runbook,
                probes=runtime.probes,
                labels=record.labels,
                annotations=record.annotations,
                end=time.time(),
                minute_seconds=runtime.minute_seconds,
                triggers=triggers,
            ),
        )
    return result, history


def _diagnostics_in(condition: str) -> list[str]:
    found: list[str] = []
    for reference in parse(condition).references:
        if reference.path[0] == "diagnostics" and len(reference.path) > 1 and str(reference.path[1]) not in found:
            found.append(str(reference.path[1]))
    return found


@DBOS.step(name="handrail.check")
async def _check(incident_id: str, diagnostic_ids: list[str]) -> dict[str, Any]:
    """Run these diagnostics again: `healthy` when every one reads healthy, their `names`, one line each (`text`)."""
    runtime = current()
    record = await off_loop(runtime.store.get, incident_id)
    assert record is not None
    runbook = Runbook.model_validate(record.runbook)
    chosen = [d for d in runbook.diagnostics if d.id in diagnostic_ids]
    subset = runbook.model_copy(update={"diagnostics": chosen, "decision_tree": []})
    result, history = await _assess_with_history(subset, record, triggers=False)
    lines = [f"{r.name}: {r.status.value} — {r.message}" for r in result.results]
    healthy = bool(result.results) and all(r.status.value == "healthy" for r in result.results)
    verdict = "healthy" if healthy else "not healthy"
    await off_loop(
        runtime.store.record,
        incident_id,
        "verification",
        f"verification: {verdict}\n" + "\n".join(lines),
        data={"results": [r.to_dict() for r in result.results], "healthy": healthy, "history": history},
    )
    return {"healthy": healthy, "names": [r.name for r in result.results], "text": "\n".join(lines)}


def _action_setup(incident_id: str, remediation_id: str, attempt: int) -> tuple[Any, Any, ActionContext, str]:
    runtime = current()
    record = runtime.store.get(incident_id)
    assert record is not None
    if record.shadow_of is not None:  # the shadow workflow never gets here; nothing may carry out a shadow's plan
        raise IncidentConflictError(f"{incident_id} is a shadow run beside {record.shadow_of}: nothing it plans acts")
    runbook = Runbook.model_validate(record.runbook)
    remediation = runbook.remediation(remediation_id)
    assert remediation is not None
    assert remediation.action is not None
    action = runtime.actions.get(remediation.action.type)
    if action is None:
        raise ActionError(f"the {remediation.action.type} action is not available in this version of Handrail")
    params = ACTION_PARAMS[remediation.action.type].model_validate(remediation.action.config)
    context = ActionContext(
        incident_id=incident_id,
        idempotency_key=f"{incident_id}:{remediation_id}:{attempt}",
        template={"labels": dict(record.labels), "annotations": dict(record.annotations)},
        channel=runbook.escalation.primary,
    )
    return action, params, context, remediation.action.type


@DBOS.step(name="handrail.describe")
async def _describe(incident_id: str, remediation_id: str) -> str:
    return await off_loop(_described, incident_id, remediation_id)


def _described(incident_id: str, remediation_id: str) -> str:
    try:
        action, params, context, _ = _action_setup(incident_id, remediation_id, 1)
        description = str(action.describe(params, context))
    except ActionError as exc:
        return f"(cannot be described: {exc})"
    # Kept on the timeline so the console shows exactly what an approval would run.
    data = {"remediation": remediation_id, "description": description}
    current().store.record(incident_id, "action_described", f"{remediation_id} would run: {description}", data=data)
    return description


@dataclass(frozen=True, slots=True)
class _Claimed:
    """An action claimed to run now (its run is `running`)."""

    action: Any
    params: Any
    context: ActionContext
    action_type: str


@DBOS.step(name="handrail.run_action")
async def _run_action(incident_id: str, remediation_id: str, attempt: int, approved_by: str) -> dict[str, str]:
    """Run an action at most once: intent first, then the rails and the claim, then execute, then the outcome.

    Returns the run's `status` and `message`, as the store has them.
    """
    claimed = await off_loop(_claim_action, incident_id, remediation_id, attempt, approved_by)
    if isinstance(claimed, ActionStatus):
        run = await off_loop(current().store.action_run, f"{incident_id}:{remediation_id}:{attempt}")
        return {"status": claimed.value, "message": run.message or ""}
    action, params, context, action_type = claimed.action, claimed.params, claimed.context, claimed.action_type
    try:
        outcome = await action.execute(params, context)
    except ActionError as exc:
        outcome = ActionOutcome(False, str(exc))
    except Exception as exc:  # a bug in an action must not leave the run "running" forever
        logger.exception("action %s failed unexpectedly", action_type)
        outcome = ActionOutcome(False, f"internal error in the {action_type} action: {type(exc).__name__}")
    status = ActionStatus.SUCCEEDED if outcome.ok else ActionStatus.FAILED
    key = context.idempotency_key
    data = {"key": key, "status": status.value, "output": outcome.output[:4096]}
    event: Event = ("action", f"{remediation_id}: {status.value} — {outcome.message}", data)
    await off_loop(current().store.finish_action, key, status, outcome.message, outcome.output, event=event)
    return {"status": status.value, "message": outcome.message}


def _claim_action(incident_id: str, remediation_id: str, attempt: int, approved_by: str) -> _Claimed | ActionStatus:
    """Everything before an action runs (blocking: the store): its run's status when it must not run now."""
    runtime = current()
    store = runtime.store
    try:
        action, params, context, action_type = _action_setup(incident_id, remediation_id, attempt)
    except ActionError as exc:
        key = f"{incident_id}:{remediation_id}:{attempt}"
        store.record_intent(
            key,
            incident_id=incident_id,
            remediation_id=remediation_id,
            attempt=attempt,
            action_type="unavailable",
            description=str(exc),
        )
        store.finish_action(
            key, ActionStatus.FAILED, str(exc), event=("action", f"{remediation_id}: failed — {exc}", {"key": key})
        )
        return ActionStatus.FAILED
    try:
        description = str(action.describe(params, context))
        scope = action.scope(params, context)
    except ActionError as exc:
        description, scope = f"(cannot be described: {exc})", None
    key = context.idempotency_key
    record = store.get(incident_id)
    assert record is not None
    runbook = Runbook.model_validate(record.runbook)
    run = store.record_intent(
        key,
        incident_id=incident_id,
        remediation_id=remediation_id,
        attempt=attempt,
        action_type=action_type,
        description=description,
        target=scope.target if scope else "",
        service=runbook.service,
        approved_by=approved_by,
        params=params.model_dump(mode="json", by_alias=True, exclude_none=True),
    )
    if run.status is ActionStatus.RUNNING:
        message = "started but never reported: the engine stopped during it; not run again"
        store.finish_action(
            key,
            ActionStatus.OUTCOME_UNKNOWN,
            message,
            event=(
                "action",
                f"{remediation_id}: outcome unknown — {message}",
                {"key": key, "status": ActionStatus.OUTCOME_UNKNOWN.value},
            ),
        )
        return ActionStatus.OUTCOME_UNKNOWN
    if run.status is not ActionStatus.PENDING:
        return run.status  # finished before the crash; the checkpoint was all that was missing
    if record.dry_run:
        store.finish_action(
            key,
            ActionStatus.DRY_RUN,
            f"dry run: would run {description}",
            event=(
                "action",
                f"{remediation_id}: dry run — would run: {description}",
                {"key": key, "status": ActionStatus.DRY_RUN.value, "description": description},
            ),
        )
        return ActionStatus.DRY_RUN
    if scope is None:
        store.finish_action(
            key,
            ActionStatus.FAILED,
            description,
            event=("action", f"{remediation_id}: failed — {description}", {"key": key}),
        )
        return ActionStatus.FAILED
    policy = runtime.safety.for_runbook(runbook)
    minute = runtime.minute_seconds
    running: Event = (
        "action",
        f"{remediation_id}: running — {description} (approved: {approved_by})",
        {"key": key, "target": scope.target},
    )
    blocked = policy.allow.refusal(scope) or store.claim_with_rails(
        key,
        service=runbook.service,
        cooldown=policy.cooldown_minutes * minute,
        rate_window=policy.rate_minutes * minute,
        rate_limit=policy.rate_actions,
        event=running,
    )
    if blocked is not None:
        if store.action_run(key).status is not ActionStatus.PENDING:
            return store.action_run(key).status
        store.finish_action(
            key,
            ActionStatus.BLOCKED,
            blocked,
            event=(
                "action",
                f"{remediation_id}: blocked — {blocked}",
                {"key": key, "status": ActionStatus.BLOCKED.value, "target": scope.target},
            ),
        )
        return ActionStatus.BLOCKED
    return _Claimed(action, params, context, action_type)


@DBOS.step(name="handrail.escalate")
async def _escalate_state(incident_id: str, reason: str) -> bool:
    return await off_loop(current().store.transition, incident_id, IncidentState.ESCALATED, reason) is not None


@DBOS.step(name="handrail.mark_escalated")
async def _mark_escalated(incident_id: str, reason: str) -> bool:
    return await off_loop(current().store.mark_escalated, incident_id, reason)


async def _escalate(incident_id: str, reason: str, notes: Notes) -> None:
    """The incident goes to people: state `escalated`; every escalation target is told, and the primary's thread."""
    if await _escalate_state(incident_id, reason):
        body = f"{reason}\n\n{evidence(await _assessment(incident_id))}"
        await notes.escalate("escalated", body, state="escalated")


async def _escalate_flag(incident_id: str, reason: str, notes: Notes, approval: str | None = None) -> None:
    if await _mark_escalated(incident_id, reason):
        await notes.escalate("escalated", reason, state="awaiting_approval", approval=approval)


# -- the alert resolved -------------------------------------------------------------------------


ALERT_RESOLVED_WORKFLOW = "handrail.alert_resolved"


@DBOS.workflow(name=ALERT_RESOLVED_WORKFLOW)
async def alert_resolved(incident_id: str) -> bool:
    """The runbook asked to close with its alert: verify every diagnostic; healthy → resolved."""
    details = await _unacknowledged_or_open(incident_id)
    if details is None:
        return False
    runbook = Runbook.model_validate(details["runbook"])
    notes = Notes(incident_id, runbook, prefix="alert")
    check = await _check(incident_id, [d.id for d in runbook.diagnostics])
    if not check["healthy"]:
        staying = "the alert resolved but the diagnostics are not healthy; staying open"
        await record(incident_id, "alert", staying)
        await notes.follow("verification", staying, check["text"], state=details["state"], outcome="critical")
        return False
    if not await _transition(incident_id, IncidentState.RESOLVED, "the alert resolved and verification is healthy"):
        return False
    await _cancel_plan(incident_id)
    for target in notes.all_targets():
        await notes.send("resolved", target, "resolved", "The alert resolved; verified healthy.", state="resolved")
    return True


@DBOS.step(name="handrail.open_incident")
async def _unacknowledged_or_open(incident_id: str) -> dict[str, Any] | None:
    record = await off_loop(current().store.get, incident_id)
    if record is None or not record.is_open:
        return None
    return {"runbook": dict(record.runbook), "state": record.state.value}


@DBOS.step(name="handrail.cancel_plan")
async def _cancel_plan(incident_id: str) -> None:
    for workflow_id in (incident_id, f"{incident_id}:escalation"):
        await DBOS.cancel_workflow_async(workflow_id)


# -- escalation timer ---------------------------------------------------------------------------


async def _start_escalation_timer(incident_id: str, minutes: float) -> None:
    with SetWorkflowID(f"{incident_id}:escalation"):
        await DBOS.start_workflow_async(escalation_timer, incident_id, minutes)


@DBOS.workflow(name="handrail.escalation_timer")
async def escalation_timer(incident_id: str, minutes: float) -> bool:
    """After `escalateAfterMinutes`, an incident nobody acknowledged or resolved goes to the secondary."""
    seconds = minutes * (await _minute_seconds())
    await DBOS.sleep_async(seconds)
    details = await _unacknowledged(incident_id)
    if details is None:
        return False
    runbook = Runbook.model_validate(details["runbook"])
    reason = f"not acknowledged within {minutes:g} minutes"
    if not await _mark_escalated(incident_id, reason):
        return False
    notes = Notes(incident_id, runbook, prefix="timer")
    body = f"{reason}.\n\n{evidence(details.get('assessment'))}"
    await notes.escalate(reason, body, state=details["state"])
    return True


@DBOS.step(name="handrail.unacknowledged")
async def _unacknowledged(incident_id: str) -> dict[str, Any] | None:
    record = await off_loop(current().store.get, incident_id)
    if record is None or not record.is_open or record.acknowledged_at is not None:
        return None
    return {"runbook": dict(record.runbook), "assessment": record.assessment, "state": record.state.value}


_ACTION_OUTCOME = {
    ActionStatus.SUCCEEDED: "healthy",
    ActionStatus.DRY_RUN: "healthy",
    ActionStatus.FAILED: "critical",
    ActionStatus.BLOCKED: "warning",
}
"""How an action's end reads beside its status (a notifier's colour); anything else is `unknown`."""


def _opened_text(loaded: Mapping[str, Any]) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in sorted(loaded["labels"].items()))
    dry = "\nDRY RUN: no action will change anything." if loaded["dryRun"] else ""
    return f"{loaded['triggerType']} trigger by {loaded['triggeredBy']}" + (f" ({labels})" if labels else "") + dry
