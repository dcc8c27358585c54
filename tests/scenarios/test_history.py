"""History files for `handrail replay --history`: read as written, and a bad line named with its place."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from handrail.cli import cli
from handrail.engine.service import history_line
from handrail.errors import HistoryError
from handrail.redaction import register_secrets
from handrail.scenarios import history
from handrail.scenarios.history import past_incident, read_history
from scenarios.support import TINY, load_runbook
from support.records import record


def line(**changes: object) -> dict[str, object]:
    """A history line of the tiny runbook whose probe read `value: 95`."""
    base: dict[str, object] = {
        "id": "INC-1",
        "runbookId": "tiny",
        "triggeredAt": "2024-05-01T12:00:00+00:00",
        "state": "resolved",
        "labels": {"service": "checkout"},
        "plan": [],
        "assessment": {
            "diagnosticResults": [{"stepId": "load", "status": "critical", "rawValue": {"value": 95}, "message": "m"}],
            "decisions": [],
        },
    }
    return {**base, **changes}


def write(path: Path, *lines: object) -> Path:
    path.write_text("".join((item if isinstance(item, str) else json.dumps(item)) + "\n" for item in lines))
    return path


def test_lines_are_read_with_their_recorded_results_filtered_by_runbook_and_time(tmp_path: Path) -> None:
    path = write(
        tmp_path / "h.jsonl",
        line(),
        "",
        line(id="INC-2", runbookId="other"),
        line(id="INC-3", triggeredAt="2020-01-01T00:00:00+00:00"),
        line(id="INC-4", futureKey={"ignored": True}),
    )
    since = datetime(2024, 1, 1, tzinfo=UTC)
    found = list(read_history(path, runbook_id="tiny", since=since))
    assert [i.id for i in found] == ["INC-1", "INC-4"]
    assert found[0].assessment is not None
    result = found[0].assessment.result("load")
    assert result is not None
    assert result.raw_value == {"value": 95}
    assert result.probe_message is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("{not json", "h.jsonl:2: not JSON: Expecting property name enclosed in double quotes", id="json"),
        pytest.param("[1, 2]", "h.jsonl:2: expected a JSON object (one incident per line), got list", id="array"),
        pytest.param("[" * 100_000 + "]" * 100_000, "h.jsonl:2: the JSON is nested too deeply", id="deep"),
        pytest.param(
            json.dumps(line(labels={"a": 1})), "h.jsonl:2: labels.a: Input should be a valid string", id="label"
        ),
        pytest.param(
            json.dumps(line(triggeredAt="yesterday")),
            "h.jsonl:2: triggeredAt: Input should be a valid datetime",
            id="time",
        ),
        pytest.param(
            json.dumps(line(triggeredAt="2024-05-01T12:00:00")),
            "h.jsonl:2: triggeredAt: Input should have timezone info",
            id="naive",
        ),
        pytest.param(
            json.dumps(line(assessment={"diagnosticResults": [{"stepId": "load", "status": "on fire"}]})),
            "h.jsonl:2: assessment.diagnosticResults.0.status: Input should be",
            id="status",
        ),
        pytest.param(json.dumps({"runbookId": "tiny"}), "h.jsonl:2: id: Field required (and 1 more)", id="missing"),
    ],
)
def test_a_bad_line_is_an_error_naming_the_file_the_line_and_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "h.jsonl", line(), text)
    with pytest.raises(HistoryError) as caught:
        list(read_history(path))
    assert str(caught.value).startswith(f"{tmp_path}/{message}")


def test_bytes_that_are_not_utf8_and_lines_past_the_limit_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "h.jsonl"
    path.write_bytes(b'{"id": "\xff"}\n')
    with pytest.raises(HistoryError, match=r"h\.jsonl:1: not UTF-8 \(byte 9\)"):
        list(read_history(path))
    monkeypatch.setattr(history, "MAX_LINE_BYTES", 100)
    write(path, line())
    with pytest.raises(HistoryError, match=r"h\.jsonl:1: the line is longer than"):
        list(read_history(path))
    monkeypatch.setattr(history, "MAX_LINE_BYTES", 4096)
    monkeypatch.setattr(history, "MAX_HISTORY_LINES", 2)
    write(path, line(), line(), line())
    with pytest.raises(HistoryError, match=r"h\.jsonl:3: a history holds at most 2 lines"):
        list(read_history(path))


def test_replay_of_a_malformed_history_exits_1_naming_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "h.jsonl", line(), line(plan="fix"))
    result = CliRunner().invoke(cli, ["replay", str(TINY), "--history", str(path), "--since", "3650d"])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"handrail: {path}:2: plan: Input should be a valid tuple"


def test_replay_over_a_history_reads_missing_results_as_no_data(tmp_path: Path) -> None:
    assert [d.id for d in load_runbook().diagnostics] == ["up", "latency", "health"]
    slow = {"stepId": "latency", "status": "warning", "rawValue": {"value": 2.5}, "message": "2.5"}
    recorded = line(
        labels={"namespace": "shop"},
        plan=["scale", "look"],
        assessment={
            "diagnosticResults": [slow],
            "decisions": [{"description": "Slow — scale up and look", "matched": True}],
        },
    )
    path = write(tmp_path / "h.jsonl", recorded)
    result = CliRunner().invoke(
        cli, ["replay", str(TINY), "--history", str(path), "--since", "3650d", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["notes"] == [
        {"note": "up: no recorded result, read as no data", "incidents": 1},
        {"note": "health: no recorded result, read as no data", "incidents": 1},
    ]
    (replayed,) = report["replays"]
    assert replayed["now"]["statuses"] == {"up": "unknown", "latency": "warning", "health": "unknown"}
    assert replayed["changes"] == []  # statuses the incident lacked are notes, not changes
    assert report["summary"] == "1 past incident: 1 unchanged"


def test_a_history_line_carries_no_configured_secret_and_reads_back() -> None:
    secret = f"replay-secret-{uuid.uuid4().hex}"
    register_secrets([secret])
    incident = record(
        labels={"token": secret},
        annotations={"summary": f"failed with {secret}"},
        runbook={"id": "gated-restart", "diagnostics": [{"config": {"command": f"curl -H 'X: {secret}'"}}]},
        assessment={"diagnosticResults": [{"stepId": "x", "status": "error", "message": "nan", "rawValue": None}]},
    )
    written = json.dumps(history_line(incident))
    assert secret not in written
    assert "***" in written
    read = past_incident(json.loads(written))
    assert read.labels == {"token": "***"}
    assert read.triggered_at == incident.created_at


def test_text_from_a_hostile_history_reaches_the_terminal_without_its_control_characters(tmp_path: Path) -> None:
    slow = {"stepId": "latency", "status": "warning", "rawValue": {"value": 2.5}, "message": "2.5"}
    hostile = line(
        id="INC-\x1b]0;owned\x07\x1b[2J",
        state="resolved\r\x1b[1A",
        labels={"namespace": "shop"},
        plan=["restart"],  # the runbook now plans scale and look for these values: a change, so the line is printed
        assessment={"diagnosticResults": [slow], "decisions": []},
    )
    path = write(tmp_path / "h.jsonl", hostile)
    result = CliRunner().invoke(cli, ["replay", str(TINY), "--history", str(path), "--since", "3650d"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout
    assert "\x07" not in result.stdout
    shown = "INC-\ufffd]0;owned\ufffd\ufffd[2J (2024-05-01 12:00 UTC, resolved \ufffd[1A)"
    assert f"{shown}: now plans scale, look instead of restart" in result.stdout.splitlines()
