"""A real Alertmanager routed to a real `handrail serve`: alerts open, join and resolve incidents."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from handrail.api.auth import digest
from support.alertmanager import AlertmanagerServer, ServeProcess
from support.engine import runbook

ALERTMANAGER_TOKEN = "am-token-0123456789abcdef"
ADMIN_TOKEN = "admin-token-0123456789abcdef"


def settings(root: Path) -> Path:
    (root / "runbooks").mkdir()
    book = runbook("checkout-errors", root, approval=True, escalate_after=600).replace(
        "triggers: [{type: manual}]",
        "triggers:\n  - type: alert\n    alertName: CheckoutErrors\n    labels: {service: checkout}",
    )
    (root / "runbooks" / "checkout-errors.yaml").write_text(book)
    (root / "checkout-errors.state").write_text("broken\n")
    config = root / "handrail.yaml"
    config.write_text(
        f"runbooks: runbooks\ndatabase: 'sqlite:///{root / 'h.db'}'\nengine: {{minuteSeconds: 0.2}}\n"
        "api:\n  tokens:\n"
        f"    - {{name: alertmanager, role: alertmanager, sha256: {digest(ALERTMANAGER_TOKEN)}}}\n"
        f"    - {{name: admin, role: admin, sha256: {digest(ADMIN_TOKEN)}}}\n"
    )
    return config


def incidents(serve: ServeProcess) -> list[dict[str, Any]]:
    answer = httpx.get(f"{serve.url}/api/v1/incidents", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=5)
    answer.raise_for_status()
    return list(answer.json()["incidents"])


def detail(serve: ServeProcess, incident_id: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    return dict(httpx.get(f"{serve.url}/api/v1/incidents/{incident_id}", headers=headers, timeout=5).json())


def wait(condition: Any, what: str, serve: ServeProcess, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{serve.log()}")


def test_alertmanager_opens_joins_and_resolves_an_incident(tmp_path: Path) -> None:
    config = settings(tmp_path)
    with ServeProcess(config) as serve:
        webhook = f"{serve.url}/api/v1/alerts/alertmanager"
        with AlertmanagerServer(tmp_path, webhook=webhook, token=ALERTMANAGER_TOKEN) as alertmanager:
            labels = {"alertname": "CheckoutErrors", "service": "checkout", "severity": "page"}
            alertmanager.fire(labels)
            opened = wait(lambda: incidents(serve), "the incident", serve)
            assert len(opened) == 1
            incident_id = opened[0]["id"]
            assert opened[0]["runbookId"] == "checkout-errors"

            # Alertmanager repeats the notification every 2 s: each one joins the same incident
            wait(lambda: detail(serve, incident_id)["joins"] >= 1, "a repeated notification", serve)
            alertmanager.fire({"alertname": "CheckoutErrors", "service": "billing"})  # a matcher says no
            alertmanager.fire(labels, resolved=True)
            wait(
                lambda: any("the alert resolved" in e["message"] for e in detail(serve, incident_id)["timeline"]),
                "the resolved notification",
                serve,
            )
        assert len(incidents(serve)) == 1
        wait(lambda: detail(serve, incident_id)["state"] == "awaiting_approval", "the diagnosis", serve)
        metrics = httpx.get(f"{serve.url}/metrics", timeout=5).text
        assert 'handrail_incidents{runbook="checkout-errors",state="awaiting_approval"} 1.0' in metrics
        assert 'handrail_diagnostic_duration_seconds_avg{diagnostic="state",runbook="checkout-errors"}' in metrics
        assert 'handrail_alerts_received_total{result="joined"}' in metrics
        view = detail(serve, incident_id)
        assert view["labels"]["service"] == "checkout"
        triggered = next(e for e in view["timeline"] if e["kind"] == "triggered")
        assert triggered["actor"] == "alertmanager"
