"""slack_blocks: every part of the reference message, Slack's limits under giant inputs, reading notifications.

Every message built here is also checked by `block_problems`, the stand-in Slack's validator
(tests/support/slack.py), so "Slack would take it" is asserted, not assumed.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk.models.blocks import Block

from handrail.engine.messages import approval_text, incident_details, notification
from handrail.notify.base import Notification
from handrail.notify.slack import SlackNotifierConfig
from handrail.notify.slack_blocks import (
    APPROVE_ACTION_ID,
    MAX_BLOCKS,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    REJECT_ACTION_ID,
    ApprovalRequest,
    DiagnosticLine,
    IncidentView,
    RecommendedAction,
    assessment_text,
    event_line,
    fallback_text,
    incident_blocks,
    incident_message,
    sparkline_text,
    view_from_notification,
)
from handrail.runbook.model import Runbook
from support.slack import block_problems

URL = "https://handrail.example.com/incidents/INC-42"

VIEW = IncidentView(
    title="Payment DB connections exhausted",
    severity="P1",
    service="payments",
    state="awaiting_approval",
    incident_id="INC-42",
    url=URL,
    overall="critical",
    diagnostics=(
        DiagnosticLine("Connection pool", "critical", "97% of max_connections in use"),
        DiagnosticLine("Replication lag", "healthy", "0.2s"),
        DiagnosticLine("Slow queries", "warning", "12 queries > 5s & rising"),
    ),
    recommended=(
        RecommendedAction("kill-idle", "Kill idle connections", "automated", requires_approval=True),
        RecommendedAction("page-dba", "Page the DBA", "escalate"),
    ),
    approval=ApprovalRequest("kill-idle", "Kill idle connections", "Terminates sessions idle for > 10 minutes"),
    event="approve Kill idle connections?",
    text="Kill idle connections needs approval before it runs.",
)


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every text in the blocks, in order."""
    found: list[str] = []
    for block in blocks:
        if "text" in block:
            found.append(block["text"]["text"])
        found += [item["text"] for item in block.get("fields", [])]
        found += [item["text"]["text"] if "action_id" in item else item["text"] for item in block.get("elements", [])]
    return found


def section_starting(blocks: list[dict[str, Any]], start: str) -> str:
    [text] = [
        b["text"]["text"]
        for b in blocks
        if b["type"] == "section" and b.get("text", {}).get("text", "").startswith(start)
    ]
    return text


def assert_slack_takes(blocks: list[dict[str, Any]]) -> None:
    assert block_problems(blocks) == []


# -- the reference format -----------------------------------------------------------------------


def test_incident_blocks_show_every_part_of_the_reference_format() -> None:
    blocks = incident_blocks(VIEW, kind="approval_needed")

    assert_slack_takes(blocks)
    assert [b["type"] for b in blocks] == [
        "header",
        "section",
        "section",
        "section",
        "section",
        "section",
        "actions",
        "context",
    ]
    assert blocks[0]["text"] == {"type": "plain_text", "text": "🔴 Payment DB connections exhausted", "emoji": True}
    assert [f["text"] for f in blocks[1]["fields"]] == [
        "*Severity:* P1",
        "*Service:* payments",
        "*State:* awaiting_approval",
        "*Incident:* INC-42",
    ]
    assert blocks[2]["text"]["text"] == (
        "*Approval needed*: approve Kill idle connections?\nKill idle connections needs approval before it runs."
    )
    assert section_starting(blocks, "*Diagnostics:*") == (
        "*Diagnostics:*\n"
        "🔴 Connection pool: critical — 97% of max_connections in use\n"
        "🟢 Replication lag: healthy — 0.2s\n"
        "🟡 Slow queries: warning — 12 queries &gt; 5s &amp; rising"
    )
    assert section_starting(blocks, "*Recommended Actions:*") == (
        "*Recommended Actions:*\n"
        "• Kill idle connections (`kill-idle`, automated, needs approval)\n"
        "• Page the DBA (`page-dba`, escalate)"
    )
    assert section_starting(blocks, "*Approval needed:*") == (
        "*Approval needed:* Kill idle connections (`kill-idle`)\nTerminates sessions idle for &gt; 10 minutes"
    )
    assert blocks[-1] == {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": f"<{URL}|Open incident INC-42>"},
            {"type": "mrkdwn", "text": "handrail · approval_needed"},
        ],
    }


