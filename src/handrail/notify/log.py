"""log: every notification as one structured log line (the notifier that always works)."""

from __future__ import annotations

import logging
import sys
import traceback

from handrail.notify.base import Notification

__all__ = ["LOUD_KINDS", "LogNotifier"]

LOUD_KINDS = frozenset({"opened", "escalated", "approval_needed"})
"""Kinds logged at WARNING, because someone has to act; every other kind is INFO."""
DEFAULT_LOGGER = "handrail.notify"


class LogNotifier:
    """Logs each notification: one line for humans, the whole notification in `extra["notification"]`."""

    name = "log"

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or logging.getLogger(DEFAULT_LOGGER)

    def accepts(self, target: str) -> bool:
        """Every target."""
        return True

    async def send(self, notification: Notification) -> None:
        """Log `notification`; never raises (a broken handler is reported on stderr, as logging does)."""
        level = logging.WARNING if notification.kind in LOUD_KINDS else logging.INFO
        try:
            # One line whatever the title holds; the text and fields travel in `extra` for
            # structured (JSON) handlers.
            self._logger.log(
                level,
                "notification %s to %s%s%s: %s",
                notification.kind,
                notification.target,
                f" [{notification.severity}]" if notification.severity else "",
                f" incident {notification.incident_id}" if notification.incident_id else "",
                " ".join(notification.title.split()),
                extra={"notification": notification.to_dict()},
            )
        except Exception:
            # logging.Handler.handle does not catch what a custom emit() or filter raises; the
            # last-resort notifier must not fail the job delivering it. This is what
            # logging.Handler.handleError does for the handlers that catch their own errors.
            if logging.raiseExceptions:
                traceback.print_exc(file=sys.stderr)

    async def aclose(self) -> None:
        """Nothing to release."""
