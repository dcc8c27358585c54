"""The console in real headless Chromium against a real `handrail serve` (engine, SQLite) and a real Prometheus.

One world for the module: a runbook whose diagnostics read a state file and a Prometheus range,
and whose fix is an automated `run_script` that needs approval and appends a line per run to an
effects file (the side effect counts the runs). Screenshots of every page go to artifacts/console/.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from handrail.api.auth import digest
from support.alertmanager import ServeProcess
from support.api import TOKENS
from support.browser import chromium, contrast_failures, screenshot
from support.prometheus import MetricsExporter, PrometheusServer

RUNBOOK = """\
id: checkout-broken
name: Checkout Broken
description: the checkout state file says broken
severity: P1
service: checkout
triggers: [{{type: manual}}]
diagnostics:
  - id: state
    name: Checkout State
    description: reads the state file
    type: shell_command
    config: {{command: "cat {state}"}}
    interpret: {{critical: "lines[0] == 'broken'", healthy: "lines[0] == 'ok'"}}
  - id: latency
    name: Checkout Latency
    description: p99 latency over the last minute
    type: prometheus_query
    config: {{query: "checkout_latency_seconds", range: 1m, step: 1s}}
    interpret: {{critical: "value > 2", warning: "value > 1", healthy: "value <= 1"}}
decisionTree:
  - condition: "diagnostics.state.status == 'critical'"
    then: [fix]
    description: the state file says broken
  - condition: "diagnostics.latency.status == 'critical' && diagnostics.state.status == 'healthy'"
    then: [by_hand]
    description: slow, but not broken
  - otherwise: true
    then: [page]
    description: anything else
remediations:
  - id: fix
    name: Rewrite The State File
    description: writes ok into the state file
    type: automated
    requiresApproval: true
    action:
      type: run_script
      config:
        command: [/bin/sh, -c, "echo run >> {effects}; echo ok > {state}"]
    verify: {{after: 0.2s, diagnostics: [state, latency]}}
  - id: by_hand
    name: Look At The Latency
    description: a person looks
    type: manual
    instructions: "Open the latency dashboard and find the slow dependency."
  - id: page
    name: Page The Owner
    description: page someone
    type: escalate
escalation:
  primary: "#checkout"
  escalateAfterMinutes: 30
"""


@dataclass
class World:
    serve: ServeProcess
    state: Path
    effects: Path
    exporter: MetricsExporter

    def trigger(self) -> str:
        self.state.write_text("broken\n")
        answer = httpx.post(
            f"{self.serve.url}/api/v1/incidents",
            json={"runbookId": "checkout-broken", "context": {"labels": {"env": "prod"}, "dedupKey": uuid.uuid4().hex}},
            headers={"authorization": f"Bearer {TOKENS['responder']}"},
            timeout=10,
        )
        assert answer.status_code == 202, answer.text
        return str(answer.json()["incident"]["id"])

    def incident(self, incident_id: str) -> dict[str, object]:
        answer = httpx.get(
            f"{self.serve.url}/api/v1/incidents/{incident_id}",
            headers={"authorization": f"Bearer {TOKENS['viewer']}"},
            timeout=10,
        )
        answer.raise_for_status()
        return dict(answer.json())

    def wait_state(self, incident_id: str, state: str, *, timeout: float = 30) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.incident(incident_id)
            if found["state"] == state:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{incident_id} is {found['state']}, not {state}:\n{self.serve.log()}")
            time.sleep(0.2)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("console")
    runbooks = root / "runbooks"
    runbooks.mkdir()
    state, effects = root / "state", root / "effects"
    (runbooks / "checkout-broken.yaml").write_text(RUNBOOK.format(state=state, effects=effects))
    tokens = "".join(
        f"    - {{name: {role}-user, role: {role}, sha256: {digest(token)}}}\n" for role, token in TOKENS.items()
    )
    with MetricsExporter() as exporter, PrometheusServer([exporter.address], workdir=root) as prometheus:
        (root / "handrail.yaml").write_text(
            f"runbooks: '{runbooks}'\n"
            f"database: 'sqlite:///{root / 'handrail.db'}'\n"
            f"prometheus: {{default: {{url: '{prometheus.url}'}}}}\n"
            "engine: {minuteSeconds: 1}\n"
            "safety: {cooldownMinutes: 0, rateLimit: {actions: 100, perMinutes: 1}}\n"  # several fixes in a row
            f"api:\n  tokens:\n{tokens}"
        )
        stop = threading.Event()
        wave = threading.Thread(target=_latency_wave, args=(exporter, stop), daemon=True)
        wave.start()
        try:
            prometheus.wait_for("count_over_time(checkout_latency_seconds[1m]) >= 4", what="a few latency samples")
            with ServeProcess(root / "handrail.yaml") as serve:
                yield World(serve, state, effects, exporter)
        finally:
            stop.set()
            wave.join()


def _latency_wave(exporter: MetricsExporter, stop: threading.Event) -> None:
    """Latency that moves (always healthy), so the range diagnostic's sparkline has a shape."""
    for value in itertools.cycle((0.3, 0.6, 0.9, 0.5)):
        exporter.set("checkout_latency_seconds", value)
        if stop.wait(0.7):
            return


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as found:
        yield found


