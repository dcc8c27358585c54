"""slack_blocks: an incident as a Slack Block Kit message, always within Slack's documented limits.

The message (docs/slack.md shows one): a header that follows the state (`🔴 <runbook name>` while
open, `✅ Resolved: <runbook name>` once resolved), the key facts (severity, service, state,
incident), what just happened, one line per diagnostic (with a sparkline of the recorded hour
before, when there is one), the recommended actions, a manual step's instructions, an approval
request with **Approve** / **Reject** buttons while it waits, and a
context line linking to the incident.

Slack rejects a message that breaks a limit (`invalid_blocks`), and a rejected notification is
worse than a shortened one, so every text is cut to fit and ends with "… (see the incident: <url>)".
The limits are Slack's (https://api.slack.com/reference/block-kit/blocks): 50 blocks, 3000
characters of section text, 2000 per section field, 150 in a header, 75 on a button, 2000 in a
button's `value`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from handrail.notify.base import Notification

__all__ = [
    "APPROVE_ACTION_ID",
    "MAX_BLOCKS",
    "MAX_BUTTON_TEXT",
    "MAX_BUTTON_VALUE",
    "MAX_FIELD_TEXT",
    "MAX_HEADER_TEXT",
    "MAX_SECTION_TEXT",
    "REJECT_ACTION_ID",
    "ApprovalRequest",
    "DiagnosticLine",
    "IncidentView",
    "RecommendedAction",
    "assessment_text",
    "escape_mrkdwn",
    "event_line",
    "fallback_text",
    "incident_blocks",
    "incident_message",
    "sparkline_text",
    "view_from_notification",
]

APPROVE_ACTION_ID = "handrail_approve"
REJECT_ACTION_ID = "handrail_reject"
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000

_MAX_DIAGNOSTIC_SECTIONS = 6
"""Sections of diagnostics before the rest is left to the incident page: a channel is not a report."""
_MAX_LINE = 500
"""Characters of one diagnostic or action line; a 10 kB probe message belongs on the incident page."""
_MAX_FALLBACK = 3000
_MAX_TREND = 40
"""Characters of a diagnostic's sparkline: a phone shows a line of about that many."""
_EMOJI = {"critical": "🔴", "warning": "🟡", "healthy": "🟢"}
_OTHER_EMOJI = "⚪"
_CLOSED = {"resolved": ("✅", "Resolved"), "cancelled": ("⚪", "Cancelled"), "failed": ("❌", "Failed")}
"""A closed incident's header says how it ended, whatever the first assessment found."""

_SPARKS = "▁▂▃▄▅▆▇█"
_LABELS = {
    "opened": "Incident opened",
    "escalated": "Escalated",
    "escalation_sent": "Escalated",
    "approval_needed": "Approval needed",
    "approved": "Approved",
    "rejected": "Rejected",
    "action_needed": "Action needed",
    "done": "Done",
    "skipped": "Skipped",
    "action_started": "Action started",
    "action_finished": "Action finished",
    "verification": "Verification",
    "acknowledged": "Acknowledged",
    "resolved": "Resolved",
    "cancelled": "Cancelled",
    "message": "Message",
}
_SEVERITY_PREFIX = re.compile(r"^\[P[1-4]\]\s*")
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"
"""Characters kept as they are in a link; `<`, `>`, `|` and spaces would end Slack's `<url|text>`."""


@dataclass(frozen=True, slots=True)
class DiagnosticLine:
    """One diagnostic's outcome as the message shows it."""

    name: str
    status: str
    message: str
    trend: tuple[float, ...] = ()
    """The recorded hour before, a few values (engine/history.py `trend`), drawn as a Unicode sparkline."""


@dataclass(frozen=True, slots=True)
class RecommendedAction:
    """A remediation the decision tree recommends."""

    id: str
    name: str
    type: str
    requires_approval: bool = False


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """A remediation waiting for a person's approval."""

    remediation: str
    name: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class IncidentView:
    """What a Slack message says about an incident, in plain values."""

    title: str
    """The runbook's name (the header)."""
    severity: str = ""
    service: str = ""
    state: str = ""
    incident_id: str | None = None
    url: str | None = None
    """The incident's page in the console, absolute."""
    overall: str = ""
    """The overall status of the diagnostics: `critical`, `warning`, `healthy`, ... (empty: not known)."""
    diagnostics: tuple[DiagnosticLine, ...] = ()
    recommended: tuple[RecommendedAction, ...] = ()
    instructions: str | None = None
    """A manual step's instructions."""
    approval: ApprovalRequest | None = None
    event: str = ""
    """What just happened, one line (`approve Restart pods?`)."""
    text: str = ""
    """The notification's body, shown under the event."""
    outcome: str = ""
    """How the step went, when it has a status of its own (`healthy` for an action that succeeded)."""


