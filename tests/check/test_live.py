"""`handrail serve`'s live check: findings per runbook, `/metrics`, the console, and the primary told once."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path

import pytest

from handrail.composition import create_live_check, create_notifiers
from handrail.settings import load_settings
from support.api import TOKENS, api_client
from support.fixtures import place_of

RUNBOOK = """\
id: orders
name: Orders
description: d
severity: P2
service: orders
triggers: [{type: manual}]
diagnostics:
  - id: tool
    name: Tool
    description: d
    type: shell_command
    config: {command: [PROGRAM, --version]}
    interpret: {healthy: exit_code == 0}
decisionTree:
  - {otherwise: true, then: [page], description: d}
remediations:
  - {id: page, name: Page, description: d, type: escalate}
escalation: {primary: "#orders-oncall"}
"""
ROTTEN, CLEAN = "no-such-program-hr608", "sh"


def write(folder: Path, program: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "orders.yaml").write_text(RUNBOOK.replace("PROGRAM", program))


def told(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("notification message to #orders")]


async def test_the_primary_is_told_once_when_a_runbook_goes_from_clean_to_rotten(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "runbooks"
    write(folder, CLEAN)
    (tmp_path / "handrail.yaml").write_text("runbooks: runbooks\n")
    settings = load_settings(tmp_path / "handrail.yaml", environ={})
    live = create_live_check(settings, create_notifiers(settings))  # the log notifier takes every target
    caplog.set_level(logging.INFO)

    await live.run_once()
    assert live.rotten() == frozenset()
    assert live.findings("orders") == ()

    write(folder, ROTTEN)
    await live.run_once()
    await live.run_once()  # still rotten an hour later: nobody is told again
    assert live.rotten() == {"orders"}
    assert [p.code for p in live.findings("orders")] == ["HR608"]
    assert live.counts() == [("orders", "HR608", 1)]
    assert told(caplog) == [
        "notification message to #orders-oncall [P2]: Runbook 'orders' no longer fits the systems it names (1 error)"
    ]
    note = next(r for r in caplog.records if r.getMessage().startswith("notification message"))
    where = place_of(RUNBOOK.replace("PROGRAM", ROTTEN), ROTTEN)
    assert f"orders.yaml:{where}: HR608 program '{ROTTEN}'" in note.notification["text"]  # type: ignore[attr-defined]

    write(folder, CLEAN)
    await live.run_once()
    write(folder, ROTTEN)
    await live.run_once()  # clean in between: told again
    assert len(told(caplog)) == 2


async def test_a_runbook_already_rotten_when_the_process_starts_is_shown_not_told(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path / "runbooks", ROTTEN)
    (tmp_path / "handrail.yaml").write_text("runbooks: runbooks\n")
    settings = load_settings(tmp_path / "handrail.yaml", environ={})
    live = create_live_check(settings, create_notifiers(settings))
    caplog.set_level(logging.INFO)
    await live.run_once()
    assert live.rotten() == {"orders"}
    assert told(caplog) == []


def test_serve_checks_at_start_and_shows_findings_in_metrics_and_the_console(tmp_path: Path) -> None:
    folder = tmp_path / "runbooks"
    write(folder, ROTTEN)
    with api_client(tmp_path, runbooks=folder) as client:
        live = client.app.state.handrail.live  # type: ignore[attr-defined]
        deadline = time.monotonic() + 30
        while live.runs == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live.runs >= 1
        metrics = client.get("/metrics").text
        assert 'handrail_runbook_live_problems{code="HR608",runbook="orders"} 1.0' in metrics
        assert client.post("/login", data={"token": TOKENS["viewer"], "next": "/"}).status_code == 200
        listing = client.get("/runbooks").text
        row = re.search(r'<tr data-runbook="orders">.*?</tr>', listing, re.DOTALL)
        assert row is not None
        assert 'class="check broken rotten" href="/runbooks/orders#live">rotten: 1 error<' in row.group(0)
        page = client.get("/runbooks/orders").text
        assert '<section class="card" id="live">' in page
        line, column = place_of(RUNBOOK.replace("PROGRAM", ROTTEN), ROTTEN).split(":")
        assert f"<code>HR608</code> line {line}, column {column}: program &#39;{ROTTEN}&#39;" in page


def test_serve_without_the_live_check_shows_runbooks_as_not_checked(tmp_path: Path) -> None:
    folder = tmp_path / "runbooks"
    write(folder, ROTTEN)
    with api_client(tmp_path, runbooks=folder, extra="engine:\n  liveCheckMinutes: 0\n") as client:
        assert client.app.state.handrail.live is None  # type: ignore[attr-defined]
        assert "handrail_runbook_live_problems" not in client.get("/metrics").text
        client.post("/login", data={"token": TOKENS["viewer"], "next": "/"})
        assert '<span class="muted">not checked</span>' in client.get("/runbooks").text


async def test_the_live_check_runs_again_after_a_reload_without_waiting_for_the_interval(tmp_path: Path) -> None:
    write(tmp_path / "runbooks", CLEAN)
    (tmp_path / "handrail.yaml").write_text("runbooks: runbooks\n")
    settings = load_settings(tmp_path / "handrail.yaml", environ={})
    live = create_live_check(settings, [])
    catalog = [object()]
    stop = asyncio.Event()
    watching = asyncio.create_task(live.watch(3600, stop, version=lambda: catalog[0], poll=0.01))
    try:
        while live.runs < 1:
            await asyncio.sleep(0.01)
        write(tmp_path / "runbooks", ROTTEN)
        catalog[0] = object()  # what CatalogHolder.reload does
        while live.runs < 2:
            await asyncio.sleep(0.01)
        assert live.rotten() == {"orders"}
    finally:
        stop.set()
        await watching
