"""Incidents from the command line, as a responder uses them: trigger, show, approve, report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from handrail.cli import cli
from support.engine import EngineWorld, runbook

ROOT = Path(__file__).parents[1]


@pytest.fixture
def world(tmp_path: Path) -> EngineWorld:
    (tmp_path / "gated.state").write_text("broken\n")
    return EngineWorld.create(
        tmp_path,
        f"sqlite:///{tmp_path / 'h.db'}",
        # 24 s before the escalation timer and the approval window run out: the CLI calls below take ~3 s each,
        # and an engine that starts the incident sooner (#14) must not turn their pace into an escalation
        runbooks={"gated": runbook("gated", tmp_path, approval=True, escalate_after=120)},
    )


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