def incident_message(view: IncidentView, *, kind: str) -> dict[str, Any]:
    """The `text` and `blocks` of a Slack message about the incident (`text` is the notification fallback)."""
    return {"text": fallback_text(view, kind=kind), "blocks": incident_blocks(view, kind=kind)}


def incident_blocks(view: IncidentView, *, kind: str) -> list[dict[str, Any]]:
    """The Block Kit blocks for `view` after an event of `kind`, within every Slack limit.

    Args:
        view: the incident as the message shows it.
        kind: the notification's kind; `approval_needed` (or a view in state `awaiting_approval`)
            with an `approval` adds the Approve / Reject buttons.

    Returns:
        At most 50 blocks: header, facts, event, diagnostics, actions, instructions, approval, context.
    """
    url = _safe_url(view.url) if view.url else None
    head: list[dict[str, Any]] = [_header(_headline(view))]
    facts = [
        f"*{label}:* {escape_mrkdwn(value)}"
        for label, value in (
            ("Severity", view.severity),
            ("Service", view.service),
            ("State", view.state),
            ("Incident", view.incident_id or ""),
        )
        if value
    ]
    if facts:
        head.append({"type": "section", "fields": [_mrkdwn(_fit(fact, MAX_FIELD_TEXT, url)) for fact in facts]})
    head.append(_section(_event_text(view, kind), url))

    tail: list[dict[str, Any]] = []
    if view.recommended:
        lines = [_action_line(action) for action in view.recommended]
        tail.append(_section(_join_lines("*Recommended Actions:*", lines, MAX_SECTION_TEXT, url), url))
    if view.instructions:
        tail.append(_section(f"*Instructions:*\n{escape_mrkdwn(view.instructions)}", url))
    tail.extend(_approval(view, kind, url))
    tail.append(_context(view, kind, url))

    room = min(_MAX_DIAGNOSTIC_SECTIONS, MAX_BLOCKS - len(head) - len(tail))
    return head + _diagnostic_sections(view.diagnostics, room, url) + tail


def fallback_text(view: IncidentView, *, kind: str) -> str:
    """The message's top-level `text`: what notifications and screen readers show, one line."""
    parts = [f"{_state_emoji(view)} "]
    if view.severity:
        parts.append(f"[{escape_mrkdwn(view.severity)}] ")
    parts.append(escape_mrkdwn(view.title or "Incident"))
    phrase = _event_phrase(view, kind)
    parts.append(f" — {escape_mrkdwn(_label(kind))}" + (f": {escape_mrkdwn(phrase)}" if phrase else ""))
    if view.incident_id:
        parts.append(f" ({escape_mrkdwn(view.incident_id)})")
    return _fit(_one_line("".join(parts)), _MAX_FALLBACK, _safe_url(view.url) if view.url else None)


def event_line(view: IncidentView, *, kind: str) -> str:
    """One mrkdwn line for a thread reply: the event, and the state it left the incident in.

    A `message` (a runbook's `notify` action) is its whole text instead: that text is the news.
    """
    url = _safe_url(view.url) if view.url else None
    if kind == "message" and view.text.strip():
        return _fit(escape_mrkdwn(view.text.strip()), MAX_SECTION_TEXT, url)
    phrase = _event_phrase(view, kind)
    emoji = _emoji(view.outcome) if view.outcome else _state_emoji(view)
    line = f"{emoji} *{escape_mrkdwn(_label(kind))}*" + (f": {escape_mrkdwn(phrase)}" if phrase else "")
    if view.state:
        line += f" · state `{escape_mrkdwn(view.state)}`"
    return _fit(_one_line(line), MAX_SECTION_TEXT, url)


def assessment_text(name: str, overall: str, diagnostics: Sequence[DiagnosticLine], recommended: Sequence[str]) -> str:
    """An assessment run from Slack (`/handrail run`), as one mrkdwn text within a section's 3000 characters."""
    lines = [f"*{escape_mrkdwn(name)}*: overall {escape_mrkdwn(overall)}"]
    lines += [_diagnostic_line(d) for d in diagnostics]
    if recommended:
        lines.append(_clip("Recommended: " + escape_mrkdwn(", ".join(recommended))))
    return _fit("\n".join(lines), MAX_SECTION_TEXT, None)


