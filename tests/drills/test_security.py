"""The security pass (docs/security.md): every route refuses callers without credentials, and secrets stay secret.

- Walk every route of the app `handrail serve` serves (API and console): each answers 401 without
  a token and with a wrong one, except the routes docs/security.md lists as open (which must
  exist), Slack's (401 without Slack's signature) and console pages (303 to the login page).
- Run a real incident whose settings hold one sentinel secret everywhere a secret can be, against
  servers that echo it back in their errors, then search the worker's log, every row of every table
  and every answer of the API and the console for it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount

from handrail.composition import open_service
from handrail.lint import lint_file
from handrail.settings import load_settings
from support.api import TOKENS
from support.api_app import api_app, bearer
from support.engine import EngineWorld, WorkerProcess
from support.pagerduty import PagerDutyServer
from support.servers import HttpServer, Route
from support.slack import SlackServer

pytestmark = pytest.mark.timeout(90)

DOC = Path(__file__).parents[2] / "docs" / "security.md"
ROW = re.compile(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/[^`]*)` \| (.+) \|$", re.MULTILINE)
PARAMETERS = {"incident_id": "INC-000000000000", "runbook_id": "payments", "verb": "resolve", "path": "console.js"}


def _documented(section: str) -> set[str]:
    """`METHOD /path` of each row of the table under `### <section>` in docs/security.md."""
    text = DOC.read_text()
    start = text.index(f"### {section}\n")
    end = text.find("\n#", start + 1)
    return {f"{method} {path}" for method, path, _ in ROW.findall(text[start : end if end > 0 else None])}


def _routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path template) of every route the app answers, its included routers' routes too."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI ≥ 0.160 keeps included routers whole
    except ImportError:  # older FastAPI flattened them into app.routes
        contexts: list[object] = list(app.routes)
    else:
        contexts = list(iter_route_contexts(app.routes))
    for context in contexts:
        route = getattr(context, "route", context)
        if isinstance(route, Mount):
            yield "GET", f"{route.path}/{{path}}"
            continue
        for method in sorted(set(getattr(context, "methods", None) or ()) - {"HEAD"}):
            yield method, str(context.path)  # type: ignore[attr-defined]


def _fill(template: str, **values: str) -> str:
    """The path with its parameters filled in: `values`, else a plausible value, else `x`."""
    known = PARAMETERS | values
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: known.get(m.group(1), "x"), template)


def test_every_route_refuses_a_caller_without_credentials(tmp_path: Path) -> None:
    open_routes = _documented("Routes that take no token")
    signed = _documented("Routes authenticated otherwise")
    assert {"GET /healthz", "GET /readyz", "GET /metrics"} <= open_routes
    (tmp_path / "runbooks").mkdir()
    slack = "notifiers:\n  slack:\n    botToken: xoxb-test\n    signingSecret: signing-s3cret\n"
    database = f"sqlite:///{tmp_path / 'api.db'}"
    with api_app(tmp_path, runbooks=tmp_path / "runbooks", database=database, extra=slack) as (app, _):
        client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
        seen, wrong = set(), []
        for method, template in _routes(app):
            key, path = f"{method} {template}", _fill(template)
            seen.add(key)
            if key in open_routes:
                if method == "GET":
                    assert client.get(path).status_code == 200, key
                continue
            for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": TOKENS["viewer"]}):
                answer = client.request(method, path, headers=headers)
                if template.startswith("/api/"):
                    code = "bad_signature" if key in signed else "unauthorized"
                    ok = answer.status_code == 401 and answer.json()["error"]["code"] == code
                else:  # a console page: to the login page, nothing read or done
                    ok = answer.status_code == 303 and answer.headers["location"].startswith("/login")
                if not ok:
                    wrong.append(f"{key} with {headers or 'no token'}: {answer.status_code} {answer.text[:100]}")
    assert wrong == []
    assert len(seen) >= 25  # the walk found the routers' routes, not only the app's own
    assert (open_routes | signed) - seen == set()  # nothing documented that does not exist


# -- secrets --------------------------------------------------------------------------------------

SECRET = "hrs3cret" + uuid.uuid4().hex[:24]  # 32 letters and digits: a valid PagerDuty routing key too
PATH_SECRET = "hrp4th" + uuid.uuid4().hex[:24]
"""The webhook's URL path: a secret of its own, so no other secret's redaction hides it by chance."""
RUNBOOK = """\
id: payments
name: Payments
description: every integration of this runbook holds the secret
severity: P2
service: payments
triggers: [{{type: manual}}]
diagnostics:
  - id: state
    name: State
    description: reads the state file
    type: shell_command
    config: {{command: "cat {state}"}}
    interpret: {{critical: "lines[0] == 'broken'", healthy: "lines[0] == 'ok'"}}
  - id: pool
    name: Pool
    description: Prometheus echoes the token back in its error page
    type: prometheus_query
    config: {{query: "max(pool_usage)"}}
    timeout: 5
    interpret: {{critical: "value > 0.9", healthy: "value <= 0.9"}}
  - id: db
    name: Database
    description: a database whose URL holds the password
    type: database_query
    config: {{database: main, query: "SELECT 1 AS one"}}
    timeout: 5
    interpret: {{healthy: "value == 1"}}
