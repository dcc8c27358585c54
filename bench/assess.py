"""Benchmark the assessment: parallel fan-out and the engine's own overhead.

    .venv/bin/python bench/assess.py            # prints a Markdown report

1. Fan-out: 20 http_check diagnostics against a local endpoint that answers after 200 ms.
   Figure: wall time of the whole assessment / the slowest step's own duration (goal <= 1.05),
   next to a baseline measured in the same run: 20 bare concurrent httpx requests.
2. Overhead: a 1-diagnostic runbook against an instant endpoint, many times over.
   Figure: assessment wall time minus the probe's own duration (the engine's bookkeeping),
   and the same for an in-process probe that does no I/O at all.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from machine import machine

from handrail.diagnostics.base import Observation, ProbeContext
from handrail.diagnostics.http_check import HttpCheckProbe
from handrail.engine import assess
from handrail.runbook.model import Runbook

SLOW_SECONDS = 0.2
FAN_OUT = 20
FAN_OUT_ROUNDS = 10
OVERHEAD_ROUNDS = 300


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; don't wait for delayed ACKs

    def do_GET(self) -> None:
        if self.path.startswith("/slow"):
            time.sleep(SLOW_SECONDS)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.request_queue_size = 128
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def runbook(urls: list[str]) -> Runbook:
    diagnostics = [
        {
            "id": f"d{i}",
            "name": f"Endpoint {i}",
            "description": "",
            "type": "http_check",
            "config": {"urls": [{"name": f"e{i}", "url": url}]},
            "timeout": 5,
            "interpret": {"critical": "!all_healthy", "healthy": "all_healthy"},
        }
        for i, url in enumerate(urls)
    ]
    return Runbook.model_validate(
        {
            "id": "bench",
            "name": "Bench",
            "description": "",
            "severity": "P3",
            "service": "bench",
            "triggers": [{"type": "manual"}],
            "diagnostics": diagnostics,
            "decisionTree": [{"condition": "diagnostics.d0.status == 'critical'", "then": ["page"], "description": ""}],
            "remediations": [{"id": "page", "name": "Page", "description": "", "type": "escalate"}],
            "escalation": {"primary": "#bench"},
        }
    )


class InstantProbe:
    """An http_check-shaped probe that does no I/O: what is left is the engine's own cost."""

    async def observe(self, params: Any, context: ProbeContext) -> Observation:
        return Observation({"all_healthy": True}, "ok")

    async def aclose(self) -> None:
        return None


async def fan_out(base: str) -> dict[str, float]:
    book = runbook([f"{base}/slow?{i}" for i in range(FAN_OUT)])
    ratios, walls, baselines = [], [], []
    probe = HttpCheckProbe()
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=100)) as client:
        for _ in range(FAN_OUT_ROUNDS):
            started = time.perf_counter()
            result = await assess(book, probes={"http_check": probe})
            wall = time.perf_counter() - started
            slowest = max(r.duration_ms for r in result.results) / 1000
            assert all(r.status.value == "healthy" for r in result.results), result.results
            ratios.append(wall / slowest)
            walls.append(wall)
            started = time.perf_counter()
            await asyncio.gather(*(client.get(f"{base}/slow?{i}") for i in range(FAN_OUT)))
            baselines.append(time.perf_counter() - started)
    await probe.aclose()
    return {
        "ratio_median": statistics.median(ratios),
        "ratio_max": max(ratios),
        "wall_median": statistics.median(walls),
        "baseline_median": statistics.median(baselines),
    }


async def overhead(base: str) -> dict[str, float]:
    book = runbook([f"{base}/fast"])
    probe = HttpCheckProbe()
    await assess(book, probes={"http_check": probe})  # warm up: connection, parser caches
    engine_ms, probe_ms = [], []
    for _ in range(OVERHEAD_ROUNDS):
        started = time.perf_counter()
        result = await assess(book, probes={"http_check": probe})
        wall_ms = (time.perf_counter() - started) * 1000
        engine_ms.append(wall_ms - result.results[0].duration_ms)
        probe_ms.append(result.results[0].duration_ms)
    await probe.aclose()
    pure = []
    instant = {"http_check": InstantProbe()}
    for _ in range(OVERHEAD_ROUNDS):
        started = time.perf_counter()
        await assess(book, probes=instant)  # type: ignore[dict-item]
        pure.append((time.perf_counter() - started) * 1000)
    async with httpx.AsyncClient() as client:
        await client.get(f"{base}/fast")
        bare = []
        for _ in range(OVERHEAD_ROUNDS):
            started = time.perf_counter()
            await client.get(f"{base}/fast")
            bare.append((time.perf_counter() - started) * 1000)
    return {
        "engine_ms_median": statistics.median(engine_ms),
        "engine_ms_p95": statistics.quantiles(engine_ms, n=20)[-1],
        "probe_ms_median": statistics.median(probe_ms),
        "pure_ms_median": statistics.median(pure),
        "pure_ms_p95": statistics.quantiles(pure, n=20)[-1],
        "bare_get_ms_median": statistics.median(bare),
    }


async def main() -> None:
    with endpoint() as base:
        spread = await fan_out(base)
        cost = await overhead(base)
    print(f"Machine: {machine()}\n")
    print("| figure | value |")
    print("| --- | --- |")
    print(
        f"| fan-out: {FAN_OUT} diagnostics × {SLOW_SECONDS * 1000:.0f} ms, wall / slowest step (median of "
        f"{FAN_OUT_ROUNDS}) | {spread['ratio_median']:.3f} (worst {spread['ratio_max']:.3f}) |"
    )
    print(f"| fan-out: assessment wall time (median) | {spread['wall_median'] * 1000:.0f} ms |")
    print(f"| baseline: {FAN_OUT} bare concurrent httpx GETs (median) | {spread['baseline_median'] * 1000:.0f} ms |")
    print(f"| fan-out: assessment / baseline | {spread['wall_median'] / spread['baseline_median']:.3f} |")
    print(
        f"| overhead: 1 http_check, wall − probe time (median / p95 of {OVERHEAD_ROUNDS}) | "
        f"{cost['engine_ms_median']:.2f} / {cost['engine_ms_p95']:.2f} ms |"
    )
    print(f"| overhead: the probe's own time (median) | {cost['probe_ms_median']:.2f} ms |")
    print(f"| baseline: one bare httpx GET on a kept-alive client (median) | {cost['bare_get_ms_median']:.2f} ms |")
    print(
        f"| overhead: 1 diagnostic with a no-I/O probe, whole assessment (median / p95) | "
        f"{cost['pure_ms_median']:.2f} / {cost['pure_ms_p95']:.2f} ms |"
    )


if __name__ == "__main__":
    asyncio.run(main())