def test_approval_buttons_carry_the_incident_and_remediation() -> None:
    [actions] = [b for b in incident_blocks(VIEW, kind="approval_needed") if b["type"] == "actions"]
    approve, reject = actions["elements"]

    assert (approve["action_id"], approve["text"]["text"], approve["style"]) == (
        APPROVE_ACTION_ID,
        "Approve",
        "primary",
    )
    assert (reject["action_id"], reject["text"]["text"], reject["style"]) == (REJECT_ACTION_ID, "Reject", "danger")
    for button in (approve, reject):
        assert json.loads(button["value"]) == {"incident": "INC-42", "remediation": "kill-idle"}
    assert approve["confirm"]["title"]["text"] == "Run Kill idle connections?"
    assert "confirm" not in reject


def test_a_manual_step_shows_its_instructions() -> None:
    view = replace(VIEW, approval=None, state="remediating", instructions="Run `pg_terminate_backend` on <pid>")
    blocks = incident_blocks(view, kind="action_needed")

    assert_slack_takes(blocks)
    assert section_starting(blocks, "*Instructions:*") == "*Instructions:*\nRun `pg_terminate_backend` on &lt;pid&gt;"
    assert not [b for b in blocks if b["type"] == "actions"]


@pytest.mark.parametrize(
    ("kind", "state", "buttons"),
    [
        pytest.param("approval_needed", "awaiting_approval", True, id="the-request"),
        pytest.param("escalated", "awaiting_approval", True, id="escalated-but-still-waiting"),
        pytest.param("action", "remediating", False, id="approved-and-running"),
        pytest.param("resolved", "resolved", False, id="resolved"),
    ],
)
def test_buttons_show_only_while_the_approval_waits(kind: str, state: str, buttons: bool) -> None:
    blocks = incident_blocks(replace(VIEW, state=state), kind=kind)

    assert any(b["type"] == "actions" for b in blocks) is buttons
    assert any(t.startswith("*Approval needed:*") for t in texts(blocks)) is buttons


@pytest.mark.parametrize(
    ("overall", "emoji"),
    [
        pytest.param("critical", "🔴", id="critical"),
        pytest.param("warning", "🟡", id="warning"),
        pytest.param("healthy", "🟢", id="healthy"),
        pytest.param("unknown", "⚪", id="unknown"),
        pytest.param("error", "⚪", id="error"),
        pytest.param("", "⚪", id="not-known"),
    ],
)
def test_the_header_emoji_follows_the_overall_severity(overall: str, emoji: str) -> None:
    [header, *_] = incident_blocks(replace(VIEW, overall=overall), kind="opened")

    assert header["text"]["text"] == f"{emoji} Payment DB connections exhausted"


def test_a_bare_view_still_makes_a_valid_message_with_a_fallback_text() -> None:
    message = incident_message(IncidentView(title=""), kind="message")

    assert_slack_takes(message["blocks"])
    assert message["text"] == "⚪ Incident — Message"
    assert event_line(IncidentView(title=""), kind="opened") == "⚪ *Incident opened*"
    assert message["blocks"][-1]["elements"][0]["text"] == "Handrail"


def test_fallback_text_and_event_line_are_one_escaped_line() -> None:
    view = replace(VIEW, event="approve <Kill>\nnow?")

    assert fallback_text(view, kind="approval_needed") == (
        "🔴 [P1] Payment DB connections exhausted — Approval needed: approve &lt;Kill&gt; now? (INC-42)"
    )
    assert event_line(view, kind="approval_needed") == (
        "🔴 *Approval needed*: approve &lt;Kill&gt; now? · state `awaiting_approval`"
    )