decisionTree:
  - condition: "diagnostics.state.status == 'critical'"
    then: [page, tell, fix]
    description: broken
remediations:
  - id: page
    name: Page
    description: page the on-call
    type: escalate
  - id: tell
    name: Tell
    description: the webhook (whose URL path is the secret) echoes its path back in its error
    type: automated
    continueOnFailure: true
    action:
      type: notify
      config: {{message: "fixing the state file", channel: "#ops"}}
  - id: fix
    name: Fix
    description: writes ok into the state file
    type: automated
    action:
      type: run_script
      config: {{command: [/bin/sh, -c, "echo ok > {state}"]}}
    verify: {{after: 0.3s, diagnostics: [state]}}
escalation:
  primary: "#incidents-payment"
  secondary: "pagerduty:sre"
  escalateAfterMinutes: 30
"""


SESSION = "  sessionSecret: '${HR_SESSION_SECRET}'\n"
"""Goes under `api:` (the tests' API settings write `api:` and its tokens first)."""


def _settings(prometheus: HttpServer, webhook: HttpServer, slack: SlackServer, pagerduty: PagerDutyServer) -> str:
    """Every setting that can hold a secret, each holding one (from the environment); `api:` aside."""
    database = "postgresql+psycopg://postgres:${HR_DB_PASSWORD}@127.0.0.1:5432/handrail_no_such_db"
    return (
        f"prometheus:\n  default: {{url: '{prometheus.url('/prom')}', bearerToken: '${{HR_PROMETHEUS_TOKEN}}'}}\n"
        f"databases:\n  main: {{url: '{database}'}}\n"
        "notifiers:\n  log: true\n"
        f"  webhook:\n    url: '{webhook.url('/hook/')}${{HR_HOOK_PATH}}'\n    timeout: 2s\n"
        "    headers: {Authorization: 'Bearer ${HR_HOOK_TOKEN}'}\n    secret: '${HR_HOOK_SECRET}'\n"
        "  slack:\n    botToken: '${HR_SLACK_TOKEN}'\n    signingSecret: '${HR_SLACK_SIGNING}'\n"
        f"    apiUrl: '{slack.api_url}'\n    timeout: 2s\n"
        "  pagerduty:\n    routingKeys: {sre: '${HR_PAGERDUTY_KEY}'}\n"
        f"    url: '{pagerduty.url}'\n    timeout: 2s\n"
    )


ENVIRON = {
    "HR_PROMETHEUS_TOKEN": SECRET,
    "HR_DB_PASSWORD": SECRET,
    "HR_SESSION_SECRET": SECRET,
    "HR_HOOK_TOKEN": SECRET,
    "HR_HOOK_SECRET": SECRET,
    "HR_HOOK_PATH": PATH_SECRET,
    "HR_SLACK_TOKEN": f"xoxb-{SECRET}",
    "HR_SLACK_SIGNING": SECRET,
    "HR_PAGERDUTY_KEY": SECRET,
}


def _every_row(database: str) -> str:
    """Every row of every table (ours and DBOS's), as text."""
    engine = sa.create_engine(database)
    try:
        with engine.connect() as connection:
            tables = [
                row[0] for row in connection.execute(sa.text("SELECT name FROM sqlite_master WHERE type='table'"))
            ]
            return "\n".join(
                repr(row) for table in tables for row in connection.execute(sa.text(f'SELECT * FROM "{table}"'))
            )
    finally:
        engine.dispose()


def _api_answers(client: TestClient, app: FastAPI, incident_id: str) -> list[str]:
    """What the API and the console answer to an admin (every GET route, the assessment on demand, errors)."""
    answers = [client.post("/api/v1/runbooks/payments/run", headers=bearer("admin"), json={}).text]
    login = client.post("/login", data={"token": TOKENS["admin"], "next": "/"}, follow_redirects=False)
    assert login.status_code == 303
    for method, template in _routes(app):
        if method == "GET":
            answer = client.get(_fill(template, incident_id=incident_id), headers=bearer("admin"))
            answers.append(f"{template} {answer.status_code} {dict(answer.headers)} {answer.text}")
    answers.append(client.get("/api/v1/incidents/INC-FFFFFFFFFFFF", headers=bearer("admin")).text)
    return answers


def test_secrets_never_reach_logs_timeline_database_or_api(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    echo = f"<html>502 Bad Gateway; upstream saw Authorization: Bearer {SECRET}</html>"
    with (
        HttpServer({"/prom/api/v1/query": Route(502, echo)}) as prometheus,
        HttpServer(
            {f"/hook/{PATH_SECRET}": Route(503, f"bad credentials: Bearer {SECRET} / {SECRET}", echo_target=True)}
        ) as webhook,
        SlackServer(token=f"xoxb-{SECRET}") as slack,
        PagerDutyServer() as pagerduty,
    ):
        state = tmp_path / "state"
        state.write_text("broken\n")
        (tmp_path / "runbooks").mkdir()
        (tmp_path / "runbooks" / "payments.yaml").write_text(RUNBOOK.format(state=state))
        database = f"sqlite:///{tmp_path / 'handrail.db'}"
        config = tmp_path / "handrail.yaml"
        settings_text = _settings(prometheus, webhook, slack, pagerduty)
        config.write_text(
            f"runbooks: runbooks\ndatabase: '{database}'\nengine:\n  minuteSeconds: 0.2\napi:\n{SESSION}{settings_text}"
        )
        settings = load_settings(config, environ=ENVIRON)
        world = EngineWorld(tmp_path, config, settings, open_service(settings))
        slack.fail_next("invalid_auth")  # an error answer on the way, too
        pagerduty.fail_with(500, {"status": "error", "message": f"routing key {SECRET} is not allowed"})
        loaded = lint_file(tmp_path / "runbooks" / "payments.yaml")
        assert loaded.runbook is not None, [str(p) for p in loaded.problems]
        caplog.set_level(logging.DEBUG)
        with WorkerProcess(config, env=ENVIRON) as worker:
            incident, _ = asyncio.run(world.service.trigger(loaded.runbook, trigger_type="manual", triggered_by="test"))
            world.wait_state(incident.id, "resolved", timeout=30)
            world.wait(incident.id, lambda r: len(pagerduty.requests) > 0, what="PagerDuty's first (failed) answer")
            pagerduty.recover()
            world.wait(
                incident.id,
                lambda r: {e["event_action"] for e in pagerduty.events} == {"trigger", "resolve"},
                what="PagerDuty's trigger and resolve",
            )
            world.wait(
                incident.id,
                lambda r: len(slack.messages) >= 1 and len(webhook.requests) >= 2,
                what="Slack and the webhook",
            )
            log = "".join(worker.output)
        (tmp_path / "api").mkdir()
        extra = SESSION + settings_text
        with api_app(
            tmp_path / "api", runbooks=tmp_path / "runbooks", database=database, extra=extra, environ=ENVIRON
        ) as (app, _):
            answers = _api_answers(TestClient(app, raise_server_exceptions=False), app, incident.id)

    # The secret was really used, and really echoed back at Handrail ...
    assert prometheus.requests[0].headers["Authorization"] == f"Bearer {SECRET}"
    assert webhook.requests[0].headers["Authorization"] == f"Bearer {SECRET}"
    assert slack.calls[0].headers["Authorization"] == f"Bearer xoxb-{SECRET}"
    assert {e["routing_key"] for e in pagerduty.events} == {SECRET}
    # (each failed attempt is logged with its traceback, the webhook's echo in it, redacted)
    assert "answered HTTP 503 Service Unavailable: bad credentials: *** / ***" in log
    diagnostics = {e.message.split(":")[0]: e.message for e in world.events(incident.id, "diagnostic")}
    assert "upstream saw Authorization: Bearer ***</html>" in diagnostics["Pool"]
    assert webhook.requests[0].path == f"/hook/{PATH_SECRET}"
    tell = [e.message for e in world.events(incident.id, "action") if e.message.startswith("tell: failed")]
    assert tell == [
        f"tell: failed — not delivered to #ops: webhook http://127.0.0.1:{webhook.port} answered HTTP 503 Service"
        " Unavailable: bad credentials: *** / *** (for ***)"
    ]
    assert "(postgresql+psycopg://postgres:***@127.0.0.1:5432/handrail_no_such_db)" in diagnostics["Database"]
    # ... and appears nowhere: not in the worker's log, any row, any answer, or this process's log.
    rows, timeline = (
        _every_row(database),
        " ".join(f"{e.message} {json.dumps(e.data)}" for e in world.events(incident.id)),
    )
    for secret in (SECRET, PATH_SECRET):
        assert secret not in log
        assert secret not in rows
        assert [a for a in answers if secret in a] == []
        assert secret not in caplog.text
        assert secret not in timeline
    pages = [a.split(" {")[0] for a in answers if a.startswith("/")]
    assert len(pages) >= 15
    assert all(page.endswith(" 200") for page in pages), pages  # read with content, console pages included
