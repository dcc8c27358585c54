"""The terminal feed's lines: time, source, runbook, and the message styled by what it says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from handrail.demo.feed import FeedEvent, render_event

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "message", "style"),
    [
        pytest.param("diagnostic", "Connection Usage: critical — 1 series; value 91.7", "bold red", id="critical"),
        pytest.param("diagnostic", "Sessions Idle in Transaction: healthy — 1 row; value 0", "green", id="healthy"),
        pytest.param(
            "verification", "verification: healthy\nConnection Usage: healthy — 1 series", "green", id="verify"
        ),
        pytest.param("state", "verified healthy after remediation", "bold green", id="resolved"),
        pytest.param("action", "kill_idle_connections: succeeded — SELECT: 54 rows", "bold blue", id="action"),
    ],
)
def test_event_line_is_styled_by_its_kind_and_status(kind: str, message: str, style: str) -> None:
    line = render_event(FeedEvent(AT, "INC-0123456789AB", kind, message, "database-connection-exhaustion"))
    assert "INC-0123456789AB" in line.plain
    assert "database-connection-exhaustion" in line.plain
    assert line.plain.endswith(message.split("\n", 1)[0])
    assert "\n" not in line.plain
    assert line.spans[-1].style == style


def test_alert_lines_name_prometheus_as_their_source() -> None:
    line = render_event(FeedEvent(AT, "prometheus", "alert", "PostgresTooManyConnections is firing"))
    assert "prometheus" in line.plain
    assert line.plain.endswith("PostgresTooManyConnections is firing")
    assert line.spans[-1].style == "bold magenta"