def _logged_in(browser: Browser, world: World, role: str, **options: object) -> tuple[BrowserContext, Page]:
    context = browser.new_context(base_url=world.serve.url, accept_downloads=True, **options)  # type: ignore[arg-type]
    page = context.new_page()
    page.goto("/")
    expect(page).to_have_url(f"{world.serve.url}/login?next=/")
    page.fill("#token", TOKENS[role])
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Incidents")
    return context, page


def test_login_refuses_a_wrong_token_and_sets_an_httponly_samesite_cookie(browser: Browser, world: World) -> None:
    context = browser.new_context(base_url=world.serve.url)
    page = context.new_page()
    page.goto("/runbooks")
    expect(page).to_have_url(f"{world.serve.url}/login?next=/runbooks")
    screenshot(page, "01-login")
    page.fill("#token", "not-a-token")
    page.click("button[type=submit]")
    expect(page.locator("#error-message")).to_have_text("That token is not valid.")
    assert context.cookies() == []
    page.fill("#token", TOKENS["responder"])
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{world.serve.url}/runbooks")  # back where the person was going
    (cookie,) = context.cookies()
    assert cookie["name"] == "handrail_session"
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert TOKENS["responder"] not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # HttpOnly: the page's scripts cannot read it
    context.close()


def test_approving_in_the_browser_runs_the_action_once_and_the_timeline_updates_live(
    browser: Browser, world: World
) -> None:
    incident_id = world.trigger()
    world.wait_state(incident_id, "awaiting_approval")
    context, page = _logged_in(browser, world, "approver")
    expect(page.locator(f"tr[data-incident='{incident_id}']")).to_contain_text("awaiting approval")
    screenshot(page, "02-incidents")
    page.click(f"tr[data-incident='{incident_id}'] a >> nth=0")
    expect(page.locator("h1")).to_have_text("Checkout Broken")

    # The evidence: both diagnostics with their status, and the Prometheus diagnostic's hour before
    # (60 engine minutes: a minute here) recorded at diagnosis and drawn as a chart: the series
    # labelled, interpret's thresholds (critical `value > 2`, warning `value > 1`), the incident opened.
    expect(page.locator("li[data-diagnostic='state'] .status")).to_have_text("critical")
    latency = page.locator("li[data-diagnostic='latency']")
    expect(latency.locator(".status")).to_have_text("healthy")
    chart = latency.locator("figure[data-chart='diagnosis-latency'] svg.evidence")
    expect(chart).to_have_attribute("aria-label", "Checkout Latency: the hour before diagnosis")
    series = chart.locator("path.series")
    expect(series).to_have_count(1)
    assert int(series.get_attribute("data-points") or 0) >= 4  # the recorded samples, drawn
    assert (series.get_attribute("d") or "").count("L") >= 3
    expect(chart.locator("g.legend")).to_contain_text("checkout_latency_seconds")
    expect(chart.locator("g.threshold.critical")).to_have_attribute("data-value", "2")
    expect(chart.locator("g.threshold.warning")).to_have_attribute("data-value", "1")
    expect(chart.locator("g.threshold.critical title")).to_have_text("critical: value > 2")
    expect(chart.locator("g.marker.opened")).to_have_count(1)
    expect(chart.locator("g.marker.opened title")).to_have_text("incident opened")
    assert chart.bounding_box() is not None  # drawn, not only in the DOM
    # The path taken: the fired decision, the edges into and out of it, the planned remediation.
    expect(page.locator("svg.tree g.decision.fired")).to_have_count(1)
    expect(page.locator("svg.tree g.decision.fired title")).to_contain_text("the state file says broken")
    expect(page.locator("svg.tree g#remediation-fix")).to_have_class("node remediation planned")
    expect(page.locator("svg.tree g#diag-state")).to_have_class("node diagnostic critical")
    assert page.locator("svg.tree path.edge.taken").count() == 2  # state → decision → fix
    # The card shows exactly what approval will run.
    card = page.locator("article[data-remediation='fix']")
    expect(card.locator("pre.dry-run")).to_contain_text(f"echo run >> {world.effects}")
    expect(card.locator(".remediation-status")).to_have_text("waiting")
    screenshot(page, "03-incident-awaiting-approval")

    page.evaluate("window.__stillTheSamePage = true")
    card.locator("button[data-verb='approve']").click()
    timeline = page.locator("#timeline")
    expect(timeline.locator("li[data-kind='decision_by_person']")).to_contain_text("approver-user", timeout=15_000)
    expect(page.locator("#incident-state")).to_have_text("resolved", timeout=30_000)
    expect(timeline.locator("li[data-kind='verification']")).to_contain_text("verification: healthy")
    expect(card.locator(".remediation-status")).to_have_text("succeeded")
    assert page.evaluate("window.__stillTheSamePage") is True  # updated in place, never reloaded
    assert world.effects.read_text().splitlines() == ["run"]  # the action ran exactly once
    # The verification drew the same chart, now with the moment the action ran.
    verification = page.locator("[data-region='verification'] .verification")
    expect(verification).to_have_count(1)
    expect(verification.locator(".verdict")).to_have_text("healthy")
    checked = verification.locator("figure[data-chart='verification-1-latency'] svg.evidence")
    expect(checked.locator("path.series")).to_have_count(1)
    expect(checked.locator("g.threshold.critical")).to_have_attribute("data-value", "2")
    expect(checked.locator("g.marker.action title")).to_have_text("fix (succeeded)")
    screenshot(page, "04-incident-resolved")

    with page.expect_download() as download:
        page.click("#download-report")
    report = Path(download.value.path()).read_text()
    assert download.value.suggested_filename == f"{incident_id}-report.md"
    assert report.startswith(f"# Post-incident report: Checkout Broken ({incident_id})")
    assert "| Outcome | resolved |" in report
    assert "approver-user" in report

    # The report with its charts, as `handrail report --out` writes it, in one zip.
    with page.expect_download() as download:
        page.click("#download-report-zip")
    assert download.value.suggested_filename == f"{incident_id}-report.zip"
    with zipfile.ZipFile(download.value.path()) as archive:
        names = set(archive.namelist())
        folder = f"{incident_id}-report/"
        assert names == {
            f"{folder}report.md",
            f"{folder}charts/diagnosis-latency.svg",
            f"{folder}charts/verification-1-latency.svg",
        }
        zipped = archive.read(f"{folder}report.md").decode()
        assert "![Checkout Latency at diagnosis](charts/diagnosis-latency.svg)" in zipped
        drawn = ElementTree.fromstring(archive.read(f"{folder}charts/diagnosis-latency.svg"))
        assert drawn.tag == "{http://www.w3.org/2000/svg}svg"
    context.close()


