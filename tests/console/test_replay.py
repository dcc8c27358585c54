"""A runbook's page compares the loaded version with the last 30 days of incidents (run by a real worker)."""

from __future__ import annotations

import re
from pathlib import Path

from support.api import TOKENS, api_client
from support.engine import EngineWorld, runbook


def test_the_runbook_page_replays_the_loaded_version_over_its_recent_incidents(tmp_path: Path) -> None:
    engine_root, api_root = tmp_path / "engine", tmp_path / "api"
    engine_root.mkdir()
    api_root.mkdir()
    database = f"sqlite:///{tmp_path / 'h.db'}"
    world = EngineWorld.create(
        engine_root, database, runbooks={"gated": runbook("gated", engine_root, approval=True, escalate_after=300)}
    )
    state = engine_root / "gated.state"
    with world.worker():
        for pod, text in (("a", "broken"), ("b", "weird")):
            state.write_text(text + "\n")
            record = world.trigger("gated", pod=pod)
            world.wait(record.id, lambda r: r.assessment is not None, what="its assessment")
    world.service.close()

    extra = "  sessionSecret: console-test-session-secret-0123456789\n"
    with api_client(api_root, runbooks=engine_root / "runbooks", extra=extra, database=database) as client:
        client.post("/login", data={"token": TOKENS["viewer"], "next": "/"}, follow_redirects=False)
        page = client.get("/runbooks/gated")
        assert page.status_code == 200
        assert '<p id="replay-summary"><strong>2 past incidents: 2 unchanged</strong></p>' in page.text

        path = engine_root / "runbooks" / "gated.yaml"
        path.write_text(path.read_text().replace("requiresApproval: true", "requiresApproval: false"))
        admin = {"Authorization": f"Bearer {TOKENS['admin']}"}
        assert client.post("/api/v1/runbooks/reload", headers=admin).status_code == 200
        page = client.get("/runbooks/gated")
        summary = "2 past incidents: 1 unchanged, 1 changes (1 no longer waits for approval)"
        assert f'<p id="replay-summary"><strong>{summary}</strong></p>' in page.text
        assert "<li>waitForApproval: fix → nothing</li>" in page.text
        assert re.search(r'<a href="/incidents/INC-[0-9A-F]{12}">INC-[0-9A-F]{12}</a>', page.text)