def test_event_line_says_why_when_the_headline_only_repeats_the_kind() -> None:
    view = replace(VIEW, event="escalated", state="escalated", text="still not healthy after remediation\n\n[CRIT] ...")

    assert (
        event_line(view, kind="escalated") == "🔴 *Escalated*: still not healthy after remediation · state `escalated`"
    )


# -- limits -------------------------------------------------------------------------------------

GIANT = "x<&>" * 2500  # 10 kB, and every character escapes to more


def giant_view() -> IncidentView:
    return replace(
        VIEW,
        title="Payment " * 100,
        service="payments-" * 500,
        diagnostics=tuple(DiagnosticLine(f"diagnostic {i}", "critical", GIANT) for i in range(200)),
        recommended=tuple(RecommendedAction(f"step-{i}", GIANT, "manual") for i in range(200)),
        instructions=GIANT,
        approval=ApprovalRequest("kill-idle", GIANT, GIANT),
        event=GIANT,
        text=GIANT,
    )


def test_giant_inputs_are_cut_to_slacks_limits_and_point_to_the_incident() -> None:
    message = incident_message(giant_view(), kind="approval_needed")
    blocks = message["blocks"]

    assert_slack_takes(blocks)
    assert len(blocks) <= MAX_BLOCKS
    assert len(blocks[0]["text"]["text"]) == MAX_HEADER_TEXT
    assert blocks[0]["text"]["text"].endswith("…")
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]
    assert all(len(text) <= MAX_SECTION_TEXT for text in sections)
    more = f"(see the incident: <{URL}>)"
    for start in ("*Approval needed*:", "*Recommended Actions:*", "*Instructions:*", "*Approval needed:*"):
        assert more in section_starting(blocks, start), start
    diagnostics = [t for t in sections if "diagnostic " in t]
    assert diagnostics[0].startswith("*Diagnostics:*\n🔴 diagnostic 0: critical — x&lt;&amp;&gt;")
    assert diagnostics[-1].endswith(f" more {more}")
    assert any(b["type"] == "actions" for b in blocks)  # the buttons survive
    assert len(message["text"]) <= MAX_SECTION_TEXT


def test_truncation_never_leaves_half_an_escape() -> None:
    for text in texts(incident_blocks(giant_view(), kind="approval_needed")):
        for cut in ("&a…", "&am…", "&l…", "&g…", "& …"):
            assert cut not in text


def test_an_incident_id_too_long_for_a_button_value_drops_the_buttons_not_the_message() -> None:
    view = replace(VIEW, incident_id="INC-" + "9" * 2000)
    blocks = incident_blocks(view, kind="approval_needed")

    assert_slack_takes(blocks)
    assert not [b for b in blocks if b["type"] == "actions"]
    assert "Approve or reject it in Handrail" in section_starting(blocks, "*Approval needed:*")


def test_many_diagnostics_fill_several_sections_before_counting_the_rest() -> None:
    view = replace(VIEW, diagnostics=tuple(DiagnosticLine(f"d{i}", "warning", "y" * 400) for i in range(200)))
    blocks = incident_blocks(view, kind="opened")

    assert_slack_takes(blocks)
    shown = [t for t in texts(blocks) if "🟡 d" in t]
    assert len(shown) == 6
    lines = [line for text in shown for line in text.splitlines() if line.startswith("🟡 d")]
    assert lines[0].startswith("🟡 d0: warning")
    assert shown[-1].endswith(f"… {200 - len(lines)} more (see the incident: <{URL}>)")


def test_without_a_url_truncation_says_so_plainly() -> None:
    blocks = incident_blocks(replace(giant_view(), url=None), kind="opened")

    assert_slack_takes(blocks)
    assert "… (truncated)" in section_starting(blocks, "*Instructions:*")
    assert "<http" not in json.dumps(blocks)


def test_an_absurdly_long_url_does_not_crowd_out_the_text() -> None:
    url = "https://handrail.example.com/" + "x" * 2000
    blocks = incident_blocks(replace(giant_view(), url=url), kind="opened")

    assert_slack_takes(blocks)
    instructions = section_starting(blocks, "*Instructions:*")
    assert instructions.endswith("… (truncated)")
    assert url not in instructions