def test_a_viewer_sees_no_approve_button_and_a_forged_post_is_refused(browser: Browser, world: World) -> None:
    incident_id = world.trigger()
    world.wait_state(incident_id, "awaiting_approval")
    context, page = _logged_in(browser, world, "viewer")
    page.goto(f"/incidents/{incident_id}")
    expect(page.locator("article[data-remediation='fix']")).to_be_visible()
    expect(page.locator("button[data-verb='approve']")).to_have_count(0)
    expect(page.locator("#cannot-decide")).to_contain_text("approver role")
    expect(page.locator("form[action$='/note']")).to_have_count(0)
    csrf = page.locator("meta[name='csrf-token']").get_attribute("content")
    form = {"remediation": "fix", "kind": "approve", "csrf": csrf or ""}
    # The viewer forging the approval with its own valid session and CSRF token: the role is missing.
    forged = context.request.post(f"/incidents/{incident_id}/decide", form=form, max_redirects=0)
    assert forged.status == 403
    assert "needs the approver role" in forged.text()
    context.close()

    # An approver's browser made to post from another site: no CSRF token, or a foreign Origin.
    context, page = _logged_in(browser, world, "approver")
    no_token = context.request.post(
        f"/incidents/{incident_id}/decide", form={"remediation": "fix", "kind": "approve"}, max_redirects=0
    )
    assert no_token.status == 403
    page.goto(f"/incidents/{incident_id}")
    csrf = page.locator("meta[name='csrf-token']").get_attribute("content") or ""
    foreign = context.request.post(
        f"/incidents/{incident_id}/decide",
        form={"remediation": "fix", "kind": "approve", "csrf": csrf},
        headers={"origin": "https://evil.example"},
        max_redirects=0,
    )
    assert foreign.status == 403
    assert world.incident(incident_id)["state"] == "awaiting_approval"  # nothing was approved
    assert not any(e["kind"] == "decision_by_person" for e in world.incident(incident_id)["timeline"])  # type: ignore[union-attr]

    page.locator("button[data-verb='reject']").click()
    expect(page.locator("#incident-state")).not_to_have_text("awaiting approval", timeout=15_000)
    context.close()


