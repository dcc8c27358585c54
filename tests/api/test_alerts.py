"""The Alertmanager webhook in process: alerts, labels and annotations held to `api.limits`, a post refused whole."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from support.api import TOKENS, api_client

EXAMPLES = Path(__file__).parents[2] / "examples" / "runbooks"
ALERTS = "/api/v1/alerts/alertmanager"
HEADERS = {"Authorization": f"Bearer {TOKENS['alertmanager']}"}
FIRING = {"status": "firing", "labels": {"alertname": "CheckoutErrorRateHigh", "service": "checkout"}}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with api_client(tmp_path, runbooks=EXAMPLES) as client:
        yield client


def alert(**labels: str) -> dict[str, Any]:
    return {"status": "firing", "labels": {"alertname": "CheckoutErrorRateHigh", **labels}}


@pytest.mark.parametrize(
    ("alerts", "field"),
    [
        pytest.param([FIRING, alert(pod="p" * 5000)], "alerts.1.labels.pod", id="label-value"),
        pytest.param([FIRING, alert(**{f"l{i}": "v" for i in range(100)})], "alerts.1.labels", id="too-many-labels"),
        pytest.param([FIRING, alert(**{"n" * 300: "v"})], "alerts.1.labels", id="label-name"),
        pytest.param(
            [FIRING, {**FIRING, "annotations": {"d": "d" * 20_000}}], "alerts.1.annotations.d", id="annotation"
        ),
        pytest.param([FIRING] * 1001, "alerts", id="too-many-alerts"),
    ],
)
def test_a_post_with_an_alert_past_a_limit_is_a_422_naming_it_and_takes_no_alert(
    client: TestClient, alerts: list[dict[str, Any]], field: str
) -> None:
    answer = client.post(ALERTS, json={"status": "firing", "alerts": alerts}, headers=HEADERS)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["field"]) == ("too_large", field)
    assert "n" * 300 not in answer.text  # an over-long name is not echoed back
    admin = {"Authorization": f"Bearer {TOKENS['admin']}"}
    assert client.get("/api/v1/incidents", headers=admin).json()["incidents"] == []  # not even the first alert


def test_a_post_within_the_limits_is_taken(client: TestClient) -> None:
    alerts = [alert(service="checkout", pod="p" * 4096, **{f"l{i}": "v" for i in range(97)})]
    answer = client.post(ALERTS, json={"status": "firing", "alerts": alerts}, headers=HEADERS)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["opened"]) == 1
