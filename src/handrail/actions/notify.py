"""notify: a message to a channel through the configured notifiers.

The action renders `message` (and `channel`) with `render_text` and hands them to the `send`
function it was built with; which notifier delivers to which target is that function's business.
A refused delivery (`NotifyError`) is a failed outcome; no target at all is an `ActionError`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import Field

from handrail.actions.base import ActionContext, ActionOutcome, ActionParams, ActionScope
from handrail.errors import ActionError, NotifyError, TemplateError
from handrail.runbook.template import render_text

__all__ = ["NotifyAction", "NotifyParams"]


class NotifyParams(ActionParams):
    """`message` to `channel` (default: the runbook's escalation primary)."""

    message: str = Field(min_length=1)
    channel: str | None = None


class NotifyAction:
    """Runs `notify` actions through `send(target, text)`, which raises `NotifyError` when it fails."""

    def __init__(self, send: Callable[[str, str], Awaitable[None]]) -> None:
        self._send = send

    def describe(self, params: NotifyParams, context: ActionContext) -> str:
        """`notify #payments: <the message, rendered>`."""
        target, text = _render(params, context)
        return f"notify {target}: {text}"

    def scope(self, params: NotifyParams, context: ActionContext) -> ActionScope:
        target, _ = _render(params, context)
        return ActionScope(target=f"notify:{target}")

    async def execute(self, params: NotifyParams, context: ActionContext) -> ActionOutcome:
        """Send the rendered message to the channel (or the context's default channel) once."""
        target, text = _render(params, context)
        try:
            await self._send(target, text)
        except NotifyError as exc:
            return ActionOutcome(False, f"not delivered to {target}: {exc}", text)
        return ActionOutcome(True, f"sent to {target}", text)

    async def aclose(self) -> None:
        """Nothing to release: the notifiers behind `send` belong to whoever made it."""


def _render(params: NotifyParams, context: ActionContext) -> tuple[str, str]:
    """The target and the text, or raise `ActionError`."""
    try:
        text = render_text(params.message, context.template)
        target = render_text(params.channel, context.template).strip() if params.channel else context.channel
    except TemplateError as exc:
        raise ActionError(f"notify: {exc}") from exc
    if not target:
        raise ActionError("notify: no `channel`, and the runbook names no escalation primary to default to")
    return target, text
