"""Benchmark the demo: from fault injection to resolution, split into detection, Handrail's own time and verification.

    .venv/bin/python bench/demo.py [RUNS]      # prints a Markdown report (default 5 runs, ~35 s each)

One demo world (`handrail.demo.world.DemoWorld`: a throwaway PostgreSQL, the payment service,
Prometheus, Alertmanager and `handrail serve`, exactly what `handrail demo` starts). Each run injects
`db-pool-exhaustion` and follows the incident through the API until it resolves; runs are spaced so
the previous alert has resolved and the cooldown has passed. From the timestamps of Prometheus
(`activeAt` of the alert), Handrail's timeline and action record:

- detection (Prometheus + Alertmanager): injection → the alert reaches Handrail's webhook, split into
  injection → Prometheus sees the rule hold (scrape + rule evaluation, 1 s each), → firing (`for: 2s`),
  → Handrail receives it (Alertmanager's group wait of 1 s and the webhook);
- Handrail's own time: alert received → remediation started (incident opened, workflow enqueued and
  picked up, 4 diagnostics, decision, safety rails, the action claimed), next to its baseline in the
  same run: the slowest of the incident's diagnostics (they run in parallel);
- the remediation itself (`kill_idle_connections` on PostgreSQL);
- verification: remediation finished → resolved, next to its baseline, the runbook's `verify.after`
  (20 s of waiting before the check).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from machine import machine

from handrail.demo.world import DemoState, DemoWorld, inject_fault

ROOT = Path(__file__).parents[1]
RUNS = 5
FAULT = "db-pool-exhaustion"
RUNBOOK = "database-connection-exhaustion"
VERIFY_AFTER = 20.0
TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class Run:
    injected: float
    rule_active: float
    firing: float
    received: float
    workflow_started: float
    planned: float
    remediation_started: float
    remediation_finished: float
    resolved: float
    slowest_diagnostic: float
    terminated: str

    @property
    def detection(self) -> float:
        return self.received - self.injected

    @property
    def handrail(self) -> float:
        return self.remediation_started - self.received

    @property
    def verification(self) -> float:
        return self.resolved - self.remediation_finished

    @property
    def total(self) -> float:
        return self.resolved - self.injected


def _get(state: DemoState, path: str, **params: Any) -> Any:
    answer = httpx.get(
        f"{state.api_url}/api/v1{path}",
        params=params,
        headers={"Authorization": f"Bearer {state.admin_token}"},
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()


def _alerts(state: DemoState) -> list[dict[str, Any]]:
    return list(httpx.get(f"{state.prometheus_url}/api/v1/alerts", timeout=10).json()["data"]["alerts"])


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def one_run(state: DemoState) -> Run:
    deadline = time.monotonic() + TIMEOUT
    while _alerts(state) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(6)  # past the cooldown (one runbook minute of 5 s) and a few scrapes of normal traffic
    before = {i["id"] for i in _get(state, "/incidents", limit=100)["incidents"]}
    injected = time.time()
    inject_fault(state, FAULT)
    rule_active = firing = None
    incident: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        for alert in _alerts(state):
            if alert["labels"]["alertname"] == "PostgresTooManyConnections":
                rule_active = _epoch(alert["activeAt"])
                if alert["state"] == "firing" and firing is None:
                    firing = time.time()
        new = [i for i in _get(state, "/incidents", limit=100)["incidents"] if i["id"] not in before]
        if new:
            incident = _get(state, f"/incidents/{new[0]['id']}")
            if incident["state"] in ("resolved", "escalated", "failed"):
                break
        time.sleep(0.1)
    if incident is None or incident["state"] != "resolved" or rule_active is None or firing is None:
        raise SystemExit(f"the run did not resolve: {incident}")
    if incident["runbookId"] != RUNBOOK:
        raise SystemExit(f"the wrong runbook ran: {incident['runbookId']}")
    timeline = incident["timeline"]
    [action] = incident["actions"]
    resolved = next(e for e in timeline if e["message"] == "verified healthy after remediation")
    return Run(
        injected=injected,
        rule_active=rule_active,
        firing=min(firing, rule_active + 2.0 + 1.0),  # polled every 0.1 s: the first sighting bounds it
        received=_epoch(timeline[0]["at"]),
        workflow_started=_epoch(next(e for e in timeline if e["message"] == "collecting evidence")["at"]),
        planned=_epoch(next(e for e in timeline if e["kind"] == "plan")["at"]),
        remediation_started=_epoch(action["startedAt"]),
        remediation_finished=_epoch(action["finishedAt"]),
        resolved=_epoch(resolved["at"]),
        slowest_diagnostic=max(r["durationMs"] for r in incident["diagnosticResults"]) / 1000,
        terminated=str(action["message"]),
    )


def _row(name: str, values: list[float], baseline: str = "", ratio: str = "") -> str:
    median = statistics.median(values)
    return f"| {name} | {median:.2f} s | {min(values):.2f} / {max(values):.2f} s | {baseline} | {ratio} |"


def report(runs: list[Run], started: str, load: float) -> str:
    detection = [r.detection for r in runs]
    handrail = [r.handrail for r in runs]
    slowest = [r.slowest_diagnostic for r in runs]
    verification = [r.verification for r in runs]
    lines = [
        f"Machine: {machine()} — measured {started} (load average {load:.2f} at the start).",
        "",
        f"{len(runs)} runs of `{FAULT}` in one demo world; median, then min / max.",
        "",
        "| phase | median | min / max | baseline (median) | / baseline |",
        "| --- | --- | --- | --- | --- |",
        _row("injection → rule holds in Prometheus (scrape + evaluation)", [r.rule_active - r.injected for r in runs]),
        _row("→ alert firing (`for: 2s`)", [r.firing - r.rule_active for r in runs]),
        _row("→ received by Handrail (Alertmanager: group wait 1 s, webhook)", [r.received - r.firing for r in runs]),
        _row("**detection** (Prometheus + Alertmanager)", detection),
        _row(
            "**Handrail's own time** (alert received → remediation started)",
            handrail,
            f"slowest diagnostic {statistics.median(slowest) * 1000:.0f} ms",
            f"{statistics.median(handrail) / statistics.median(slowest):.1f}",
        ),
        _row(
            "  of which: alert received → the incident's workflow starts (queue)",
            [r.workflow_started - r.received for r in runs],
        ),
        _row("  of which: → diagnostics, decision and plan recorded", [r.planned - r.workflow_started for r in runs]),
        _row(
            "  of which: → the action starts (rails, claim, describe)",
            [r.remediation_started - r.planned for r in runs],
        ),
        _row("remediation (`kill_idle_connections`)", [r.remediation_finished - r.remediation_started for r in runs]),
        _row(
            "**verification** (remediation finished → resolved)",
            verification,
            f"`verify.after` {VERIFY_AFTER:g} s",
            f"{statistics.median(verification) / VERIFY_AFTER:.3f}",
        ),
        _row("**total** (injection → resolved)", [r.total for r in runs]),
        "",
        f"Every run: {', '.join(sorted({r.terminated for r in runs}))}.",
    ]
    return "\n".join(lines)


def main() -> None:
    runs_wanted = int(sys.argv[1]) if len(sys.argv) > 1 else RUNS
    started = datetime.now(UTC).strftime("%Y-%m-%d")
    load = os.getloadavg()[0]
    runs = []
    with DemoWorld(runbooks=ROOT / "examples" / "runbooks") as world:
        assert world.state is not None
        for index in range(runs_wanted):
            run = one_run(world.state)
            runs.append(run)
            print(f"run {index + 1}: {run.total:.1f} s", file=sys.stderr)
    print(report(runs, started, load))


if __name__ == "__main__":
    main()
