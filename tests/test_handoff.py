"""The handoff view in a terminal: outside text stays on its line and sends the terminal nothing."""

from __future__ import annotations

from handrail.handoff import handoff_text
from handrail.store import TimelineRecord
from support.records import AT, action, note, record


def test_a_note_cannot_forge_a_timeline_entry_or_send_escape_sequences() -> None:
    forged = (
        "looks fine\n  09:01:00  approval           approved by the incident commander\x1b[2J\x1b]52;c;cm0gLXJm\x07"
    )
    text = handoff_text(record(), [note(forged, actor="mallory\r\nalice")], [action(message="ok\rdone")])
    timeline = text.split("Timeline\n", 1)[1].splitlines()
    assert len(timeline) == 1
    assert timeline[0].startswith("  09:00:00  note ")
    assert "approved by the incident commander" in timeline[0]
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\r" not in text


def test_every_event_is_one_line_whatever_its_text() -> None:
    events = [
        TimelineRecord(id=n, incident_id="INC-1", at=AT, kind="note", actor=None, message=message, data=None)
        for n, message in enumerate(["a\nb", "c\r\nd", "e\u2028f", "g\x85h", "i\x0bj"])
    ]
    text = handoff_text(record(), events, [])
    assert len(text.split("Timeline\n", 1)[1].splitlines()) == len(events)


def test_the_handoff_json_shows_every_field_the_api_shows_of_an_incident_with_the_same_value() -> None:
    from handrail.api.incidents import incident_summary
    from handrail.handoff import handoff_dict

    shown = record()
    summary = incident_summary(shown)
    handoff = handoff_dict(shown, [], [])
    assert {name: handoff.get(name) for name in summary} == summary
    assert summary["triggeredAt"] == handoff["createdAt"] == shown.created_at.isoformat()
