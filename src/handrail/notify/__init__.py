"""Notifiers: one module each (`webhook`, `log`; later `slack`, `pagerduty`), behind `Notifier`."""

from __future__ import annotations

from handrail.notify.base import Notification, Notifier
from handrail.notify.log import LogNotifier
from handrail.notify.webhook import WebhookNotifier, WebhookNotifierConfig

__all__ = ["LogNotifier", "Notification", "Notifier", "WebhookNotifier", "WebhookNotifierConfig"]
