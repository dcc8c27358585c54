"""Benchmark what ending a run's escaped descendants costs per command (#13).

    .venv/bin/python bench/process.py            # prints a Markdown report

`run_process` ends every process carrying the run's marker (`process._end_marked`: one read of
/proc/<pid>/environ per process on the machine). Figures, each a median over many runs of
`true`: the wall and CPU time of a whole `run_process` with the sweep and, in the same run, with it
switched off (the baseline); the sweep alone; and the sweep alone with 500 more (sleeping)
processes on the machine, since its cost grows with the process table.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import time
from collections.abc import Callable

from machine import machine

import handrail.process as process_module
from handrail.process import run_process

ROUNDS = 200
SWEEPS = 300
EXTRA_PROCESSES = 500


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def _runs(rounds: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Median wall and CPU (this process) milliseconds of one `run_process(["true"])`, with the sweep
    and without it, taken in turns so that the machine's other load falls on both alike."""
    sweep: Callable[[bytes, tuple[int, int] | None], None] = process_module._end_marked
    samples: dict[bool, tuple[list[float], list[float]]] = {True: ([], []), False: ([], [])}
    for number in range(2 * rounds):
        swept = number % 2 == 0
        process_module._end_marked = sweep if swept else (lambda marker, since: None)  # type: ignore[assignment]
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            await run_process(["true"], timeout=10)
            samples[swept][0].append(time.perf_counter() - wall)
            samples[swept][1].append(time.process_time() - cpu)
        finally:
            process_module._end_marked = sweep  # type: ignore[assignment]
    return (
        (_median_ms(samples[True][0]), _median_ms(samples[True][1])),
        (_median_ms(samples[False][0]), _median_ms(samples[False][1])),
    )


def _sweeps(rounds: int, *, whole_table: bool) -> float:
    """Median milliseconds of one sweep for a marker nothing carries (of every process, or of those born since)."""
    times = []
    for number in range(rounds):
        since = None if whole_table else process_module._pid_clock()
        started = time.perf_counter()
        process_module._end_marked(f"HANDRAIL_STEP=bench{number}".encode(), since)
        times.append(time.perf_counter() - started)
    return _median_ms(times)


def _processes() -> int:
    return sum(name.isdigit() for name in os.listdir("/proc"))


async def main() -> None:
    await _runs(20)  # warm up
    (with_wall, with_cpu), (without_wall, without_cpu) = await _runs(ROUNDS)
    table = _processes()
    alone, whole = _sweeps(SWEEPS, whole_table=False), _sweeps(SWEEPS, whole_table=True)
    sleepers = [subprocess.Popen(["/bin/sleep", "600"]) for _ in range(EXTRA_PROCESSES)]
    try:
        crowded_table = _processes()
        crowded, crowded_whole = _sweeps(SWEEPS, whole_table=False), _sweeps(SWEEPS // 3, whole_table=True)
    finally:
        for sleeper in sleepers:
            sleeper.kill()
        for sleeper in sleepers:
            sleeper.wait()
    print(f"Machine: {machine()}\n")
    print("| figure | value |\n| --- | --- |")
    rows = [
        (f"`run_process(['true'])` with the sweep, wall / CPU (median of {ROUNDS})", with_wall, with_cpu),
        ("baseline: the same without the sweep, wall / CPU", without_wall, without_cpu),
    ]
    for figure, wall, cpu in rows:
        print(f"| {figure} | {wall:.2f} / {cpu:.2f} ms |")
    figure = f"the sweep alone, {table} processes on the machine: born since / all (median)"
    print(f"| {figure} | {alone:.2f} / {whole:.2f} ms |")
    print(f"| the same, {crowded_table} processes on the machine | {crowded:.2f} / {crowded_whole:.2f} ms |")


if __name__ == "__main__":
    asyncio.run(main())
