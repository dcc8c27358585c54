"""notify: a message to a channel through the configured notifiers."""

from __future__ import annotations

from pydantic import Field

from handrail.actions.base import ActionParams

__all__ = ["NotifyParams"]


class NotifyParams(ActionParams):
    """`message` to `channel` (default: the runbook's escalation primary)."""

    message: str = Field(min_length=1)
    channel: str | None = None
