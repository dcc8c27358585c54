"""The composition root: build the store, service, probes, actions and notifiers from settings.

Only the entry points (`cli.py`, later the API) call this; everything below takes its parts as
arguments.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from dbos import DBOS, DBOSClient

from handrail.actions.base import Action
from handrail.actions.flush_cache import FlushCacheAction
from handrail.actions.notify import NotifyAction
from handrail.actions.restart_service import RestartServiceAction
from handrail.actions.rollback import RollbackAction
from handrail.actions.run_script import RunScriptAction
from handrail.actions.scale_up import ScaleUpAction
from handrail.api.auth import TokenRegistry, digest, new_token
from handrail.api.state import ApiState, CatalogHolder
from handrail.catalog import Catalog
from handrail.check import LiveCheck, create_checkers
from handrail.diagnostics.registry import create_probes
from handrail.engine.runtime import EngineRuntime
from handrail.engine.service import IncidentService
from handrail.engine.worker import Worker
from handrail.errors import NotifyError
from handrail.notify.base import Notification, Notifier
from handrail.notify.log import LogNotifier
from handrail.notify.pagerduty import PagerDutyNotifier
from handrail.notify.slack_replies import SlackReplies
from handrail.notify.webhook import WebhookNotifier
from handrail.runbook.model import Runbook
from handrail.safety import SafetyPolicy
from handrail.settings import Settings
from handrail.store import SqlIncidentStore, create_engine
from handrail.store.message_refs import SqlMessageRefs
from handrail.store.tokens import SqlApiTokens

__all__ = [
    "create_actions",
    "create_live_check",
    "create_notifiers",
    "create_runtime",
    "create_worker",
    "open_api_state",
    "open_service",
    "open_store",
    "safety_policy",
]

logger = logging.getLogger(__name__)


def open_store(settings: Settings, *, reconnect_within: float | None = 15.0) -> SqlIncidentStore:
    """The store on the configured database, migrated to the current schema (ours and DBOS's)."""
    store = SqlIncidentStore(create_engine(settings.database), reconnect_within=reconnect_within)
    # one lock for both schemas: processes starting together on a fresh database take turns (#13)
    store.migrate(alongside=lambda: DBOS.migrate(settings.database))
    return store


def open_service(settings: Settings, store: SqlIncidentStore | None = None) -> IncidentService:
    """The incident service on the configured database (on `store` when given).

    It finds shadow versions in the catalog folder as it stands at each trigger; `open_api_state` points it at
    the catalog the server holds instead.
    """
    store = store or open_store(settings)
    return IncidentService(
        store,
        DBOSClient(system_database_url=settings.database),
        settings.api.limits,
        four_eyes=settings.api.four_eyes,
        shadows_for=partial(_shadows_in, settings.runbooks),
    )


def _shadows_in(folder: Path, runbook_id: str) -> list[Runbook]:
    """The shadow versions of a runbook in the catalog folder now (one trigger from the CLI or the poller)."""
    return Catalog.load(folder).shadows_of(runbook_id)


def create_notifiers(settings: Settings, store: SqlIncidentStore | None = None) -> list[Notifier]:
    notifiers: list[Notifier] = []
    if settings.notifiers.log:
        notifiers.append(LogNotifier())
    configured = settings.notifiers
    if configured.webhook is not None:
        notifiers.append(configured.webhook.create_notifier(name="webhook"))
    for name, webhook in configured.webhooks.items():
        notifiers.append(
            WebhookNotifier(
                webhook.url,
                headers=webhook.headers,
                secret=webhook.secret,
                timeout=webhook.timeout,
                targets=[f"webhook:{name}"],
                name=f"webhook:{name}",
            )
        )
    if configured.pagerduty is not None:
        notifiers.append(PagerDutyNotifier(configured.pagerduty))
    if configured.slack is not None:
        slack = configured.slack
        if slack.console_url is None and settings.api.console_url:
            slack = slack.model_copy(update={"console_url": settings.api.console_url})
        notifiers.append(slack.create_notifier(refs=SqlMessageRefs(store.engine) if store is not None else None))
    return notifiers


def create_actions(settings: Settings, notifiers: Sequence[Notifier]) -> dict[str, Action[Any]]:
    """One action per type; the worker closes them with `aclose()` when it stops."""

    async def send(target: str, text: str) -> None:
        await _send_message(notifiers, target, text.splitlines()[0][:200] if text else "", text)

    return {
        "run_script": RunScriptAction(settings.databases),
        "notify": NotifyAction(send),
        "flush_cache": FlushCacheAction(settings.caches),
        "restart_service": RestartServiceAction(settings.kubernetes),
        "scale_up": ScaleUpAction(settings.kubernetes),
        "rollback": RollbackAction(settings.kubernetes),
    }


async def _send_message(notifiers: Sequence[Notifier], target: str, title: str, text: str, severity: str = "") -> None:
    """A message (not about an incident) to every notifier that takes `target`: the `notify` action, the live check."""
    chosen = [n for n in notifiers if n.accepts(target)]
    if not chosen:
        raise NotifyError(f"no notifier delivers to {target}")
    note = Notification(target=target, kind="message", title=title, text=text, severity=severity)
    for notifier in chosen:
        await notifier.send(note)


def create_live_check(settings: Settings, notifiers: Sequence[Notifier]) -> LiveCheck:
    """`handrail serve`'s live check of the catalog (docs/check.md), telling runbooks' primaries through `notifiers`."""

    async def tell(target: str, title: str, text: str, severity: str) -> None:
        await _send_message(notifiers, target, title, text, severity)

    return LiveCheck(settings.runbooks, lambda: create_checkers(settings), tell)


def create_runtime(settings: Settings, store: SqlIncidentStore) -> EngineRuntime:
    notifiers = create_notifiers(settings, store)
    return EngineRuntime(
        store=store,
        probes=create_probes(prometheus=settings.prometheus, loki=settings.loki, databases=settings.databases),
        actions=create_actions(settings, notifiers),
        notifiers=notifiers,
        minute_seconds=settings.engine.minute_seconds,
        assessment_deadline=settings.assessment_deadline,
        safety=safety_policy(settings),
        console_url=settings.api.console_url,
        runbooks_folder=settings.runbooks,
        policy=settings.policy.checker(),
        assessment_slots=asyncio.Semaphore(settings.engine.assessment_concurrency),
        service=open_service(settings, store),
    )


def safety_policy(settings: Settings) -> SafetyPolicy:
    rails = settings.safety
    return SafetyPolicy(
        cooldown_minutes=rails.cooldown_minutes,
        rate_actions=rails.rate_limit.actions,
        rate_minutes=rails.rate_limit.per_minutes,
        allow=rails.allow.checker(),
    )


def open_api_state(settings: Settings) -> tuple[ApiState, list[tuple[str, str]]]:
    """The API's state; on a first start with no tokens anywhere, two new tokens (returned to print once)."""
    service = open_service(settings)
    stored = SqlApiTokens(service.store.engine)  # tokens live beside the incidents
    configured = [(t.name, t.role, t.sha256) for t in settings.api.tokens]
    tokens = TokenRegistry([*configured, *stored.all()])
    generated: list[tuple[str, str]] = []
    if tokens.empty:
        for name, role in (("admin", "admin"), ("alertmanager", "alertmanager")):
            token = new_token()
            try:
                stored.add(name, role, digest(token))
            except sa.exc.IntegrityError:
                continue  # another process made it first; its output has the token
            generated.append((name, token))
        tokens = TokenRegistry([*configured, *stored.all()])
    probes = create_probes(prometheus=settings.prometheus, loki=settings.loki, databases=settings.databases)
    slack = settings.notifiers.slack
    replies = SlackReplies(timeout=slack.timeout) if slack is not None else SlackReplies()
    catalog = CatalogHolder.load(settings.runbooks, policy=settings.policy.checker())
    service.shadows_for = lambda runbook_id: catalog.catalog.shadows_of(runbook_id)  # the catalog being served
    live = None
    if settings.engine.live_check_minutes > 0:
        live = create_live_check(settings, create_notifiers(settings, service.store))
    state = ApiState(settings, service, catalog, tokens, probes, replies, live)
    return state, generated


def create_worker(settings: Settings) -> Worker:
    # the engine waits out a database restart as DBOS does: a step that failed on it would end its incident
    store = open_store(settings, reconnect_within=None)
    return Worker(
        create_runtime(settings, store),
        database_url=settings.database,
        executor_id=settings.engine.executor_id,
        worker_concurrency=settings.engine.worker_concurrency,
        metric_poll_seconds=settings.engine.metric_poll_seconds,
        takeover_after=settings.engine.takeover_after_seconds,
        polling_interval=settings.engine.queue_poll_seconds,
    )