def test_the_runbook_page_draws_the_tree_and_runs_the_diagnostics_on_demand(browser: Browser, world: World) -> None:
    world.state.write_text("ok\n")
    context, page = _logged_in(browser, world, "responder")
    page.goto("/runbooks")
    expect(page.locator("tr[data-runbook='checkout-broken'] .lint")).to_have_text("ok")
    screenshot(page, "05-runbooks")
    page.click("tr[data-runbook='checkout-broken'] a")
    expect(page.locator("svg.tree g.node")).to_have_count(8)  # 2 diagnostics, 3 decisions, 3 remediations
    expect(page.locator("svg.tree g.fired")).to_have_count(0)  # nothing highlighted outside an incident
    page.fill("#labels", "env=prod")
    page.click("#run-now")
    result = page.locator("#run-result")
    expect(result).to_contain_text("healthy")
    expect(result).to_contain_text("would plan: page")
    expect(result.locator("svg.sparkline")).to_have_count(1)
    screenshot(page, "06-runbook")
    context.close()


def test_analytics_counts_the_incidents_with_charts(browser: Browser, world: World) -> None:
    context, page = _logged_in(browser, world, "viewer")
    page.goto("/analytics")
    row = page.locator("#per-runbook tr[data-runbook='checkout-broken']")
    expect(row).to_be_visible()
    incidents = int(row.locator("td").nth(1).inner_text())
    assert incidents >= 2
    expect(page.locator("svg.chart")).to_have_count(3)
    expect(page.locator("#decisions")).to_contain_text("the state file says broken")
    screenshot(page, "07-analytics")
    context.close()


_RESTART_ARRIVALS = """(moment) => {
  const rows = [...document.querySelectorAll("#timeline li.new")];
  for (const li of rows) {
    li.classList.remove("new");
    void li.offsetWidth;  // let the browser see the row without the class, so the animation starts again
    li.classList.add("new");
    li.getAnimations().forEach((animation) => { animation.pause(); animation.currentTime = moment; });
  }
  return rows.map((li) => getComputedStyle(li).backgroundColor);
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_all_text_meets_wcag_aa_contrast_newly_arrived_timeline_rows_included(
    browser: Browser, world: World, scheme: str
) -> None:
    incident_id = world.trigger()
    world.wait_state(incident_id, "awaiting_approval")
    context, page = _logged_in(browser, world, "approver", color_scheme=scheme)
    assert contrast_failures(page) == []  # the incidents list
    page.goto(f"/incidents/{incident_id}")
    expect(page.locator("button[data-verb='approve']")).to_be_visible()
    assert contrast_failures(page) == []  # facts, diagnostics, the tree, the cards and their buttons, the timeline
    page.locator("button[data-verb='approve']").click()
    expect(page.locator("#incident-state")).to_have_text("resolved", timeout=30_000)
    arrived = page.locator("#timeline li.new")
    expect(arrived.first).to_be_visible()  # the rows that came in while the page was open are marked
    assert contrast_failures(page) == []
    # The highlight as it starts and as it fades: every arrived row held at each moment of its animation.
    for moment in (0, 1000, 2000, 3000):
        backgrounds = page.evaluate(_RESTART_ARRIVALS, moment)
        if moment == 0:
            assert backgrounds
            assert all(b not in ("rgba(0, 0, 0, 0)", "transparent") for b in backgrounds)
            screenshot(page, f"09-arrived-rows-{scheme}")
        assert contrast_failures(page, "#timeline") == [], f"{moment} ms into the highlight"
    context.close()


def test_the_incident_page_fits_a_phone_screen(browser: Browser, world: World) -> None:
    incident_id = world.trigger()
    world.wait_state(incident_id, "awaiting_approval")
    context, page = _logged_in(browser, world, "approver", viewport={"width": 390, "height": 844}, is_mobile=True)
    page.goto(f"/incidents/{incident_id}")
    expect(page.locator("button[data-verb='approve']")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow}px wider than the phone"
    screenshot(page, "08-incident-phone")
    page.locator("button[data-verb='approve']").click()
    expect(page.locator("#incident-state")).to_have_text("resolved", timeout=30_000)
    context.close()
