"""The console in process: logins and cookies, CSRF, roles, headers, escaping, downloads, errors as pages."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from markdown_it import MarkdownIt

from handrail.api.auth import TokenRegistry
from handrail.api.state import ApiState
from handrail.store import IncidentState
from support.api import TOKENS, api_client

EXAMPLES = Path(__file__).parents[2] / "examples" / "runbooks"
SECRET = "console-test-session-secret-0123456789"
RESPONDER = {"Authorization": f"Bearer {TOKENS['responder']}"}


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    folder = tmp_path / "runbooks"
    shutil.copytree(EXAMPLES, folder)
    return folder


@pytest.fixture
def client(tmp_path: Path, catalog: Path) -> Iterator[TestClient]:
    extra = f"  sessionSecret: {SECRET}\n  consoleUrl: https://handrail.example.com/\n"
    with api_client(tmp_path, runbooks=catalog, extra=extra) as client:
        yield client


def log_in(client: TestClient, role: str) -> str:
    """Log in as `role`; the CSRF token of the session."""
    answer = client.post("/login", data={"token": TOKENS[role], "next": "/"}, follow_redirects=False)
    assert answer.status_code == 303
    page = client.get("/")
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert found is not None
    return found.group(1)


def open_incident(client: TestClient, **labels: str) -> str:
    body = {"runbookId": "bad-deploy", "context": {"labels": labels}}
    answer = client.post("/api/v1/incidents", json=body, headers=RESPONDER)
    assert answer.status_code == 202
    return str(answer.json()["incident"]["id"])


def test_every_page_sends_a_stranger_to_the_login_page_and_back(client: TestClient) -> None:
    for path in ("/", "/runbooks", "/runbooks/bad-deploy", "/analytics", "/incidents/INC-1"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == f"/login?next={path}"
    answer = client.get("/?show=open&runbook=bad-deploy", follow_redirects=False)
    assert answer.headers["location"] == "/login?next=/%3Fshow%3Dopen%26runbook%3Dbad-deploy"


@pytest.mark.parametrize("token", ["", "wrong", TOKENS["alertmanager"]], ids=["empty", "wrong", "alertmanager"])
def test_login_refuses_tokens_that_are_not_for_people(client: TestClient, token: str) -> None:
    answer = client.post("/login", data={"token": token}, follow_redirects=False)
    assert answer.status_code == 401
    assert "That token is not valid." in answer.text
    assert "set-cookie" not in answer.headers


def test_the_session_cookie_is_httponly_samesite_and_holds_no_token(client: TestClient) -> None:
    answer = client.post("/login", data={"token": TOKENS["viewer"]}, follow_redirects=False)
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("handrail_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP here; see the next test
    assert TOKENS["viewer"] not in cookie


def test_the_session_cookie_is_secure_over_https(tmp_path: Path, catalog: Path) -> None:
    with api_client(tmp_path, runbooks=catalog) as client:
        client.base_url = client.base_url.copy_with(scheme="https")
        answer = client.post("/login", data={"token": TOKENS["viewer"]}, follow_redirects=False)
        assert "Secure" in answer.headers["set-cookie"]


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "evil"])
def test_login_never_sends_anyone_to_another_site(client: TestClient, target: str) -> None:
    answer = client.post("/login", data={"token": TOKENS["viewer"], "next": target}, follow_redirects=False)
    assert answer.headers["location"] == "/"


def test_a_tampered_cookie_is_no_session(client: TestClient) -> None:
    log_in(client, "viewer")
    value = client.cookies["handrail_session"]
    client.cookies.set("handrail_session", value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert client.get("/", follow_redirects=False).status_code == 303


def test_removing_a_token_ends_its_sessions(tmp_path: Path, catalog: Path, client: TestClient) -> None:
    log_in(client, "responder")
    cookie = client.cookies["handrail_session"]
    other = tmp_path / "other"
    other.mkdir()
    # Another API process on the same database with the same session secret, but without the responder's token.
    extra = f"  sessionSecret: {SECRET}\n"
    database = f"sqlite:///{tmp_path / 'api.db'}"
    with api_client(other, runbooks=catalog, extra=extra, database=database) as same_secret:
        same_secret.cookies.set("handrail_session", cookie)
        assert same_secret.get("/", follow_redirects=False).status_code == 200
        state_of_client(same_secret).tokens = TokenRegistry([])
        assert same_secret.get("/", follow_redirects=False).status_code == 303


def test_changing_forms_need_the_csrf_token_and_our_own_origin(client: TestClient) -> None:
    incident_id = open_incident(client)
    csrf = log_in(client, "responder")
    path = f"/incidents/{incident_id}/ack"
    assert client.post(path, follow_redirects=False).status_code == 403
    assert client.post(path, data={"csrf": "forged"}, follow_redirects=False).status_code == 403
    foreign = client.post(path, data={"csrf": csrf}, headers={"origin": "https://evil.example"}, follow_redirects=False)
    assert foreign.status_code == 403
    assert "did not come from this console" in foreign.text
    service = state_of_client(client).service
    assert asyncio.run(service.get(incident_id)).acknowledged_by is None  # none of them did anything
    ours = client.post(path, data={"csrf": csrf}, headers={"origin": "http://testserver"}, follow_redirects=False)
    assert ours.status_code == 303
    assert asyncio.run(service.get(incident_id)).acknowledged_by == "responder-user"


def test_the_public_console_url_is_an_origin_of_our_own(client: TestClient) -> None:
    incident_id = open_incident(client)
    csrf = log_in(client, "responder")
    answer = client.post(
        f"/incidents/{incident_id}/note",
        data={"csrf": csrf, "text": "behind the proxy"},
        headers={"origin": "https://handrail.example.com"},
        follow_redirects=False,
    )
    assert answer.status_code == 303


def test_the_csrf_header_serves_the_consoles_own_script(client: TestClient) -> None:
    incident_id = open_incident(client)
    csrf = log_in(client, "responder")
    answer = client.post(
        f"/incidents/{incident_id}/note", data={"text": "from the script"}, headers={"x-csrf-token": csrf}
    )
    assert answer.status_code == 200
    assert "from the script" in answer.text


def test_a_viewer_can_look_but_not_change(client: TestClient) -> None:
    incident_id = open_incident(client)
    csrf = log_in(client, "viewer")
    page = client.get(f"/incidents/{incident_id}")
    assert page.status_code == 200
    assert "Acknowledge</button>" not in page.text
    answer = client.post(f"/incidents/{incident_id}/ack", data={"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 403
    assert "needs the responder role" in answer.text
    assert asyncio.run(state_of_client(client).service.get(incident_id)).acknowledged_by is None


def test_approve_needs_the_approver_role_and_an_incident_that_waits(client: TestClient) -> None:
    incident_id = open_incident(client)
    store = state_of_client(client).service.store
    store.set_assessment(incident_id, {"diagnosticResults": [], "decisions": []}, ["rollback_checkout"], "critical")
    store.transition(incident_id, IncidentState.AWAITING_APPROVAL, "waits", waiting_for="approval: rollback_checkout")
    csrf = log_in(client, "responder")
    page = client.get(f"/incidents/{incident_id}")
    assert 'data-verb="approve"' not in page.text
    assert "someone with the approver role" in page.text
    form = {"csrf": csrf, "remediation": "rollback_checkout", "kind": "approve"}
    assert client.post(f"/incidents/{incident_id}/decide", data=form, follow_redirects=False).status_code == 403
    csrf = log_in(client, "approver")
    assert 'data-verb="approve"' in client.get(f"/incidents/{incident_id}").text
    form["csrf"] = csrf
    answer = client.post(f"/incidents/{incident_id}/decide", data=form, follow_redirects=False)
    assert answer.status_code == 303
    (decision,) = [e for e in store.timeline(incident_id) if e.kind == "decision_by_person"]
    assert decision.actor == "approver-user"
    again = client.post(f"/incidents/{incident_id}/decide", data=form, follow_redirects=False)
    assert again.status_code == 409
    assert "already approved" in again.text


def test_hostile_labels_are_shown_as_text(client: TestClient) -> None:
    incident_id = open_incident(client, pod='<script>alert("x")</script>', note='" onmouseover="alert(1)')
    log_in(client, "viewer")
    page = client.get(f"/incidents/{incident_id}").text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert '" onmouseover="' not in page


def test_pages_forbid_framing_and_foreign_scripts_but_the_api_is_left_alone(client: TestClient) -> None:
    page = client.get("/login")
    assert page.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    api = client.get("/api/v1/incidents", headers=RESPONDER)
    assert "content-security-policy" not in api.headers
    # Nothing on any page loads from another host.
    log_in(client, "admin")
    for path in ("/", "/runbooks", "/runbooks/bad-deploy", "/analytics"):
        text = client.get(path).text
        assert not re.search(r'(src|href)="(https?:)?//', text), path


def test_the_report_downloads_as_markdown(client: TestClient) -> None:
    incident_id = open_incident(client)
    log_in(client, "viewer")
    answer = client.get(f"/incidents/{incident_id}/report.md")
    assert answer.headers["content-disposition"] == f'attachment; filename="{incident_id}-report.md"'
    assert answer.headers["content-type"].startswith("text/markdown")
    assert answer.text.startswith("# Post-incident report: ")


def test_the_downloaded_report_shows_a_hostile_label_as_text(client: TestClient) -> None:
    hostile = "x\r# Pwned\r<img src=x onerror=alert(1)>\r```\r<script>alert(1)</script>"
    incident_id = open_incident(client, service=hostile)
    log_in(client, "viewer")
    report = client.get(f"/incidents/{incident_id}/report.md").text
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(report)
    assert "<img" not in html
    assert "<script" not in html
    assert "<h1>Pwned" not in html
    assert "<td>x\r# Pwned\r&lt;img src=x onerror=alert(1)&gt;\r```\r&lt;script&gt;alert(1)&lt;/script&gt;</td>" in html


def test_the_runbook_list_shows_a_broken_file_under_the_id_it_declares_with_the_alerts_it_refused(
    client: TestClient, catalog: Path
) -> None:
    oom = (catalog / "oom-kills.yaml").read_text()
    (catalog / "gated.yaml").write_text(
        oom.replace("id: oom-kills", "id: gated-restart")
        .replace("alertName: KubeContainerOOMKilled", "alertName: GatedDown")
        .replace("severity: P2", "severity: high\nowner: sre")
    )
    admin = {"Authorization": f"Bearer {TOKENS['admin']}"}
    assert client.post("/api/v1/runbooks/reload", headers=admin).json()["broken"][0]["id"] == "gated-restart"
    alert = {"status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "GatedDown"}}]}
    for _ in range(2):
        client.post(
            "/api/v1/alerts/alertmanager", json=alert, headers={"Authorization": f"Bearer {TOKENS['alertmanager']}"}
        )
    log_in(client, "viewer")
    page = client.get("/runbooks").text
    row = page.split('<tr class="broken" data-runbook="gated-restart">', 1)[1].split("</tr>", 1)[0]
    assert "<strong>gated-restart</strong>" in row
    assert f"<code>{catalog / 'gated.yaml'}</code>" in row
    assert "<strong>2 alerts</strong> matched it and opened no incident." in row
    assert f"<li><code>{catalog / 'gated.yaml'}:7:11: HR103 " in row
    assert (
        f"<li><code>{catalog / 'gated.yaml'}:8:1: HR104 unknown key &#39;owner&#39; in the runbook</code></li>" in row
    )
    assert '<span class="lint broken">2 errors</span>' in row


def test_errors_are_pages_that_say_what_is_wrong(client: TestClient) -> None:
    csrf = log_in(client, "responder")
    missing = client.get("/incidents/INC-NOPE")
    assert missing.status_code == 404
    assert "There is no incident INC-NOPE." in missing.text
    assert client.get("/runbooks/nope").status_code == 404
    bad_labels = client.post("/runbooks/bad-deploy/run", data={"csrf": csrf, "labels": "env=prod\nno equals sign"})
    assert bad_labels.status_code == 400
    assert "labels line 2" in bad_labels.text
    unknown = client.post("/incidents/INC-NOPE/frobnicate", data={"csrf": csrf})
    assert unknown.status_code == 404
    assert "Traceback" not in unknown.text


def test_logging_out_needs_the_csrf_token_and_ends_the_session(client: TestClient) -> None:
    csrf = log_in(client, "viewer")
    assert client.post("/logout", follow_redirects=False).status_code == 403
    answer = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert answer.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).status_code == 303


def test_logging_out_ends_the_session_for_every_copy_of_the_cookie(client: TestClient) -> None:
    csrf = log_in(client, "responder")
    copied = client.cookies["handrail_session"]
    assert client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    client.cookies.set("handrail_session", copied)  # a copy taken before logging out, presented afterwards
    assert client.get("/", follow_redirects=False).headers["location"] == "/login?next=/"
    incident_id = open_incident(client)
    ack = client.post(f"/incidents/{incident_id}/ack", data={"csrf": csrf}, follow_redirects=False)
    assert ack.headers["location"] == "/login?next=/"
    assert asyncio.run(state_of_client(client).service.get(incident_id)).acknowledged_by is None


def test_logging_out_ends_only_that_session(tmp_path: Path, catalog: Path, client: TestClient) -> None:
    log_in(client, "viewer")
    database = f"sqlite:///{tmp_path / 'api.db'}"
    other = tmp_path / "other"
    other.mkdir()
    with api_client(other, runbooks=catalog, extra=f"  sessionSecret: {SECRET}\n", database=database) as second:
        csrf = log_in(second, "viewer")  # the same person in another browser, through another API process
        assert second.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 200


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://testserver.evil.example"])
def test_login_refuses_a_form_posted_from_a_foreign_origin(client: TestClient, origin: str) -> None:
    answer = client.post("/login", data={"token": TOKENS["viewer"]}, headers={"origin": origin}, follow_redirects=False)
    assert answer.status_code == 403
    assert "This login form did not come from this console." in answer.text
    assert "set-cookie" not in answer.headers


@pytest.mark.parametrize("origin", ["http://testserver", "https://handrail.example.com"], ids=["own", "consoleUrl"])
def test_login_takes_a_form_from_the_consoles_own_origin(client: TestClient, origin: str) -> None:
    answer = client.post("/login", data={"token": TOKENS["viewer"]}, headers={"origin": origin}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["set-cookie"].startswith("handrail_session=")


def test_the_incident_list_filters(client: TestClient) -> None:
    first = open_incident(client)
    body = {"runbookId": "oom-kills", "context": {"labels": {}}}
    second = client.post("/api/v1/incidents", json=body, headers=RESPONDER).json()["incident"]["id"]
    log_in(client, "viewer")
    everything = client.get("/").text
    assert first in everything
    assert second in everything
    only_oom = client.get("/?runbook=oom-kills").text
    assert second in only_oom
    assert first not in only_oom
    assert "No incidents match these filters." in client.get("/?show=closed").text


def state_of_client(client: TestClient) -> ApiState:
    state: ApiState = client.app.state.handrail  # type: ignore[attr-defined]
    return state


def test_four_eyes_holds_in_the_console_too(tmp_path: Path, catalog: Path) -> None:
    with api_client(tmp_path, runbooks=catalog, extra="  fourEyes: true\n") as client:
        approver = {"Authorization": f"Bearer {TOKENS['approver']}"}
        body = {"runbookId": "bad-deploy", "context": {"labels": {}}}
        incident_id = client.post("/api/v1/incidents", json=body, headers=approver).json()["incident"]["id"]
        store = state_of_client(client).service.store
        store.set_assessment(incident_id, {"diagnosticResults": [], "decisions": []}, ["rollback_checkout"], "critical")
        store.transition(
            incident_id, IncidentState.AWAITING_APPROVAL, "waits", waiting_for="approval: rollback_checkout"
        )
        csrf = log_in(client, "approver")
        form = {"csrf": csrf, "remediation": "rollback_checkout", "kind": "approve"}
        answer = client.post(f"/incidents/{incident_id}/decide", data=form, follow_redirects=False)
        assert answer.status_code == 403
        assert "approver-user triggered" in answer.text
        assert not [e for e in store.timeline(incident_id) if e.kind == "decision_by_person"]


def test_four_eyes_in_the_console_refuses_whoever_opened_the_incident_by_an_alert(
    tmp_path: Path, catalog: Path
) -> None:
    with api_client(tmp_path, runbooks=catalog, extra="  fourEyes: true\n") as client:
        labels = {"alertname": "CheckoutErrorRateHigh", "service": "checkout"}
        payload = {"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": labels}]}
        admin = {"Authorization": f"Bearer {TOKENS['admin']}"}
        [incident_id] = client.post("/api/v1/alerts/alertmanager", json=payload, headers=admin).json()["opened"]
        csrf = log_in(client, "admin")
        form = {"csrf": csrf, "remediation": "rollback_checkout", "kind": "approve"}
        answer = client.post(f"/incidents/{incident_id}/decide", data=form, follow_redirects=False)
        assert answer.status_code == 403
        assert f"admin-user triggered {incident_id}; someone else must approve (four eyes)." in answer.text
        store = state_of_client(client).service.store
        assert not [e for e in store.timeline(incident_id) if e.kind == "decision_by_person"]


def test_the_version_token_matches_the_page_and_changes_with_the_timeline(client: TestClient) -> None:
    incident_id = open_incident(client)
    log_in(client, "viewer")
    page = client.get(f"/incidents/{incident_id}").text
    found = re.search(r'data-version="([^"]+)"', page)
    assert found is not None
    version = client.get(f"/incidents/{incident_id}/version").json()["version"]
    assert version == found.group(1)  # else the page's script would refresh for ever
    state_of_client(client).service.store.record(incident_id, "note", "something happened")
    assert client.get(f"/incidents/{incident_id}/version").json()["version"] != version
