"""The composition root: what the settings turn into."""

from __future__ import annotations

import asyncio
from pathlib import Path

from handrail.composition import create_runtime, create_worker, open_store
from handrail.settings import load_settings


async def test_assessment_concurrency_bounds_the_assessments_a_worker_runs_at_once(tmp_path: Path) -> None:
    config = tmp_path / "handrail.yaml"
    config.write_text(f"database: 'sqlite:///{tmp_path / 'h.db'}'\nengine: {{assessmentConcurrency: 2}}\n")
    settings = load_settings(config, environ={})
    runtime = create_runtime(settings, open_store(settings))
    slots = runtime.assessment_slots
    entered: list[int] = []

    async def assessment(number: int) -> None:
        async with slots:
            entered.append(number)
            await asyncio.sleep(0.05)

    waiting = asyncio.gather(*(assessment(n) for n in range(3)))
    await asyncio.sleep(0.02)
    assert len(entered) == 2  # the third waits for a slot
    await waiting
    assert sorted(entered) == [0, 1, 2]
    runtime.store.engine.dispose()


def test_queue_poll_seconds_sets_how_often_a_worker_looks_for_new_incidents(tmp_path: Path) -> None:
    config = tmp_path / "handrail.yaml"
    config.write_text(f"database: 'sqlite:///{tmp_path / 'h.db'}'\nengine: {{queuePollSeconds: 0.05}}\n")
    worker = create_worker(load_settings(config, environ={}))
    assert worker._polling_interval == 0.05
    worker.runtime.store.engine.dispose()
    config.write_text(f"database: 'sqlite:///{tmp_path / 'h.db'}'\n")
    default = create_worker(load_settings(config, environ={}))
    assert default._polling_interval == 0.1  # was 0.5: a fifth of the wait before an idle engine starts an incident
    default.runtime.store.engine.dispose()