def view_from_notification(notification: Notification, *, console_url: str | None = None) -> IncidentView:
    """The view of `notification`: its `details` when it has them, else what title, text and fields say.

    Args:
        notification: the notification; a `details` mapping (camelCase keys `url`, `overall`,
            `diagnostics`, `recommended`, `instructions`, `approval`) is used when present.
        console_url: the console's base URL; without a `url` in the details the link is
            `<console_url>/incidents/<id>`, and a relative `url` is joined to it.

    Returns:
        The view; malformed details entries are skipped, never raised.
    """
    # getattr: `details` came to base.py after this module; a notification without it still reads
    details: Mapping[str, Any] = _mapping(getattr(notification, "details", None))
    fields = notification.fields
    title, event = _split_title(notification.title)
    incident_id = notification.incident_id or fields.get("incident") or None
    diagnostics = tuple(_diagnostic(item) for item in _mappings(details.get("diagnostics")))
    overall = _str(details.get("overall")) or ("healthy" if notification.kind == "resolved" else "")
    instructions = _str(details.get("instructions")) or None
    text = notification.text
    if notification.kind == "action_needed" and instructions is None:
        # without details, a manual step's body is its instructions (engine/incident.py, `action_needed`)
        instructions, text = text or None, ""
    if diagnostics:
        # the body repeats the evidence after a blank line (engine/messages.py); the lines show it
        text = text.split("\n\n", 1)[0]
    if text.strip() in (_str(instructions).strip(), event):
        text = ""  # said once is enough: instructions have their section, a headline its line
    return IncidentView(
        title=title or fields.get("runbook", ""),
        severity=notification.severity,
        service=fields.get("service", ""),
        state=fields.get("state", ""),
        incident_id=incident_id,
        url=_incident_url(_str(details.get("url")), console_url, incident_id),
        overall=overall,
        diagnostics=diagnostics,
        recommended=tuple(_recommended(item) for item in _mappings(details.get("recommended"))),
        instructions=instructions,
        approval=_approval_request(details.get("approval")),
        event=event,
        text=text,
        outcome=_str(details.get("outcome")),
    )


# -- blocks -------------------------------------------------------------------------------------


def _header(text: str) -> dict[str, Any]:
    text = _one_line(text)
    if len(text) > MAX_HEADER_TEXT:
        text = text[: MAX_HEADER_TEXT - 1].rstrip() + "…"
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def _section(text: str, url: str | None) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(_fit(text, MAX_SECTION_TEXT, url))}


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _event_text(view: IncidentView, kind: str) -> str:
    phrase = escape_mrkdwn(view.event) if view.event and not _says_only_kind(view.event, kind) else ""
    first = f"*{escape_mrkdwn(_label(kind))}*" + (f": {phrase}" if phrase else "")
    return first + (f"\n{escape_mrkdwn(view.text.strip())}" if view.text.strip() else "")


def _diagnostic_sections(diagnostics: Sequence[DiagnosticLine], room: int, url: str | None) -> list[dict[str, Any]]:
    """`*Diagnostics:*` and one line each, over at most `room` sections; the rest is counted, with the link."""
    if not diagnostics or room <= 0:
        return []
    lines = [_diagnostic_line(d) for d in diagnostics]
    sections: list[dict[str, Any]] = []
    first, start = "*Diagnostics:*", 0
    while start < len(lines):
        rest = lines[start:]
        if len(sections) + 1 == room:
            sections.append(_section(_join_lines(first, rest, MAX_SECTION_TEXT, url), url))
            break
        taken = max(1, _fitting(first, rest, MAX_SECTION_TEXT))
        sections.append(_section("\n".join(filter(None, [first, *rest[:taken]])), url))
        first, start = "", start + taken
    return sections


def _fitting(first: str, lines: Sequence[str], limit: int) -> int:
    """How many of `lines` fit after `first`, one per line, in `limit` characters."""
    size, count = len(first), 0
    for line in lines:
        size += len(line) + (1 if size else 0)
        if size > limit:
            break
        count += 1
    return count


