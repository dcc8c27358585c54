"""The demo's monitoring: Prometheus (scraping every second, with alert rules) and Alertmanager (routing to Handrail).

The alert rules are written for the starter runbooks' triggers, and fire within seconds of a fault:

- `PostgresTooManyConnections` (labels `cluster="prod-demo"`, `service="postgres-primary"`): 90% of
  max_connections in use for 2 s (`pg_stat_activity_count`, `pg_settings_max_connections`) →
  database-connection-exhaustion;
- `PaymentServiceHighLatency`: p99 of `http_request_duration_seconds` above 2 s for 2 s → payment-service-slow;
- `PaymentServiceHighErrorRate`: over 5% of payments answered 500 for 2 s (`http_requests_total`) →
  payment-service-slow;
- `CertificateExpiringSoon`: `probe_ssl_earliest_cert_expiry` within 14 days → certificate-expiry.

Alertmanager waits 1 s before the first notification of a group and 1 s between updates, and does not
repeat a notification: Handrail dedups anyway, and a repeat after the incident resolved would open a new one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from handrail.demo import DemoError

__all__ = [
    "ALERT_NAMES",
    "alert_rules",
    "alertmanager_binary",
    "alertmanager_config",
    "prometheus_binary",
    "prometheus_config",
]

ALERT_NAMES = (
    "PostgresTooManyConnections",
    "PaymentServiceHighLatency",
    "PaymentServiceHighErrorRate",
    "CertificateExpiringSoon",
)
SCRAPE_SECONDS = 1
_DEMO_CLUSTER = "prod-demo"
"""The `cluster` label of the demo database's alerts (the runbook listens to `prod-.*` clusters)."""


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        raise DemoError(
            "prometheus is not installed (Debian/Ubuntu: apt-get install prometheus; or run `make run` as root)"
        )
    return found


def alertmanager_binary() -> str:
    found = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if found is None:
        raise DemoError(
            "Alertmanager is not installed (Debian/Ubuntu: apt-get install prometheus-alertmanager;"
            " or run `make run` as root)"
        )
    return found


def alert_rules() -> str:
    """The rules file (YAML; written as JSON, which YAML reads)."""
    rules = [
        {
            "alert": "PostgresTooManyConnections",
            "expr": "sum(pg_stat_activity_count) / sum(pg_settings_max_connections) * 100 >= 90",
            "for": "2s",
            "labels": {"severity": "page", "cluster": _DEMO_CLUSTER, "service": "postgres-primary"},
            "annotations": {"summary": "PostgreSQL connections are nearly used up"},
        },
        {
            "alert": "PaymentServiceHighLatency",
            "expr": (
                'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service="payment"}'
                "[10s]))) > 2"
            ),
            "for": "2s",
            "labels": {"severity": "page"},
            "annotations": {"summary": "Payment P99 latency is above 2 s"},
        },
        {
            "alert": "PaymentServiceHighErrorRate",
            "expr": (
                'sum(rate(http_requests_total{service="payment", status="500"}[10s]))'
                ' / sum(rate(http_requests_total{service="payment"}[10s])) * 100 > 5'
            ),
            "for": "2s",
            "labels": {"severity": "page"},
            "annotations": {"summary": "Over 5% of payments fail with 500"},
        },
        {
            "alert": "CertificateExpiringSoon",
            "expr": "(probe_ssl_earliest_cert_expiry - time()) / 86400 < 14",
            "for": "2s",
            "labels": {"severity": "warning"},
            "annotations": {"summary": "The payment endpoint's certificate expires within 14 days"},
        },
    ]
    return json.dumps(
        {"groups": [{"name": "handrail-demo", "interval": f"{SCRAPE_SECONDS}s", "rules": rules}]}, indent=2
    )


def prometheus_config(*, service_port: int, alertmanager_port: int, rules: Path) -> str:
    """Scrape the payment service every second (labelled `service="payment"`), evaluate the rules, alert."""
    config = {
        "global": {"scrape_interval": f"{SCRAPE_SECONDS}s", "evaluation_interval": f"{SCRAPE_SECONDS}s"},
        "rule_files": [str(rules)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]},
        "scrape_configs": [
            {
                "job_name": "payment-service",
                "static_configs": [{"targets": [f"127.0.0.1:{service_port}"], "labels": {"service": "payment"}}],
            }
        ],
    }
    return json.dumps(config, indent=2)


def alertmanager_config(*, webhook: str, token_file: Path) -> str:
    """Every alert to Handrail's webhook, with the bearer token read from `token_file`."""
    config = {
        "route": {
            "receiver": "handrail",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "24h",
        },
        "receivers": [
            {
                "name": "handrail",
                "webhook_configs": [
                    {
                        "url": webhook,
                        "send_resolved": True,
                        "http_config": {"authorization": {"type": "Bearer", "credentials_file": str(token_file)}},
                    }
                ],
            }
        ],
    }
    return json.dumps(config, indent=2)