def test_a_url_with_slack_link_characters_is_encoded() -> None:
    blocks = incident_blocks(replace(VIEW, url="https://h.example/incidents/a|b <c>"), kind="opened")

    assert blocks[-1]["elements"][0]["text"] == "<https://h.example/incidents/a%7Cb%20%3Cc%3E|Open incident INC-42>"


# -- reading a notification ---------------------------------------------------------------------


DETAILS = {
    "url": "/incidents/INC-42",
    "overall": "critical",
    "diagnostics": [
        {"name": "Connection pool", "status": "critical", "message": "97% in use"},
        "not a mapping",
        {"name": "Replication lag", "status": "healthy"},
    ],
    "recommended": [
        {"id": "kill-idle", "name": "Kill idle connections", "type": "automated", "requiresApproval": True}
    ],
    "instructions": None,
    "approval": {
        "remediation": "kill-idle",
        "name": "Kill idle connections",
        "description": "Terminates idle sessions",
    },
}


RUNBOOK = """\
id: payment-db
name: Payment Db
description: test runbook
severity: P2
service: test-service
triggers: [{type: manual}]
diagnostics:
  - id: state
    name: Service State
    description: reads the state file
    type: shell_command
    config: {command: "cat state"}
    interpret: {critical: "lines[0] == 'broken'", healthy: "lines[0] == 'ok'"}
decisionTree:
  - otherwise: true
    then: [fix]
    description: fix it
remediations:
  - id: fix
    name: Fix It
    description: writes ok into the state file
    type: automated
    requiresApproval: true
    action: {type: run_script, config: {command: [/bin/sh, -c, "echo ok > state"]}}
  - id: by_hand
    name: Fix By Hand
    description: a person fixes it
    type: manual
    instructions: "echo ok > state"
escalation:
  primary: "#test"
"""


@pytest.fixture(scope="module")
def payment_runbook() -> Runbook:
    return Runbook.model_validate(yaml.safe_load(RUNBOOK))


def engine_note(rb: Runbook, kind: str, headline: str, body: str, state: str) -> Notification:
    """A notification exactly as the engine makes it (engine/messages.py)."""
    return notification(
        kind, incident_id="INC-42", runbook=rb, target="#test", headline=headline, body=body, state=state
    )


def test_a_notification_from_the_engine_reads_as_a_view(payment_runbook: Runbook) -> None:
    remediation = payment_runbook.remediation("fix")
    assert remediation is not None
    body = approval_text(remediation, "run_script: /bin/sh -c ...")
    note = engine_note(payment_runbook, "approval_needed", "approve Fix It?", body, "awaiting_approval")

    view = view_from_notification(note, console_url="https://handrail.example.com/")

    assert view == IncidentView(
        title="Payment Db",
        severity="P2",
        service="test-service",
        state="awaiting_approval",
        incident_id="INC-42",
        url=URL,
        event="approve Fix It?",
        text=body,
    )
    assert_slack_takes(incident_blocks(view, kind=note.kind))


ASSESSMENT = {
    "overallSeverity": "critical",
    "diagnosticResults": [{"stepId": "state", "name": "Service State", "status": "critical", "message": "broken"}],
    "recommendedActions": ["fix", "gone-from-the-runbook"],
}


def test_the_engines_details_make_the_full_message_with_buttons(payment_runbook: Runbook) -> None:
    remediation = payment_runbook.remediation("fix")
    assert remediation is not None
    details = incident_details(
        "INC-42", payment_runbook, ASSESSMENT, console_url="https://handrail.example.com/", approval=remediation
    )
    body = approval_text(remediation, "run_script") + "\n\n[CRIT] Service State: broken"
    note = notification(
        "approval_needed",
        incident_id="INC-42",
        runbook=payment_runbook,
        target="#test",
        headline="approve Fix It?",
        body=body,
        state="awaiting_approval",
        details=details,
    )

    view = view_from_notification(note)
    blocks = incident_blocks(view, kind=note.kind)

    assert_slack_takes(blocks)
    assert (view.url, view.overall) == (URL, "critical")
    assert view.diagnostics == (DiagnosticLine("Service State", "critical", "broken"),)
    assert view.recommended == (RecommendedAction("fix", "Fix It", "automated", requires_approval=True),)
    assert view.approval == ApprovalRequest("fix", "Fix It", "writes ok into the state file")
    assert "[CRIT]" not in view.text  # the evidence shows once, as diagnostics
    [actions] = [b for b in blocks if b["type"] == "actions"]
    assert json.loads(actions["elements"][0]["value"]) == {"incident": "INC-42", "remediation": "fix"}


