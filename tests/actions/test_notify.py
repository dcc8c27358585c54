"""notify renders the message and the channel and hands them to `send`; refusals become failed outcomes."""

from __future__ import annotations

from typing import Any

import pytest

from handrail.actions.base import ActionContext, ActionOutcome
from handrail.actions.notify import NotifyAction, NotifyParams
from handrail.errors import ActionError, NotifyError


class RecordingSend:
    """A `send` that records each (target, text), or refuses with `NotifyError` when told to."""

    def __init__(self, refuse: str | None = None) -> None:
        self.sent: list[tuple[str, str]] = []
        self.refuse = refuse

    async def __call__(self, target: str, text: str) -> None:
        if self.refuse is not None:
            raise NotifyError(self.refuse)
        self.sent.append((target, text))


def params(**config: Any) -> NotifyParams:
    return NotifyParams.model_validate(config)


def context(channel: str = "#oncall", **labels: str) -> ActionContext:
    return ActionContext(
        incident_id="inc-7",
        idempotency_key="inc-7:notify:1",
        template={"labels": labels, "annotations": {}},
        channel=channel,
    )


async def test_notify_action_sends_the_rendered_message_to_the_rendered_channel() -> None:
    send = RecordingSend()
    action = NotifyAction(send)
    config = params(message="{{ labels.service }} is degraded (p99 {{ labels.p99 }})", channel="#{{ labels.team }}")
    outcome = await action.execute(config, context(service="payments", p99="2.3s", team="payments"))
    assert outcome == ActionOutcome(True, "sent to #payments", "payments is degraded (p99 2.3s)")
    assert send.sent == [("#payments", "payments is degraded (p99 2.3s)")]
    await action.aclose()


async def test_notify_action_defaults_to_the_context_channel() -> None:
    send = RecordingSend()
    outcome = await NotifyAction(send).execute(params(message="restarting"), context(channel="@alice"))
    assert outcome.ok
    assert send.sent == [("@alice", "restarting")]


async def test_notify_action_keeps_label_values_as_text() -> None:
    send = RecordingSend()
    value = "<!channel> $(id) `id` {{ labels.x }}"
    await NotifyAction(send).execute(params(message="from {{ labels.v }}"), context(v=value))
    assert send.sent == [("#oncall", f"from {value}")]


async def test_notify_action_reports_a_refused_delivery_as_a_failed_outcome() -> None:
    send = RecordingSend(refuse="slack said channel_not_found")
    outcome = await NotifyAction(send).execute(params(message="hello", channel="#nope"), context())
    assert outcome == ActionOutcome(False, "not delivered to #nope: slack said channel_not_found", "hello")


@pytest.mark.parametrize(
    ("config", "channel", "error"),
    [
        pytest.param({"message": "hi"}, "", "no `channel`", id="no-target"),
        pytest.param({"message": "hi", "channel": "{{ labels.team }}"}, "#oncall", "no `channel`", id="empty-channel"),
        pytest.param({"message": "{{ labels.missing }}"}, "#oncall", "no value", id="missing-label"),
        pytest.param({"message": "{{ labels.", "channel": "#x"}, "#oncall", "never closed", id="bad-template"),
    ],
)
async def test_notify_action_raises_when_it_cannot_send(config: dict[str, Any], channel: str, error: str) -> None:
    send = RecordingSend()
    action = NotifyAction(send)
    with pytest.raises(ActionError, match=error):
        action.describe(params(**config), context(channel=channel, team=""))
    with pytest.raises(ActionError, match=error):
        await action.execute(params(**config), context(channel=channel, team=""))
    assert send.sent == []


def test_notify_action_describes_target_and_message() -> None:
    action = NotifyAction(RecordingSend())
    text = action.describe(params(message="{{ labels.service }} is down", channel="#payments"), context(service="api"))
    assert text == "notify #payments: api is down"
