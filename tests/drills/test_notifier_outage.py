"""Drill: Slack and PagerDuty down for five (runbook) minutes while incidents run.

The stand-ins sit behind an `OutageProxy`: Slack answers 503, PagerDuty refuses connections. The
engine's `minuteSeconds` scales the outage to a few seconds. Incidents opened during the outage
must reach their end during it (delivery never holds an incident up), and once the stand-ins are
back every notification is delivered exactly once: each delivery job (a DBOS workflow per
notification and notifier, id `<incident>:<n>:<notifier>`) is matched to what the stand-in took.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from handrail.engine.notifications import DELIVER_WORKFLOW, NOTIFY_ATTEMPTS
from support.engine import EngineWorld, runbook
from support.outage import OutageProxy
from support.pagerduty import PagerDutyServer
from support.slack import SlackServer

pytestmark = pytest.mark.timeout(180)

MINUTE_SECONDS = 0.4
OUTAGE_MINUTES = 5
ROUTING_KEY = "r" * 32
CHANNEL = "#incidents-payment"
CHANNEL_ID = "C0PAYMENTS"
EXPECTED_JOBS = 13
"""Slack ten (five per incident: opened, the action's start and end, then the verification or the escalation,
and the resolution), PagerDuty three (the resolve of each, the trigger of the escalation)."""


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


@pytest.fixture
def pagerduty() -> Iterator[PagerDutyServer]:
    with PagerDutyServer() as server:
        yield server


def _books(root: Path) -> dict[str, str]:
    def targets(text: str) -> str:
        return text.replace('primary: "#test"', f'primary: "{CHANNEL}"').replace(
            'secondary: "#test-escalation"', 'secondary: "pagerduty:sre"'
        )

    fixed = targets(runbook("fixed", root))  # the action fixes it: resolved; Slack + PagerDuty hear it
    failing = targets(  # the action fails: escalated to PagerDuty
        runbook(
            "failing",
            root,
            # not `sh`, nor the same service: the safety rails' cooldown would block the other incident's action
            action_block="      type: run_script\n      config: {command: [/bin/false]}",
        ).replace("service: test-service", "service: other-service")
    )
    for name in ("fixed", "failing"):
        (root / f"{name}.state").write_text("broken\n")
    return {"fixed": fixed, "failing": failing}


def _deliveries(world: EngineWorld, incident_ids: list[str]) -> list[Any]:
    """Every delivery job to Slack or PagerDuty for these incidents."""
    jobs = world.service.client.list_workflows(
        name=DELIVER_WORKFLOW, workflow_id_prefix=[f"{i}:" for i in incident_ids]
    )
    return [job for job in jobs if job.workflow_id.rsplit(":", 1)[1] in ("slack", "pagerduty")]


def _all_delivered(jobs: list[Any]) -> bool:
    """Every job has finished, the person's resolution's two included (they start a moment later)."""
    return len(jobs) >= EXPECTED_JOBS and all(job.status == "SUCCESS" for job in jobs)


def _note(job: Any) -> dict[str, Any]:
    note: dict[str, Any] = job.input["args"][1]
    return note


def test_notifications_survive_a_five_minute_outage_without_holding_incidents_up(
    tmp_path: Path, slack: SlackServer, pagerduty: PagerDutyServer
) -> None:
    # A real five-minute outage fits inside the retry schedule (1 s, 2 s, 4 s ... apart): scaled, so does this one.
    assert sum(2.0**attempt for attempt in range(NOTIFY_ATTEMPTS - 1)) > OUTAGE_MINUTES * 60
    slack_port = httpx.URL(slack.api_url).port
    assert slack_port is not None
    with OutageProxy(slack_port) as slack_proxy, OutageProxy(pagerduty.port) as pagerduty_proxy:
        settings = (
            f"  slack:\n    botToken: {slack.token}\n    apiUrl: '{slack_proxy.url('/api/')}'\n    timeout: 2s\n"
            f"  pagerduty:\n    routingKeys: {{sre: '{ROUTING_KEY}'}}\n"
            f"    url: '{pagerduty_proxy.url('/v2/enqueue')}'\n    timeout: 2s\n"
        )
        world = EngineWorld.create(
            tmp_path,
            f"sqlite:///{tmp_path / 'h.db'}",
            runbooks=_books(tmp_path),
            minute_seconds=MINUTE_SECONDS,
            extra_settings=settings,
        )
        with world.worker() as worker:
            slack_proxy.down("503")
            pagerduty_proxy.down("refuse")
            outage_began = time.monotonic()
            outage_ends = time.time() + OUTAGE_MINUTES * MINUTE_SECONDS
            fixed = world.trigger("fixed")
            failing = world.trigger("failing")
            # The incidents run to their end while nothing reaches Slack or PagerDuty (on a slow machine the
            # outage lasts until they have: it is five minutes or more, never less).
            world.wait_state(fixed.id, "resolved")
            world.wait_state(failing.id, "escalated")
            asyncio.run(world.service.resolve(failing.id, actor="ops", reason="fixed by hand"))  # PagerDuty: resolve
            assert slack.calls == []
            assert pagerduty.requests == []
            time.sleep(max(0.0, outage_ends - time.time()))
            assert slack_proxy.answered_503 > 0
            back_up = time.time()
            slack_proxy.up()
            pagerduty_proxy.up()
            incident_ids = [fixed.id, failing.id]
            # A delivery retries with doubling waits (1, 2, 4 … s), so one that has failed for the whole outage may
            # sleep about as long again before its next try: on a loaded machine, where the incidents (and so the
            # outage) take longer, the catch-up does too. Wait that long, and 30 s more.
            deadline = time.monotonic() + (time.monotonic() - outage_began) + 30
            while not _all_delivered(jobs := _deliveries(world, incident_ids)):
                assert time.monotonic() < deadline, worker.log()
                time.sleep(0.2)

    # Both incidents ended during the outage: remediated and resolved, escalated and resolved by a person.
    ends = [asyncio.run(world.service.get(fixed.id)).closed_at, asyncio.run(world.service.get(failing.id)).escalated_at]
    ends.append(asyncio.run(world.service.get(failing.id)).closed_at)
    assert all(end is not None and end.timestamp() < back_up for end in ends)
    assert all(job.output is True for job in jobs)  # delivered, not given up
    kinds = Counter((_note(job)["incident_id"], _note(job)["kind"], job.workflow_id.rsplit(":", 1)[1]) for job in jobs)
    steps = ("action_started", "action_finished")
    assert kinds == Counter(
        {
            (fixed.id, "opened", "slack"): 1,
            **{(fixed.id, kind, "slack"): 1 for kind in steps},
            (fixed.id, "verification", "slack"): 1,
            (fixed.id, "resolved", "slack"): 1,
            (fixed.id, "resolved", "pagerduty"): 1,
            (failing.id, "opened", "slack"): 1,
            **{(failing.id, kind, "slack"): 1 for kind in steps},
            (failing.id, "escalated", "pagerduty"): 1,
            (failing.id, "escalation_sent", "slack"): 1,  # the channel's thread hears where it went
            (failing.id, "resolved", "slack"): 1,  # the person's resolution, announced
            (failing.id, "resolved", "pagerduty"): 1,
        }
    )
    # Each job says so on its incident's timeline, once.
    sent = Counter(
        (incident_id, e.message.split(":", 1)[0])
        for incident_id in incident_ids
        for e in world.events(incident_id, "notification")
        if not e.message.startswith("log:")
    )
    assert sent == Counter((i, notifier) for i, _, notifier in kinds.elements())
    assert not any("could not deliver" in e.message for i in incident_ids for e in world.events(i, "notification"))
    # PagerDuty took each event once (one per delivery job, nothing lost, nothing twice) and in order:
    # a `resolve` arriving before its `trigger` would leave the alert open, paging someone for nothing.
    assert Counter((e["dedup_key"], e["event_action"]) for e in pagerduty.events) == Counter(
        {(fixed.id, "resolve"): 1, (failing.id, "trigger"): 1, (failing.id, "resolve"): 1}
    )
    assert [e["event_action"] for e in pagerduty.events if e["dedup_key"] == failing.id] == ["trigger", "resolve"]
    assert all(r.status == 202 for r in pagerduty.requests)
    # Slack took each notification once: one message per incident, updated and answered in its thread
    # by the later ones, in the order they were sent, so the message ends showing the incident's last state.
    assert all(call.ok for call in slack.calls)
    messages = {i: [m for m in slack.top_level(CHANNEL_ID) if i in str(m.payload)] for i in incident_ids}
    assert [len(found) for found in messages.values()] == [1, 1]
    fixed_message, failing_message = messages[fixed.id][0], messages[failing.id][0]
    replies = [
        [reply["text"].split("*")[1] for reply in message.replies] for message in (fixed_message, failing_message)
    ]
    assert replies == [
        ["Action started", "Action finished", "Verification", "Resolved"],
        ["Action started", "Action finished", "Escalated", "Resolved"],
    ]
    assert fixed_message.payload["text"].startswith("✅ [P2] Fixed — Resolved")
    assert fixed_message.payload["blocks"][-1]["elements"][-1]["text"] == "handrail · resolved"
    assert failing_message.payload["blocks"][-1]["elements"][-1]["text"] == "handrail · resolved"
    assert len(slack.calls_to("chat.postMessage")) == 10  # two messages and four thread replies under each
    assert len(slack.calls_to("chat.update")) == 8
