"""An alert meant for a runbook whose file is broken: named in the log, counted, shown, never silent."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from handrail.api.auth import digest
from support.alertmanager import ServeProcess
from support.api import TOKENS, api_client

EXAMPLES = Path(__file__).parents[2] / "examples" / "runbooks"
ALERTMANAGER = {"Authorization": f"Bearer {TOKENS['alertmanager']}"}
ADMIN = {"Authorization": f"Bearer {TOKENS['admin']}"}
GATED = (
    (EXAMPLES / "oom-kills.yaml")
    .read_text()
    .replace("id: oom-kills", "id: gated-restart")
    .replace("alertName: KubeContainerOOMKilled", "alertName: GatedDown\n    labels: {service: web}")
    .replace("severity: P2", "severity: high\nowner: sre")  # two errors: HR103 at 7:11, HR104 at 8:1
)


def firing(**labels: str) -> dict[str, object]:
    return {"status": "firing", "alerts": [{"status": "firing", "labels": labels}]}


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    folder = tmp_path / "runbooks"
    shutil.copytree(EXAMPLES, folder)
    (folder / "gated.yaml").write_text(GATED)
    return folder


@pytest.fixture
def client(tmp_path: Path, catalog: Path) -> Iterator[TestClient]:
    with api_client(tmp_path, runbooks=catalog, extra="  sessionSecret: alerts-test-session-secret-0123456789\n") as c:
        yield c


def test_an_alert_for_a_broken_runbook_is_logged_with_the_file_and_its_first_problems(
    client: TestClient, catalog: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="handrail.api.alerts"):
        answer = client.post(
            "/api/v1/alerts/alertmanager", json=firing(alertname="GatedDown", service="web"), headers=ALERTMANAGER
        )
    assert answer.status_code == 200
    assert answer.json() == {"opened": [], "joined": [], "resolved": [], "refused": ["gated-restart"], "unknown": 0}
    path = catalog / "gated.yaml"
    (line,) = [r.getMessage() for r in caplog.records if r.name == "handrail.api.alerts"]
    assert line.startswith(
        f"alert GatedDown matches runbook 'gated-restart', which has errors, so no incident was opened: "
        f"it is in {path}, which has 2 errors: {path}:7:11: HR103 severity: "
    )
    assert f"; {path}:8:1: HR104 unknown key 'owner' in the runbook" in line
    metrics = client.get("/metrics").text
    assert 'handrail_alerts_received_total{result="broken_runbook"}' in metrics
    assert "handrail_runbook_files_broken 1.0" in metrics


def test_an_alert_the_broken_runbooks_matchers_refuse_is_unknown(client: TestClient) -> None:
    answer = client.post(
        "/api/v1/alerts/alertmanager", json=firing(alertname="GatedDown", service="db"), headers=ALERTMANAGER
    )
    assert (answer.json()["refused"], answer.json()["unknown"]) == ([], 1)


def test_a_broken_file_keeps_the_last_good_version_of_the_id_it_declares(client: TestClient, catalog: Path) -> None:
    (catalog / "gated.yaml").write_text(GATED.replace("severity: high\nowner: sre", "severity: P2"))
    assert "gated-restart" in client.post("/api/v1/runbooks/reload", headers=ADMIN).json()["runbooks"]
    (catalog / "gated.yaml").write_text(GATED)
    reloaded = client.post("/api/v1/runbooks/reload", headers=ADMIN).json()
    assert reloaded["kept"] == ["gated-restart"]
    assert [b["id"] for b in reloaded["broken"]] == ["gated-restart"]
    answer = client.post(
        "/api/v1/alerts/alertmanager", json=firing(alertname="GatedDown", service="web"), headers=ALERTMANAGER
    )
    assert (len(answer.json()["opened"]), answer.json()["refused"]) == (1, [])


def test_a_broken_runbook_whose_triggers_cannot_be_read_is_logged_when_the_folder_loads(
    tmp_path: Path, catalog: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (catalog / "gated.yaml").write_text(GATED.replace("alertName: GatedDown", "alertName: 5"))
    with caplog.at_level(logging.WARNING, logger="handrail.api.state"), api_client(tmp_path, runbooks=catalog):
        pass
    (line,) = [r.getMessage() for r in caplog.records if "gated" in r.getMessage()]
    assert line.startswith(f"runbook 'gated-restart' is in {catalog / 'gated.yaml'}, which has 3 errors: ")
    assert line.endswith("; its triggers cannot be read either, so alerts meant for it count as unknown")


def test_serve_logs_the_alert_a_broken_runbook_refused(tmp_path: Path) -> None:
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "gated.yaml").write_text(GATED)
    config = tmp_path / "handrail.yaml"
    config.write_text(
        f"runbooks: runbooks\ndatabase: 'sqlite:///{tmp_path / 'h.db'}'\napi:\n  tokens:\n"
        f"    - {{name: alertmanager, role: alertmanager, sha256: {digest(TOKENS['alertmanager'])}}}\n"
    )
    with ServeProcess(config, engine=False) as serve:
        answer = httpx.post(
            f"{serve.url}/api/v1/alerts/alertmanager",
            json=firing(alertname="GatedDown", service="web"),
            headers=ALERTMANAGER,
            timeout=10,
        )
        assert answer.json()["refused"] == ["gated-restart"]
        deadline = time.monotonic() + 10
        while "matches runbook 'gated-restart'" not in serve.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        log = serve.log()
    path = tmp_path / "runbooks" / "gated.yaml"
    assert f"runbook 'gated-restart' is in {path}, which has 2 errors" in log  # when the folder loads
    assert "alerts that match it open no incident until it is fixed" in log
    assert "alert GatedDown matches runbook 'gated-restart', which has errors, so no incident was opened" in log
    assert f"{path}:7:11: HR103" in log


def test_a_runbook_that_breaks_the_policy_is_refused_and_named_by_the_api_the_console_and_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "runbooks"
    shutil.copytree(EXAMPLES, folder)
    path = folder / "oom-kills.yaml"
    policy = "policy:\n  maxEscalateAfterMinutes: {P1: 15, P2: 20}\n"  # oom-kills (P2) waits the default 30
    with (
        caplog.at_level(logging.WARNING, logger="handrail.api.state"),
        api_client(tmp_path, runbooks=folder, extra=policy) as client,
    ):
        answer = client.post(
            "/api/v1/alerts/alertmanager",
            json=firing(alertname="KubeContainerOOMKilled", namespace="shop", deployment="cart"),
            headers=ALERTMANAGER,
        )
        assert (answer.json()["opened"], answer.json()["refused"]) == ([], ["oom-kills"])
        listed = client.get("/api/v1/runbooks", headers=ADMIN).json()
        assert "oom-kills" not in [r["id"] for r in listed["runbooks"]]
        assert "bad-deploy" in [r["id"] for r in listed["runbooks"]]  # P1 with 15 minutes: within the policy
        problem = f"{path}:121:25: HR703 escalateAfterMinutes is 30; the policy allows at most 20 for a P2 runbook"
        assert [b["problems"] for b in listed["broken"]] == [[problem]]
        client.post("/login", data={"token": TOKENS["viewer"], "next": "/"}, follow_redirects=False)
        page = client.get("/runbooks").text
        row = page.split('<tr class="broken" data-runbook="oom-kills">', 1)[1].split("</tr>", 1)[0]
        assert f"<li><code>{path}:121:25: HR703 " in row
    (line,) = [r.getMessage() for r in caplog.records if r.name == "handrail.api.state"]
    assert (
        line == f"runbook 'oom-kills' is in {path}, which has 1 error: {problem}; alerts that match it open no"
        " incident until it is fixed"
    )