def test_the_engines_manual_step_shows_its_instructions_once(payment_runbook: Runbook) -> None:
    details = incident_details("INC-42", payment_runbook, ASSESSMENT, console_url=None, instructions="echo ok > state")
    note = notification(
        "action_needed",
        incident_id="INC-42",
        runbook=payment_runbook,
        target="#test",
        headline="to do: Fix By Hand",
        body="echo ok > state",
        state="remediating",
        details=details,
    )

    rendered = json.dumps(incident_blocks(view_from_notification(note), kind=note.kind))

    assert rendered.count("echo ok &gt; state") == 1


def test_without_details_a_manual_steps_body_is_its_instructions(payment_runbook: Runbook) -> None:
    note = engine_note(payment_runbook, "action_needed", "to do: Fix By Hand", "echo ok > state", "remediating")

    view = view_from_notification(note)

    assert (view.instructions, view.text, view.url) == ("echo ok > state", "", None)
    assert section_starting(incident_blocks(view, kind="action_needed"), "*Instructions:*").endswith(
        "echo ok &gt; state"
    )


def test_a_resolved_incidents_header_says_resolved_even_after_a_critical_assessment(payment_runbook: Runbook) -> None:
    details = incident_details("INC-42", payment_runbook, ASSESSMENT, console_url=None)
    note = replace(
        engine_note(payment_runbook, "resolved", "resolved", "Verified healthy after remediation.", "resolved"),
        details=details,
    )

    message = incident_message(view_from_notification(note), kind="resolved")

    assert message["blocks"][0]["text"]["text"] == "✅ Resolved: Payment Db"
    assert message["text"].startswith("✅ [P2] Payment Db — Resolved")
    assert section_starting(message["blocks"], "*Diagnostics:*").endswith("🔴 Service State: critical — broken")


@pytest.mark.parametrize(
    ("state", "header"),
    [
        pytest.param("awaiting_approval", "🔴 Payment DB connections exhausted", id="open"),
        pytest.param("escalated", "🔴 Payment DB connections exhausted", id="escalated"),
        pytest.param("resolved", "✅ Resolved: Payment DB connections exhausted", id="resolved"),
        pytest.param("cancelled", "⚪ Cancelled: Payment DB connections exhausted", id="cancelled"),
        pytest.param("failed", "❌ Failed: Payment DB connections exhausted", id="failed"),
    ],
)
def test_the_header_follows_the_state(state: str, header: str) -> None:
    blocks = incident_blocks(replace(VIEW, state=state), kind="message")

    assert blocks[0]["text"]["text"] == header
    assert fallback_text(replace(VIEW, state=state), kind="message").startswith(header[0])
    assert_slack_takes(blocks)


@pytest.mark.parametrize(
    ("kind", "outcome", "line"),
    [
        pytest.param("approved", "", "🔴 *Approved*: Fix It, by alice: graphs", id="approved"),
        pytest.param("rejected", "", "🔴 *Rejected*: Fix It, by alice: graphs", id="rejected"),
        pytest.param("action_started", "", "🔴 *Action started*: Fix It, by alice: graphs", id="started"),
        pytest.param("action_finished", "healthy", "🟢 *Action finished*: Fix It, by alice: graphs", id="ok"),
        pytest.param("action_finished", "critical", "🔴 *Action finished*: Fix It, by alice: graphs", id="bad"),
        pytest.param("verification", "healthy", "🟢 *Verification*: Fix It, by alice: graphs", id="verified"),
        pytest.param("escalation_sent", "", "🔴 *Escalated*: Fix It, by alice: graphs", id="escalation"),
    ],
)
def test_a_steps_thread_line_names_the_step_and_shows_how_it_went(kind: str, outcome: str, line: str) -> None:
    view = replace(VIEW, state="remediating", event="Fix It, by alice: graphs", outcome=outcome)

    assert event_line(view, kind=kind) == f"{line} · state `remediating`"
    assert not any(b["type"] == "actions" for b in incident_blocks(view, kind=kind))  # decided: no buttons


