"""The API's shapes and errors: 202 on trigger, JSON errors naming the field, the catalog reload."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from support.api import TOKENS, api_client

EXAMPLES = Path(__file__).parents[2] / "examples" / "runbooks"
ADMIN = {"Authorization": f"Bearer {TOKENS['admin']}"}


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    folder = tmp_path / "runbooks"
    shutil.copytree(EXAMPLES, folder)
    return folder


@pytest.fixture
def client(tmp_path: Path, catalog: Path) -> Iterator[TestClient]:
    with api_client(tmp_path, runbooks=catalog) as client:
        yield client


def test_trigger_answers_202_and_the_list_keeps_the_reference_shape(client: TestClient) -> None:
    answer = client.post("/api/v1/incidents", json={"runbookId": "bad-deploy", "dryRun": True}, headers=ADMIN)
    assert answer.status_code == 202
    incident = answer.json()["incident"]
    assert (incident["runbookId"], incident["state"], answer.json()["opened"]) == ("bad-deploy", "triggered", True)
    listed = client.get("/api/v1/incidents", headers=ADMIN).json()
    assert [i["id"] for i in listed["incidents"]] == [incident["id"]]
    again = client.post("/api/v1/incidents", json={"runbookId": "bad-deploy"}, headers=ADMIN).json()
    assert (again["incident"]["id"], again["opened"]) == (incident["id"], False)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        pytest.param({"runbookId": "nope"}, 404, "runbookId", id="unknown-runbook"),
        pytest.param({"runbookId": 5}, 422, "runbookId", id="wrong-type"),
        pytest.param({}, 422, "runbookId", id="missing"),
        pytest.param({"runbookId": "bad-deploy", "dry_run": True}, 422, "dry_run", id="unknown-field"),
        pytest.param({"runbookId": "bad-deploy", "context": {"labels": {"a": 1}}}, 422, "context.labels.a", id="label"),
    ],
)
def test_bad_input_gets_a_json_error_naming_the_field(
    client: TestClient, body: dict[str, object], status: int, field: str
) -> None:
    answer = client.post("/api/v1/incidents", json=body, headers=ADMIN)
    assert answer.status_code == status
    assert answer.json()["error"]["field"] == field
    assert client.get("/api/v1/incidents", headers=ADMIN).json()["incidents"] == []  # nothing half-written


def test_malformed_json_is_a_clear_error(client: TestClient) -> None:
    answer = client.post(
        "/api/v1/incidents", content=b"{not json", headers={**ADMIN, "Content-Type": "application/json"}
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_request"


def test_unknown_incident_is_404_and_a_wrong_decision_409(client: TestClient) -> None:
    assert client.get("/api/v1/incidents/INC-NOPE", headers=ADMIN).status_code == 404
    incident = client.post("/api/v1/incidents", json={"runbookId": "bad-deploy"}, headers=ADMIN).json()["incident"]
    wrong = client.post(
        f"/api/v1/incidents/{incident['id']}/done", json={"remediation": "rollback_checkout"}, headers=ADMIN
    )
    assert wrong.status_code == 409
    assert "only manual remediations" in wrong.json()["error"]["message"]


def test_a_broken_file_keeps_the_last_good_version_and_is_reported(client: TestClient, catalog: Path) -> None:
    (catalog / "bad-deploy.yaml").write_text("id: bad-deploy\nname: [unclosed\n")
    report = client.post("/api/v1/runbooks/reload", headers=ADMIN).json()
    assert "bad-deploy" in report["kept"]
    assert report["broken"][0]["path"].endswith("bad-deploy.yaml")
    assert report["broken"][0]["problems"][0]["code"] == "HR001"
    listed = client.get("/api/v1/runbooks", headers=ADMIN).json()
    assert "bad-deploy" in [r["id"] for r in listed["runbooks"]]
    assert listed["broken"][0]["problems"][0].startswith(str(catalog / "bad-deploy.yaml"))


def test_a_runbook_comes_with_its_explanation(client: TestClient) -> None:
    body = client.get("/api/v1/runbooks/payment-service-slow", headers=ADMIN).json()
    assert body["runbook"]["id"] == "payment-service-slow"
    assert body["explanation"]["markdown"].startswith("# Payment Service High Latency")
    assert body["explanation"]["mermaid"].startswith("flowchart TD")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        pytest.param(
            "incidents",
            {"runbookId": "bad-deploy", "context": {"labels": {"a": "v" * 5000}}},
            "context.labels.a",
            id="label-value",
        ),
        pytest.param(
            "incidents",
            {"runbookId": "bad-deploy", "context": {"labels": {f"k{i}": "v" for i in range(101)}}},
            "context.labels",
            id="too-many-labels",
        ),
        pytest.param(
            "incidents",
            {"runbookId": "bad-deploy", "context": {"annotations": {"d": "v" * 20_000}}},
            "context.annotations.d",
            id="annotation-value",
        ),
        pytest.param("runbooks/bad-deploy/run", {"labels": {"a": "v" * 5000}}, "labels.a", id="run-label"),
    ],
)
def test_labels_and_annotations_past_their_limits_are_a_422_naming_the_field(
    client: TestClient, path: str, body: dict[str, object], field: str
) -> None:
    answer = client.post(f"/api/v1/{path}", json=body, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field
    assert client.get("/api/v1/incidents", headers=ADMIN).json()["incidents"] == []


@pytest.mark.parametrize(
    ("verb", "body", "field"),
    [
        pytest.param("approve", {"remediation": "rollback", "reason": "r" * 100_000}, "reason", id="approve-reason"),
        pytest.param("done", {"remediation": "rollback", "reason": "r" * 100_000}, "reason", id="done-reason"),
        pytest.param("resolve", {"reason": "r" * 100_000}, "reason", id="resolve-reason"),
        pytest.param("cancel", {"reason": "r" * 2001}, "reason", id="cancel-reason"),
        pytest.param("note", {"text": "n" * 10_001}, "text", id="note"),
    ],
)
def test_notes_and_reasons_past_their_limits_are_a_422_naming_the_field(
    client: TestClient, verb: str, body: dict[str, object], field: str
) -> None:
    incident = client.post("/api/v1/incidents", json={"runbookId": "bad-deploy", "dryRun": True}, headers=ADMIN)
    incident_id = incident.json()["incident"]["id"]
    answer = client.post(f"/api/v1/incidents/{incident_id}/{verb}", json=body, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field
    timeline = client.get(f"/api/v1/incidents/{incident_id}", headers=ADMIN).json()["timeline"]
    assert all(len(event["message"]) < 2000 for event in timeline)  # nothing of it was recorded
    assert client.get(f"/api/v1/incidents/{incident_id}", headers=ADMIN).json()["state"] == "triggered"


def test_settings_raise_the_limits(tmp_path: Path, catalog: Path) -> None:
    raised = "  limits: {noteChars: 20000, labelChars: 8000}\n"
    with api_client(tmp_path, runbooks=catalog, extra=raised) as client:
        body = {"runbookId": "bad-deploy", "dryRun": True, "context": {"labels": {"a": "v" * 6000}}}
        incident = client.post("/api/v1/incidents", json=body, headers=ADMIN)
        assert incident.status_code == 202, incident.text
        incident_id = incident.json()["incident"]["id"]
        note = client.post(f"/api/v1/incidents/{incident_id}/note", json={"text": "n" * 15_000}, headers=ADMIN)
        assert note.status_code == 200, note.text


def test_triggering_an_id_whose_file_has_errors_names_the_file_not_the_server_path(
    client: TestClient, catalog: Path
) -> None:
    oom = (catalog / "oom-kills.yaml").read_text()
    (catalog / "gated.yaml").write_text(oom.replace("id: oom-kills", "id: gated-restart").replace("P2", "high"))
    client.post("/api/v1/runbooks/reload", headers=ADMIN)
    answer = client.post("/api/v1/incidents", json={"runbookId": "gated-restart"}, headers=ADMIN)
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["field"] == "runbookId"
    assert error["message"].startswith("runbook 'gated-restart' is in gated.yaml, which has 1 error; ")
    assert str(catalog) not in error["message"]