def _join_lines(first: str, lines: Sequence[str], limit: int, url: str | None) -> str:
    """`first` and as many of `lines` as fit in `limit`, then a line counting the rest and linking the incident."""
    parts = [first] if first else []
    size = len(first)
    for index, line in enumerate(lines):
        rest = len(lines) - index
        # keep room for the "… N more" line unless this is the last line (`_more(url, rest)` is never
        # shorter than the one written later, so the line written when we stop always fits)
        reserve = 0 if rest == 1 else 1 + len(_more(url, rest))
        if size + 1 + len(line) + reserve > limit:
            return "\n".join([*parts, _more(url, rest)])
        parts.append(line)
        size += len(line) + (1 if size else 0)
    return "\n".join(parts)


def _diagnostic_line(diagnostic: DiagnosticLine) -> str:
    name, status, message = (escape_mrkdwn(v) for v in (diagnostic.name, diagnostic.status, diagnostic.message))
    trend = f" {sparkline_text(diagnostic.trend)}" if len(diagnostic.trend) >= 2 else ""
    return _clip(f"{_emoji(diagnostic.status)} {name}: {status}{trend} — {message}")


def sparkline_text(values: Sequence[float]) -> str:
    """`values` as one line of block characters, lowest ▁ to highest █ (Slack cannot show a private image)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return ""
    low, high = min(finite), max(finite)
    span = high - low
    last = len(_SPARKS) - 1
    return "".join(
        _SPARKS[round((v - low) / span * last) if span else last // 2] if math.isfinite(v) else " " for v in values
    )


def _action_line(action: RecommendedAction) -> str:
    approval = ", needs approval" if action.requires_approval else ""
    return _clip(
        f"• {escape_mrkdwn(action.name)} (`{escape_mrkdwn(action.id)}`, {escape_mrkdwn(action.type)}{approval})"
    )


def _approval(view: IncidentView, kind: str, url: str | None) -> list[dict[str, Any]]:
    request = view.approval
    if request is None or (kind != "approval_needed" and view.state != "awaiting_approval"):
        return []
    text = f"*Approval needed:* {escape_mrkdwn(request.name)} (`{escape_mrkdwn(request.remediation)}`)"
    if request.description:
        text += f"\n{escape_mrkdwn(request.description)}"
    value = json.dumps({"incident": view.incident_id, "remediation": request.remediation}, separators=(",", ":"))
    if view.incident_id is None or len(value) > MAX_BUTTON_VALUE:
        # no buttons Slack would accept; the CLI still works
        return [_section(text + "\n_Approve or reject it in Handrail._", url)]
    name = _one_line(request.name)
    confirm_title = _cut(f"Run {name}?", 100)
    confirm_text = _cut(f"{name} will run for incident {view.incident_id}, approved by you.", 300)
    approve = {
        "type": "button",
        "action_id": APPROVE_ACTION_ID,
        "text": _plain("Approve"),
        "style": "primary",
        "value": value,
        "confirm": {
            "title": _plain(confirm_title),
            "text": _plain(confirm_text),
            "confirm": _plain("Approve"),
            "deny": _plain("Cancel"),
        },
    }
    reject = {
        "type": "button",
        "action_id": REJECT_ACTION_ID,
        "text": _plain("Reject"),
        "style": "danger",
        "value": value,
    }
    return [_section(text, url), {"type": "actions", "block_id": "handrail_approval", "elements": [approve, reject]}]


def _context(view: IncidentView, kind: str, url: str | None) -> dict[str, Any]:
    where = escape_mrkdwn(f"incident {view.incident_id}" if view.incident_id else "Handrail")
    # a link cut in half is worse than none
    first = f"<{url}|Open {where}>" if url and len(url) + len(where) < MAX_FIELD_TEXT else where.capitalize()
    elements = [
        _mrkdwn(_fit(first, MAX_FIELD_TEXT, None)),
        _mrkdwn(_fit(f"handrail · {escape_mrkdwn(kind)}", 200, None)),
    ]
    return {"type": "context", "elements": elements}


# -- text ---------------------------------------------------------------------------------------


def _emoji(status: str) -> str:
    return _EMOJI.get(status, _OTHER_EMOJI)


def _state_emoji(view: IncidentView) -> str:
    """How a closed incident ended, else the overall severity of its diagnostics."""
    closed = _CLOSED.get(view.state)
    return closed[0] if closed else _emoji(view.overall)


def _headline(view: IncidentView) -> str:
    """The header: `🔴 <name>` while the incident is open, `✅ Resolved: <name>` (and so on) once it closed."""
    title = view.title or "Incident"
    closed = _CLOSED.get(view.state)
    return f"{closed[0]} {closed[1]}: {title}" if closed else f"{_emoji(view.overall)} {title}"


def _label(kind: str) -> str:
    return _LABELS.get(kind) or (kind.replace("_", " ").capitalize() or "Update")


def _says_only_kind(event: str, kind: str) -> bool:
    """Whether `event` says no more than the kind does (the engine's headline `escalated`, `resolved`)."""
    said = event.strip().lower()
    return said in (kind.lower(), kind.replace("_", " ").lower(), _label(kind).lower())


def _event_phrase(view: IncidentView, kind: str) -> str:
    """What happened, beyond the kind: the headline, else the body's first line."""
    if view.event and not _says_only_kind(view.event, kind):
        return _one_line(view.event)
    return _one_line(view.text.strip().split("\n", 1)[0]) if view.text.strip() else ""


def escape_mrkdwn(text: str) -> str:
    """Text as Slack shows it literally: `&`, `<`, `>` escaped (https://api.slack.com/reference/surfaces/formatting).

    Every piece of outside text (alerts, probe output, runbooks, people) placed in Slack's mrkdwn goes
    through this, so `<!channel>` and `<http://evil|here>` arrive as text, not as a mention or a link.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _more(url: str | None, count: int | None = None) -> str:
    counted = f" {count} more" if count else ""
    return f"…{counted} (see the incident: <{url}>)" if url else f"…{counted} (truncated)"


def _fit(text: str, limit: int, url: str | None) -> str:
    """`text` when it fits in `limit`, else its start and "… (see the incident: <url>)"."""
    if len(text) <= limit:
        return text
    more = _more(url)
    if len(more) > limit // 2:  # an absurd URL must not crowd out the text
        more = _more(None)
    start = _PARTIAL_ENTITY.sub("", text[: limit - len(more) - 1])
    return start.rstrip() + " " + more


def _clip(line: str) -> str:
    """One line of at most `_MAX_LINE` characters, never ending inside an `&amp;`."""
    if len(line) <= _MAX_LINE:
        return line
    return _PARTIAL_ENTITY.sub("", line[: _MAX_LINE - 1]).rstrip() + "…"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- reading a notification ---------------------------------------------------------------------


def _split_title(title: str) -> tuple[str, str]:
    """`[P1] Payment DB — approve Restart?` (engine/messages.py) → (`Payment DB`, `approve Restart?`)."""
    name, _, event = _SEVERITY_PREFIX.sub("", title.strip()).partition(" — ")
    return name.strip(), event.strip()


def _incident_url(url: str, console_url: str | None, incident_id: str | None) -> str | None:
    base = console_url.rstrip("/") if console_url else ""
    if url.startswith(("https://", "http://")):
        return _safe_url(url)
    if url and base:
        return _safe_url(f"{base}/{url.lstrip('/')}")
    if base and incident_id:
        return _safe_url(f"{base}/incidents/{quote(incident_id, safe='')}")
    return None


def _safe_url(url: str) -> str:
    return quote(url, safe=_URL_SAFE)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _mappings(value: object) -> Iterable[Mapping[str, Any]]:
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [item for item in value if isinstance(item, Mapping)]
    return []


def _str(value: object) -> str:
    return "" if value is None else str(value)


def _diagnostic(item: Mapping[str, Any]) -> DiagnosticLine:
    raw = item.get("trend")
    values = raw if isinstance(raw, Sequence) and not isinstance(raw, str | bytes) else ()
    trend = tuple(float(v) for v in values[:_MAX_TREND] if isinstance(v, int | float) and not isinstance(v, bool))
    return DiagnosticLine(_str(item.get("name")), _str(item.get("status")), _str(item.get("message")), trend)


def _recommended(item: Mapping[str, Any]) -> RecommendedAction:
    return RecommendedAction(
        _str(item.get("id")), _str(item.get("name")), _str(item.get("type")), item.get("requiresApproval") is True
    )


def _approval_request(value: object) -> ApprovalRequest | None:
    item = _mapping(value)
    remediation = _str(item.get("remediation"))
    if not remediation:
        return None
    return ApprovalRequest(remediation, _str(item.get("name")) or remediation, _str(item.get("description")))