def test_details_fill_the_structured_parts_and_skip_malformed_entries() -> None:
    note = Notification(
        target="#incidents-payment",
        kind="approval_needed",
        title="[P1] Payment DB — approve Kill idle connections?",
        text="Kill idle connections needs approval.\n\n[CRIT] Connection pool: 97% in use",
        severity="P1",
        incident_id="INC-42",
        fields={"service": "payments", "state": "awaiting_approval"},
        details=DETAILS,
    )

    view = view_from_notification(note, console_url="https://handrail.example.com")

    assert view == IncidentView(
        title="Payment DB",
        severity="P1",
        service="payments",
        state="awaiting_approval",
        incident_id="INC-42",
        url=URL,
        overall="critical",
        diagnostics=(
            DiagnosticLine("Connection pool", "critical", "97% in use"),
            DiagnosticLine("Replication lag", "healthy", ""),
        ),
        recommended=(RecommendedAction("kill-idle", "Kill idle connections", "automated", requires_approval=True),),
        approval=ApprovalRequest("kill-idle", "Kill idle connections", "Terminates idle sessions"),
        event="approve Kill idle connections?",
        text="Kill idle connections needs approval.",  # the evidence paragraph is in the diagnostics
    )


@pytest.mark.parametrize(
    ("url", "console", "expected"),
    [
        pytest.param("https://other.example/i/1", None, "https://other.example/i/1", id="absolute-wins"),
        pytest.param("/incidents/INC-42", "https://handrail.example.com", URL, id="relative-joined"),
        pytest.param("", "https://handrail.example.com/", URL, id="built-from-console"),
        pytest.param("/incidents/INC-42", None, None, id="relative-without-console"),
    ],
)
def test_the_incident_link(url: str, console: str | None, expected: str | None) -> None:
    note = Notification(target="#x", kind="opened", title="t", text="", incident_id="INC-42", details={"url": url})

    assert view_from_notification(note, console_url=console).url == expected


@pytest.mark.parametrize(
    "details",
    [
        pytest.param({"diagnostics": "nope", "recommended": {"id": 1}, "approval": ["x"]}, id="wrong-types"),
        pytest.param({"approval": {"name": "no remediation id"}}, id="approval-without-id"),
        pytest.param({"overall": None, "instructions": 42}, id="odd-scalars"),
    ],
)
def test_malformed_details_never_raise(details: dict[str, Any]) -> None:
    note = Notification(target="#x", kind="opened", title="[P3] t — opened", text="", details=details)

    view = view_from_notification(note)

    assert (view.diagnostics, view.recommended, view.approval) == ((), (), None)
    assert_slack_takes(incident_blocks(view, kind="opened"))


# -- the docs -----------------------------------------------------------------------------------

DOCS = Path(__file__).parents[2] / "docs" / "slack.md"


def test_the_sample_message_in_the_docs_is_what_the_builder_makes() -> None:
    section = DOCS.read_text().split("## What a message looks like", 1)[1]
    match = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert match is not None, "docs/slack.md has no JSON sample under 'What a message looks like'"
    view = IncidentView(
        title="Payment DB connections exhausted",
        severity="P1",
        service="payments",
        state="awaiting_approval",
        incident_id="INC-42",
        url=URL,
        overall="critical",
        diagnostics=(
            DiagnosticLine("Connection pool", "critical", "97% of max_connections in use"),
            DiagnosticLine("Replication lag", "healthy", "0.2s"),
        ),
        recommended=(RecommendedAction("kill-idle", "Kill idle connections", "automated", requires_approval=True),),
        approval=ApprovalRequest(
            "kill-idle", "Kill idle connections", "Terminates sessions idle for more than 10 minutes"
        ),
        event="approve Kill idle connections?",
        text="Kill idle connections needs approval before it runs.",
    )

    assert json.loads(match.group(1)) == incident_message(view, kind="approval_needed")


