"""The demo's Prometheus and Alertmanager configuration: valid for the real tools, and routed to starter runbooks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from handrail.api.alerts import runbooks_for
from handrail.catalog import Catalog
from handrail.demo.monitoring import ALERT_NAMES, alert_rules, alertmanager_config, prometheus_config

EXAMPLES = Path(__file__).parents[2] / "examples" / "runbooks"
EXPECTED_RUNBOOK = {
    "PostgresTooManyConnections": "database-connection-exhaustion",
    "PaymentServiceHighLatency": "payment-service-slow",
    "PaymentServiceHighErrorRate": "payment-service-slow",
    "CertificateExpiringSoon": "certificate-expiry",
}


def _check(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def test_alert_rules_pass_promtool(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(alert_rules())
    result = _check("promtool", "check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERT_NAMES)} rules found" in result.stdout


def test_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(alert_rules())
    config = tmp_path / "prometheus.yml"
    config.write_text(prometheus_config(service_port=9999, alertmanager_port=9998, rules=rules))
    result = _check("promtool", "check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_config_passes_amtool_and_keeps_the_token_in_a_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("secret-token-value")
    config = tmp_path / "alertmanager.yml"
    config.write_text(alertmanager_config(webhook="http://127.0.0.1:8080/api/v1/alerts/alertmanager", token_file=token))
    result = _check("amtool", "check-config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "secret-token-value" not in config.read_text()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load(EXAMPLES)


@pytest.mark.parametrize("rule", json.loads(alert_rules())["groups"][0]["rules"], ids=lambda rule: rule["alert"])
def test_every_demo_alert_opens_exactly_one_starter_runbook(rule: dict[str, Any], catalog: Catalog) -> None:
    labels = {"alertname": rule["alert"], **rule["labels"]}
    matched = [runbook.id for runbook in runbooks_for(catalog.runbooks, labels)]
    assert matched == [EXPECTED_RUNBOOK[rule["alert"]]]
