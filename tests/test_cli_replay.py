"""Replay, export and scenario over incidents that really ran through the engine (a worker process, SQLite).

Three incidents of the `gated` test runbook: the state file reads `broken` (critical: `fix` waits for
approval), `ok` (healthy: nothing fires but `otherwise`, which pages) and `weird` (unknown: pages too).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from handrail.cli import cli
from support.engine import EngineWorld, runbook

HOSTILE = "web-1\n- {{ labels.pod }}: [x] # &anchor *ref 'no'"
"""A label that is YAML, a template and a comment at once: it must come out of a scenario as the same text."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineWorld]:
    root = tmp_path_factory.mktemp("replay")
    state = root / "gated.state"
    world = EngineWorld.create(
        root,
        f"sqlite:///{root / 'h.db'}",
        runbooks={"gated": runbook("gated", root, approval=True, escalate_after=300)},
    )
    with world.worker():
        for label, text in (("a", "broken"), ("b", "ok"), ("c", "weird")):
            state.write_text(text + "\n")
            pod = HOSTILE if label == "a" else label
            record = world.trigger("gated", pod=pod)
            world.wait(record.id, lambda r: r.assessment is not None, what="its assessment")
    yield world
    world.service.close()


@pytest.fixture(scope="module")
def incident_ids(world: EngineWorld) -> list[str]:
    """Newest first, as the store lists them."""
    return [r.id for r in world.service.store.find(runbook_id="gated")]


