"""The composition root: what the settings turn into."""

from __future__ import annotations

import asyncio
from pathlib import Path

from handrail.composition import create_runtime, open_store
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