@pytest.mark.parametrize("name", sorted(SlackNotifierConfig.model_fields))
def test_every_slack_setting_is_documented(name: str) -> None:
    field = SlackNotifierConfig.model_fields[name]
    assert f"| `{field.validation_alias or name}` |" in DOCS.read_text()


def test_an_assessment_run_from_slack_is_escaped_and_fits_one_section() -> None:
    many = [DiagnosticLine(f"d{i} <!here>", "critical", "<@U123> & " * 100) for i in range(50)]
    text = assessment_text("Checkout <!channel>", "critical", many, ["rollback <http://x|y>"])
    first, second = text.split("\n")[:2]
    assert first == "*Checkout &lt;!channel&gt;*: overall critical"
    assert second.startswith("🔴 d0 &lt;!here&gt;: critical — &lt;@U123&gt; &amp; ")
    assert len(text) <= MAX_SECTION_TEXT
    assert text.endswith("… (truncated)")
    assert "<" not in text
    for cut in ("&a…", "&am…", "&l…", "&g…"):
        assert cut not in text


def test_an_assessment_run_from_slack_names_the_recommended_actions() -> None:
    text = assessment_text("Checkout", "warning", [DiagnosticLine("errors", "warning", "5%")], ["a&b", "c"])
    assert text == "*Checkout*: overall warning\n🟡 errors: warning — 5%\nRecommended: a&amp;b, c"


def test_a_sparkline_runs_from_the_lowest_to_the_highest_block() -> None:
    assert sparkline_text([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline_text([70, 70, 140, 70]) == "▁▁█▁"
    assert sparkline_text([3, 3, 3]) == "▄▄▄"  # flat: the middle, not a floor that reads as zero
    assert sparkline_text([1, math.nan, 2]) == "▁ █"  # a gap stays a gap
    assert sparkline_text([]) == ""


def test_each_diagnostic_line_carries_the_recorded_hour_as_a_sparkline_slack_takes(payment_runbook: Runbook) -> None:
    points = [[i * 15, value] for i, value in enumerate([10, 20, 30, 95, 40, 20] * 10)]
    history = {"source": "diagnostic", "id": "state", "series": [{"labels": {}, "points": points}]}
    details = incident_details("INC-42", payment_runbook, {**ASSESSMENT, "history": [history]}, console_url=None)
    note = notification(
        "opened", incident_id="INC-42", runbook=payment_runbook, target="#test", headline="opened", details=details
    )

    view = view_from_notification(note)
    (line,) = view.diagnostics
    assert 2 <= len(line.trend) <= 20  # a few values
    assert max(line.trend) == 95  # the spike kept
    blocks = incident_blocks(view, kind=note.kind)
    assert_slack_takes(blocks)
    for block in blocks:  # slack_sdk's own Block Kit models take every block
        Block.parse(block).validate_json()  # type: ignore[union-attr]
    diagnostics = section_starting(blocks, "*Diagnostics:*")
    assert re.search(r"Service State: critical [▁▂▃▄▅▆▇█]{2,20} — broken", diagnostics), diagnostics


def test_a_trend_from_elsewhere_is_read_as_numbers_only_and_bounded() -> None:
    note = Notification(
        target="#t",
        kind="opened",
        title="[P1] X — opened",
        text="",
        details={
            "diagnostics": [{"name": "a", "status": "ok", "message": "m", "trend": [1, "<!channel>", True, 2.5] * 50}]
        },
    )
    (line,) = view_from_notification(note).diagnostics
    assert set(line.trend) == {1.0, 2.5}
    assert len(line.trend) <= 40
    assert "<!channel>" not in json.dumps(incident_blocks(view_from_notification(note), kind="opened"))
