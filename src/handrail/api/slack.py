"""Slack calls Handrail: Approve / Reject buttons and the `/handrail` slash command.

Every request is verified with the app's signing secret (v0 HMAC over the raw body, five-minute
replay window) before anything is parsed. The Slack user must map (`notifiers.slack.users`) to a
Handrail identity whose token role allows the decision; four-eyes is `IncidentService.decide`'s, as everywhere.

A click is acknowledged at once and answered through its `response_url` (an ephemeral message to
the person who clicked; `notify/slack_replies.py` posts only to Slack's hooks host); the
acknowledgement carries the same text. The channel hears the decision from the engine, in the
incident's thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

from fastapi import APIRouter, Request

from handrail.api.auth import Identity
from handrail.api.deps import state_of
from handrail.api.errors import ApiError
from handrail.api.state import ApiState
from handrail.engine import assess
from handrail.errors import CatalogError, IncidentError, NotifyError
from handrail.notify.slack_blocks import DiagnosticLine, assessment_text, escape_mrkdwn
from handrail.notify.slack_interactions import (
    SlackSignatureError,
    check_slack_headers,
    parse_interaction,
    parse_slash_command,
    verify_slack_signature,
)
from handrail.notify.slack_replies import ephemeral

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/slack")
_background: set[asyncio.Task[None]] = set()


async def _verified_body(request: Request) -> bytes:
    slack = state_of(request).settings.notifiers.slack
    if slack is None or slack.signing_secret is None:
        raise ApiError(404, "not_found", "Slack is not configured (notifiers.slack.signingSecret)")
    try:  # the headers before the body: a request that cannot be Slack's is refused unread
        check_slack_headers(
            timestamp=request.headers.get("x-slack-request-timestamp"),
            signature=request.headers.get("x-slack-signature"),
            now=time.time(),
        )
    except SlackSignatureError as exc:
        raise ApiError(401, "bad_signature", f"Slack signature: {exc.reason}") from None
    body = await request.body()  # at most api.limits.bodyBytes (api/body.py)
    try:
        verify_slack_signature(
            slack.signing_secret.get_secret_value(),
            timestamp=request.headers.get("x-slack-request-timestamp"),
            signature=request.headers.get("x-slack-signature"),
            body=body,
            now=time.time(),
        )
    except SlackSignatureError as exc:
        raise ApiError(401, "bad_signature", f"Slack signature: {exc.reason}") from None
    return body


def _identity(state: ApiState, user_id: str) -> Identity | None:
    slack = state.settings.notifiers.slack
    name = slack.users.get(user_id) if slack is not None else None
    role = state.tokens.role_of(name) if name else None
    return Identity(name, role) if name and role else None


def _reply(text: str) -> dict[str, Any]:
    """An ephemeral answer; `text` is mrkdwn, so every outside value in it went through `escape_mrkdwn`."""
    return ephemeral(text)


def _later(work: Coroutine[Any, Any, None]) -> None:
    """Run `work` after the answer has gone: Slack waits three seconds for an acknowledgement, no more."""
    task = asyncio.create_task(work)
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _respond(state: ApiState, response_url: str, message: dict[str, Any]) -> None:
    try:
        await state.slack_replies.send(response_url, message)
    except NotifyError as exc:  # the person sees no reply; the decision itself is recorded either way
        logger.warning("%s", exc)


def _answer_click(state: ApiState, response_url: str, text: str) -> dict[str, Any]:
    """Answer a click: ephemerally through its `response_url`, and in the acknowledgement."""
    _later(_respond(state, response_url, _reply(text)))
    return _reply(text)


def _mention(user_id: str) -> str:
    return f"<@{escape_mrkdwn(user_id)}>"


@router.post("/interactions")
async def interactions(request: Request) -> dict[str, Any]:
    """Approve / Reject buttons on approval messages."""
    body = await _verified_body(request)
    try:
        decision = parse_interaction(body)
    except ValueError as exc:
        raise ApiError(400, "invalid_request", f"Slack interaction: {exc}", field="payload") from None
    if decision is None:
        return {}
    state = state_of(request)
    url = decision.response_url
    identity = _identity(state, decision.user_id)
    if identity is None or not identity.may("approver"):
        refused = f"{_mention(decision.user_id)} is not mapped to a Handrail approver; nothing was recorded."
        return _answer_click(state, url, refused)
    try:
        await state.service.decide(
            decision.incident_id, decision.remediation_id, decision.kind, actor=identity.name, reason="via Slack"
        )
    except IncidentError as exc:
        return _answer_click(state, url, f"Not recorded: {escape_mrkdwn(str(exc))}")
    done = f"{decision.remediation_id} {decision.kind}d by {identity.name} on {decision.incident_id}."
    return _answer_click(state, url, escape_mrkdwn(done))


@router.post("/commands")
async def commands(request: Request) -> dict[str, Any]:
    """`/handrail status INC-…`, `/handrail trigger RUNBOOK`, `/handrail run RUNBOOK`."""
    body = await _verified_body(request)
    try:
        command = parse_slash_command(body)
    except ValueError as exc:
        raise ApiError(400, "invalid_request", f"Slack command: {exc}", field="text") from None
    state = state_of(request)
    identity = _identity(state, command.user_id)
    if identity is None:
        return _reply(f"{_mention(command.user_id)} is not mapped to a Handrail identity.")
    verb, args = command.verb, command.args.split()
    try:
        if verb == "status" and args:
            record = await state.service.get(args[0])
            waiting = f" — waiting for {record.waiting_for}" if record.waiting_for else ""
            status = f"{record.id} [{record.severity}] {record.title}: {record.state.value}{waiting}"
            return _reply(escape_mrkdwn(status))
        if verb == "trigger" and args and identity.may("responder"):
            runbook = state.catalog.catalog.get(args[0])
            record, opened = await state.service.trigger(runbook, trigger_type="manual", triggered_by=identity.name)
            return _reply(escape_mrkdwn(f"{'Opened' if opened else 'Joined'} {record.id} for {runbook.id}."))
        if verb == "run" and args and identity.may("responder"):
            runbook = state.catalog.catalog.get(args[0])
            _later(_run_and_answer(state, runbook.id, command.response_url))
            return _reply(f"Running the diagnostics of {escape_mrkdwn(runbook.id)}; the result follows here.")
    except CatalogError as exc:
        return _reply(escape_mrkdwn(exc.public))  # Slack is outside: no server paths
    except IncidentError as exc:
        return _reply(escape_mrkdwn(str(exc)))
    return _reply("Usage: /handrail status INCIDENT | trigger RUNBOOK | run RUNBOOK (responders only for the last two)")


async def _run_and_answer(state: ApiState, runbook_id: str, response_url: str) -> None:
    runbook = state.catalog.catalog.get(runbook_id)
    result = await assess(runbook, probes=state.probes, deadline=state.settings.assessment_deadline)
    diagnostics = [DiagnosticLine(r.name, r.status.value, r.message) for r in result.results]
    text = assessment_text(runbook.name, result.overall_severity.value, diagnostics, result.recommended_actions)
    await _respond(state, response_url, {"response_type": "ephemeral", "text": text})