def handrail(world: EngineWorld, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--config", str(world.config)])


def changed_runbook(world: EngineWorld, name: str) -> Path:
    """The runbook with `fix` no longer gated, firing on anything but healthy, and a diagnostic history lacks."""
    text = (world.root / "runbooks" / "gated.yaml").read_text()
    text = text.replace("requiresApproval: true", "requiresApproval: false")
    text = text.replace("diagnostics.state.status == 'critical'", "diagnostics.state.status != 'healthy'")
    extra = (
        "  - id: disk\n    name: Disk\n    description: new\n    type: shell_command\n"
        '    config: {command: "true"}\n    interpret: {healthy: "exit_code == 0"}\ndecisionTree:\n'
    )
    text = text.replace("decisionTree:\n", extra, 1)
    path = world.root / name
    path.write_text(text)
    return path


def test_the_runbook_as_it_ran_replays_unchanged(world: EngineWorld) -> None:
    result = handrail(world, "replay", str(world.root / "runbooks" / "gated.yaml"), "--fail-on-change")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "3 past incidents: 3 unchanged"


def test_a_changed_runbook_reports_what_each_incident_would_now_do(world: EngineWorld) -> None:
    changed = changed_runbook(world, "changed.yaml")
    result = handrail(world, "replay", str(changed), "--fail-on-change")
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[-1] == (
        "3 past incidents: 1 unchanged, 2 change (1 no longer escalates (now fix), 1 no longer waits for approval)"
    )
    assert "note: disk: no recorded result, read as no data (3 incidents)" in lines
    report = json.loads(handrail(world, "replay", str(changed), "--format", "json").stdout)
    by_state = {r["then"]["statuses"]["state"]: r for r in report["replays"]}
    weird, broken, ok = by_state["unknown"], by_state["critical"], by_state["healthy"]
    assert weird["changes"] == [
        {"what": "decisions", "then": '"anything else"', "now": '"broken — fix it"'},
        {"what": "remediations", "then": "page", "now": "fix"},
        {"what": "escalates", "then": "true", "now": "false"},
    ]
    assert broken["changes"] == [{"what": "waitForApproval", "then": "fix", "now": "nothing"}]
    assert broken["then"]["waitForApproval"] == ["fix"]
    assert broken["now"]["waitForApproval"] == []
    assert ok["changed"] is False
    assert ok["now"]["statuses"] == {"state": "healthy", "disk": "unknown"}
    assert report["notes"] == [{"note": "disk: no recorded result, read as no data", "incidents": 3}]


def test_an_export_replays_to_the_same_report_without_the_database(
    world: EngineWorld, incident_ids: list[str], tmp_path: Path
) -> None:
    exported = handrail(world, "incidents", "export", "--runbook", "gated")
    assert exported.exit_code == 0, exported.output
    lines = exported.stdout.splitlines()
    assert [json.loads(line)["id"] for line in lines] == incident_ids
    history = tmp_path / "history.jsonl"
    history.write_text(exported.stdout)
    changed = changed_runbook(world, "changed-too.yaml")
    from_database = json.loads(handrail(world, "replay", str(changed), "--format", "json").stdout)
    # no settings at all: what CI has
    from_file = CliRunner().invoke(cli, ["replay", str(changed), "--history", str(history), "--format", "json"])
    assert from_file.exit_code == 0, from_file.output
    offline = json.loads(from_file.stdout)
    assert offline.pop("source") == str(history)
    assert from_database.pop("source") == "the configured database"
    offline.pop("since"), from_database.pop("since")
    assert offline == from_database


def test_a_scenario_from_a_real_incident_passes_handrail_test_as_printed(
    world: EngineWorld, incident_ids: list[str], tmp_path: Path
) -> None:
    folder = tmp_path / "book"
    folder.mkdir()
    (folder / "gated.yaml").write_text((world.root / "runbooks" / "gated.yaml").read_text())
    scenarios = []
    for incident_id in incident_ids:
        printed = handrail(world, "incidents", "scenario", incident_id)
        assert printed.exit_code == 0, printed.output
        scenarios.append(printed.stdout)
    critical = next(text for text in scenarios if "critical" in text)
    (folder / "gated.test.yaml").write_text(critical)
    tested = subprocess.run(
        [sys.executable, "-m", "handrail", "test", str(folder / "gated.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "1 runbook, 1 scenario: 1 passed, 0 failed" in tested.stdout
    scenario = yaml.safe_load(critical)["scenarios"][0]
    assert scenario["expect"] == {
        "statuses": {"state": "critical"},
        "decisions": ["broken — fix it"],
        "remediations": ["fix"],
        "waitForApproval": ["fix"],
        "escalates": False,
    }
    assert scenario["labels"] == {"pod": HOSTILE}  # the hostile label came through as the same text
    # and the scenario fails once the runbook stops asking for approval, saying why
    ungated = (
        (world.root / "runbooks" / "gated.yaml")
        .read_text()
        .replace("requiresApproval: true", "requiresApproval: false")
    )
    (folder / "gated.yaml").write_text(ungated)
    failing = CliRunner().invoke(cli, ["test", str(folder / "gated.yaml")])
    assert failing.exit_code == 1
    assert "waitForApproval: expected [fix], got none" in failing.stdout


def test_a_scenario_of_an_unknown_incident_is_a_clear_error(world: EngineWorld) -> None:
    result = handrail(world, "incidents", "scenario", "INC-NOPE")
    assert result.exit_code == 1
    assert result.stderr.strip() == "handrail: no incident INC-NOPE"


def test_a_broken_runbook_file_is_reported_like_lint(world: EngineWorld, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text((world.root / "runbooks" / "gated.yaml").read_text().replace("decisionTree:", "decisionTre:"))
    result = handrail(world, "replay", str(broken))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"{broken}:15:1: HR104 unknown key 'decisionTre' in the runbook; did you mean 'decisionTree'?"
    )
    assert "has errors; fix them first" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--since", "soon"], "is not a duration", id="since"),
        pytest.param(["--format", "xml"], "'xml' is not one of", id="format"),
        pytest.param(["--history", "/nonexistent.jsonl"], "does not exist", id="history"),
    ],
)
def test_bad_usage_is_exit_2(world: EngineWorld, args: list[str], message: str) -> None:
    result = handrail(world, "replay", str(world.root / "runbooks" / "gated.yaml"), *args)
    assert result.exit_code == 2
    assert message in result.stderr
