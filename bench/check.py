"""Benchmark `handrail check`: the starter library against the demo's Prometheus and PostgreSQL, wall time.

    .venv/bin/python bench/check.py [RUNS]     # prints a Markdown report (default 5 runs of each)

One demo world (`handrail.demo.world.DemoWorld`: the throwaway PostgreSQL, the payment service,
Prometheus with the demo's alerting rules, Alertmanager and `handrail serve`, as `handrail demo`
starts them) and the settings it writes for `handrail serve`. Measured:

- `handrail check --config <demo settings>` as a process over the starter library (examples/runbooks):
  wall time, Python's start and imports included;
- the check alone (`check_paths` in this process, fresh checkers each run) over the starter library and
  over 8 copies of it (48 runbooks under their own ids), to show how it grows with the catalog.

The starter library names systems the demo does not have (Kubernetes, Loki, hosts under example.com, a
`cmctl` program), so the findings are not zero: the report counts them by code.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from machine import machine

from handrail.check import CheckResult, check_paths, create_checkers
from handrail.demo.world import DemoWorld
from handrail.settings import load_settings

ROOT = Path(__file__).parents[1]
LIBRARY = ROOT / "examples" / "runbooks"
RUNS = 5
COPIES = 8


async def _check_once(config: Path, folder: Path) -> tuple[float, list[CheckResult]]:
    checkers = create_checkers(load_settings(config, environ={}))
    started = time.perf_counter()
    try:
        results = await check_paths([folder], checkers)
    finally:
        await checkers.aclose()
    return time.perf_counter() - started, results


def _copies(target: Path) -> Path:
    for number in range(COPIES):
        for path in LIBRARY.glob("*.yaml"):
            if path.name.endswith(".test.yaml"):
                continue
            text = path.read_text()
            runbook_id = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("id:"))
            (target / f"{runbook_id}-{number}.yaml").write_text(
                text.replace(f"id: {runbook_id}", f"id: {runbook_id}-{number}", 1)
            )
    return target


def _summary(seconds: list[float]) -> str:
    return f"median {statistics.median(seconds):.2f} s (min {min(seconds):.2f}, max {max(seconds):.2f})"


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else RUNS
    print(f"Machine: {machine()}\n")
    with DemoWorld(runbooks=LIBRARY) as world:
        assert world.state is not None
        config = Path(world.state.root) / "handrail.yaml"
        process: list[float] = []
        for _ in range(runs):
            started = time.perf_counter()
            done = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
                [sys.executable, "-m", "handrail", "check", "--config", str(config), str(LIBRARY)],
                capture_output=True,
                text=True,
                env=os.environ,
                check=False,
            )
            process.append(time.perf_counter() - started)
        findings = Counter(line.split(": ")[1].split()[0] for line in done.stdout.splitlines() if ": HR" in line)
        alone = [asyncio.run(_check_once(config, LIBRARY))[0] for _ in range(runs)]
        many = Path(tempfile.mkdtemp(prefix="handrail-check-bench-"))
        try:
            _copies(many)
            timed = [asyncio.run(_check_once(config, many)) for _ in range(runs)]
        finally:
            shutil.rmtree(many, ignore_errors=True)
        files = len(timed[-1][1])
    print("| what | runbooks | wall time |")
    print("| --- | --- | --- |")
    print(f"| `handrail check` (a process) on the starter library | 6 | {_summary(process)} |")
    print(f"| the check alone, starter library | 6 | {_summary(alone)} |")
    print(f"| the check alone, {COPIES} copies of the library | {files} | {_summary([t for t, _ in timed])} |")
    print(f"\nFindings on the starter library against the demo (exit {done.returncode}): ", end="")
    print(", ".join(f"{code} × {count}" for code, count in sorted(findings.items())) or "none")


if __name__ == "__main__":
    main()
