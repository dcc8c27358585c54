"""`POST /api/v1/alerts/alertmanager`: Prometheus Alertmanager's webhook (payload version 4).

Each firing alert is matched to runbooks by `alertName` and the trigger's label matchers; it opens
an incident or joins the open one with the same fingerprint. A resolved alert is recorded on its
incident. Alerts no runbook matches are counted and logged, not errors: Alertmanager must not
retry them forever. An alert that matches a runbook whose file has errors (and no last good
version) opens nothing either: it is logged naming the runbook, its file and first problems,
counted (`result="broken_runbook"`) and shown on the console's runbook list.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from handrail.api.auth import ALERTMANAGER, Identity
from handrail.api.deps import require, state_of
from handrail.api.errors import ApiError
from handrail.api.metrics import ALERTS
from handrail.api.state import CatalogHolder
from handrail.catalog import broken_summary
from handrail.engine.service import alert_dedup_key
from handrail.limits import InputLimits
from handrail.lint import LintResult
from handrail.runbook.matcher import matcher_holds
from handrail.runbook.model import Runbook, Trigger

__all__ = ["AlertmanagerPayload", "matches", "router"]

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1")


class Alert(BaseModel):
    """One alert, as https://prometheus.io/docs/alerting/latest/configuration/#webhook_config documents it."""

    model_config = ConfigDict(extra="ignore")

    status: str = Field(pattern="^(firing|resolved)$")
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str = ""
    endsAt: str = ""
    generatorURL: str = ""
    fingerprint: str = Field(default="", max_length=256)


class AlertmanagerPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: str = "4"
    groupKey: str = ""
    truncatedAlerts: int = 0
    status: str = Field(pattern="^(firing|resolved)$")
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[Alert]
    """As many as `api.limits.alerts`; labels and annotations as `api.limits` says (checked before any is taken)."""


def matches(trigger: Trigger, labels: dict[str, str]) -> bool:
    """Whether an alert with these labels fires this trigger (Alertmanager's matcher semantics)."""
    if trigger.type != "alert" or trigger.alert_name != labels.get("alertname"):
        return False
    return all(matcher_holds(matcher, labels.get(name)) for name, matcher in trigger.labels.items())


def runbooks_for(runbooks: dict[str, Runbook], labels: dict[str, str]) -> list[Runbook]:
    """The active runbooks this alert starts; a shadow never opens an incident of its own (it rides beside one)."""
    return [rb for rb in runbooks.values() if rb.shadow_of is None and any(matches(t, labels) for t in rb.triggers)]


def _check_limits(payload: AlertmanagerPayload, limits: InputLimits) -> None:
    """Every alert within `api.limits`, before any is taken: a post is refused whole, never half taken."""
    if len(payload.alerts) > limits.alerts:
        raise ApiError(422, "too_large", f"alerts: more than {limits.alerts} (api.limits.alerts)", field="alerts")
    for index, alert in enumerate(payload.alerts):
        limits.check_labels(alert.labels, field=f"alerts.{index}.labels")
        limits.check_annotations(alert.annotations, field=f"alerts.{index}.annotations")


def broken_runbooks_for(holder: CatalogHolder, labels: dict[str, str]) -> list[LintResult]:
    """Files with errors whose runbook would take this alert (as far as their triggers can be read)."""
    return [
        result
        for result in holder.catalog.broken
        if result.runbook_id is not None
        and result.runbook_id not in holder.catalog.runbooks
        and result.triggers is not None
        and any(matches(t, labels) for t in result.triggers)
    ]


def _refuse(holder: CatalogHolder, labels: dict[str, str]) -> list[str]:
    """Log and count each broken runbook this firing alert matches; their ids."""
    refused = []
    for result in broken_runbooks_for(holder, labels):
        runbook_id = str(result.runbook_id)
        holder.refused_alerts[runbook_id] += 1
        ALERTS.labels(result="broken_runbook").inc()
        logger.warning(
            "alert %s matches runbook '%s', which has errors, so no incident was opened: it is in %s",
            labels.get("alertname", "?"),
            runbook_id,
            broken_summary(result),
        )
        refused.append(runbook_id)
    return refused


@router.post("/alerts/alertmanager")
async def alertmanager(
    request: Request, payload: AlertmanagerPayload, identity: Annotated[Identity, Depends(require(ALERTMANAGER))]
) -> dict[str, Any]:
    state = state_of(request)
    _check_limits(payload, state.service.limits)
    runbooks = state.catalog.catalog.runbooks
    opened: list[str] = []
    joined: list[str] = []
    resolved: list[str] = []
    refused: list[str] = []
    unknown = 0
    for alert in payload.alerts:
        fingerprint, group_key = alert.fingerprint, payload.groupKey
        if alert.status == "resolved":
            for runbook in runbooks_for(runbooks, alert.labels):
                key = alert_dedup_key(runbook.id, fingerprint=fingerprint, group_key=group_key, labels=alert.labels)
                record = await state.service.alert_resolved(key, source=identity.name)
                if record is not None:
                    resolved.append(record.id)
            ALERTS.labels(result="resolved").inc()
            continue
        chosen = runbooks_for(runbooks, alert.labels)
        broken = _refuse(state.catalog, alert.labels)
        refused += broken
        if not chosen and broken:
            continue
        if not chosen:
            unknown += 1
            ALERTS.labels(result="unknown").inc()
            logger.info("no runbook for alert %s", alert.labels.get("alertname", "?"))
            continue
        for runbook in chosen:
            record, was_opened = await state.service.trigger(
                runbook,
                trigger_type="alert",
                triggered_by=identity.name,
                labels=alert.labels,
                annotations=alert.annotations,
                dedup_key=alert_dedup_key(
                    runbook.id, fingerprint=fingerprint, group_key=group_key, labels=alert.labels
                ),
            )
            (opened if was_opened else joined).append(record.id)
            ALERTS.labels(result="opened" if was_opened else "joined").inc()
    return {"opened": opened, "joined": joined, "resolved": resolved, "refused": refused, "unknown": unknown}
