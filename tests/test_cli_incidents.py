"""Incidents from the command line, as a responder uses them: trigger, show, approve, report."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from handrail.cli import cli
from handrail.store.incidents import SqlIncidentStore
from support.engine import EngineWorld, runbook
from support.records import chart

ROOT = Path(__file__).parents[1]


@pytest.fixture
def world(tmp_path: Path) -> EngineWorld:
    (tmp_path / "gated.state").write_text("broken\n")
    # escalation far off (60 s): this is the responder's flow, and a loaded machine must not escalate it first
    gated = runbook("gated", tmp_path, approval=True, escalate_after=300)
    return EngineWorld.create(tmp_path, f"sqlite:///{tmp_path / 'h.db'}", runbooks={"gated": gated})


def handrail(world: EngineWorld, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "handrail", *args, "--config", str(world.config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_responder_triggers_inspects_approves_and_reports(world: EngineWorld) -> None:
    with world.worker():
        triggered = handrail(world, "trigger", "gated", "--label", "pod=web-1", "--as", "oncall")
        assert triggered.returncode == 0, triggered.stderr
        incident_id = triggered.stdout.strip()
        assert incident_id.startswith("INC-")
        again = handrail(world, "trigger", "gated", "--label", "pod=web-1")
        assert again.stdout.strip() == incident_id
        assert "joined the open incident" in again.stderr

        world.wait_state(incident_id, "awaiting_approval")
        shown = handrail(world, "incidents", "show", incident_id)
        assert "WAITING FOR: approval: fix" in shown.stdout
        assert "critical Service State: " in shown.stdout.replace("  ", " ")

    # decisions need no running engine: they are recorded and delivered when one runs
    approved = handrail(world, "incidents", "approve", incident_id, "fix", "--as", "alice", "--reason", "safe")
    assert approved.returncode == 0, approved.stderr
    twice = handrail(world, "incidents", "approve", incident_id, "fix", "--as", "bob")
    assert twice.returncode == 1
    assert "already approved by alice" in twice.stderr
    with world.worker():
        world.wait_state(incident_id, "resolved")

    listed = handrail(world, "incidents", "list", "--json")
    assert [item["id"] for item in json.loads(listed.stdout)] == [incident_id]
    details = json.loads(handrail(world, "incidents", "show", incident_id, "--json").stdout)
    assert details["state"] == "resolved"
    assert details["joins"] == 1
    assert [a["status"] for a in details["actions"]] == ["succeeded"]
    report = handrail(world, "report", incident_id).stdout
    assert report.startswith(f"# Post-incident report: Gated ({incident_id})")
    assert "| Outcome | resolved |" in report
    assert "fix approved by alice: safe" in report
    assert "Time to resolve" in report


def test_unknown_incident_is_a_clear_error(world: EngineWorld) -> None:
    result = handrail(world, "incidents", "show", "INC-NOPE")
    assert result.returncode == 1
    assert result.stderr.strip() == "handrail: no incident INC-NOPE"


def test_with_four_eyes_whoever_triggered_from_the_cli_cannot_approve(tmp_path: Path) -> None:
    world = EngineWorld.create(
        tmp_path,
        f"sqlite:///{tmp_path / 'h.db'}",
        runbooks={"gated": runbook("gated", tmp_path, approval=True)},
        extra_settings="api:\n  fourEyes: true\n",
    )

    def run(*args: str) -> Result:  # in process: three `handrail` processes would take seconds
        return CliRunner().invoke(cli, [*args, "--config", str(world.config)])

    incident_id = run("trigger", "gated", "--as", "alice").stdout.strip()
    refused = run("incidents", "approve", incident_id, "fix", "--as", "alice")
    assert refused.exit_code == 1
    assert refused.stderr.strip() == f"handrail: alice triggered {incident_id}; someone else must approve (four eyes)"
    assert world.events(incident_id, "decision_by_person") == []
    approved = run("incidents", "approve", incident_id, "fix", "--as", "bob")
    assert approved.exit_code == 0, approved.output


def test_report_out_writes_the_report_and_the_charts_it_links(world: EngineWorld, tmp_path: Path) -> None:
    incident_id = world.trigger("gated").id
    recorded = chart("state", name="Service State", end=datetime.now(UTC))
    # the assessment as the engine records it (engine/history.py writes `history`; tests/engine/test_history.py)
    store = SqlIncidentStore(sa.create_engine(f"sqlite:///{world.root / 'h.db'}"))
    store.set_assessment(incident_id, {"diagnosticResults": [], "history": [recorded]}, [], "critical")
    out = tmp_path / "review"

    written = CliRunner().invoke(cli, ["report", incident_id, "--out", str(out), "--config", str(world.config)])
    assert written.exit_code == 0, written.output
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "charts/diagnosis-state.svg",
        "report.md",
    ]
    report = (out / "report.md").read_text()
    assert report.startswith(f"# Post-incident report: Gated ({incident_id})")
    assert "![Service State at diagnosis](charts/diagnosis-state.svg)" in report
    svg = ElementTree.parse(out / "charts" / "diagnosis-state.svg").getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg.get("aria-label") == "Service State: the hour before diagnosis"

    both = CliRunner().invoke(
        cli, ["report", incident_id, "--out", str(out), "-o", str(tmp_path / "r.md"), "--config", str(world.config)]
    )
    assert both.exit_code == 2
    assert "not both" in both.output
