"""log: one structured line per notification, at a level that says whether someone must act."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from handrail.notify import LogNotifier, Notification, Notifier

NOTIFICATION = Notification(
    target="#incidents-payment",
    kind="opened",
    title="Payment DB connections\nexhausted",
    text="Pool usage is 97%.\nRunbook: payment-db-connections",
    severity="P1",
    incident_id="INC-42",
    fields={"service": "payments"},
    dedup_key="INC-42:opened",
)


@pytest.mark.parametrize(
    ("kind", "level"),
    [
        pytest.param("opened", logging.WARNING, id="opened"),
        pytest.param("escalated", logging.WARNING, id="escalated"),
        pytest.param("approval_needed", logging.WARNING, id="approval_needed"),
        pytest.param("action", logging.INFO, id="action"),
        pytest.param("resolved", logging.INFO, id="resolved"),
        pytest.param("message", logging.INFO, id="message"),
    ],
)
async def test_log_notifier_logs_at_the_level_of_the_kind(
    kind: str, level: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="handrail.notify")
    await LogNotifier().send(replace(NOTIFICATION, kind=kind))
    [record] = caplog.records
    assert record.name == "handrail.notify"
    assert record.levelno == level


async def test_log_notifier_logs_one_line_with_the_notification_in_extra(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.notify.log")
    caplog.set_level(logging.INFO, logger=logger.name)
    await LogNotifier(logger).send(NOTIFICATION)

    [record] = caplog.records
    assert record.name == "test.notify.log"
    assert record.getMessage() == (
        "notification opened to #incidents-payment [P1] incident INC-42: Payment DB connections exhausted"
    )
    assert record.notification == {  # type: ignore[attr-defined]
        "kind": "opened",
        "target": "#incidents-payment",
        "title": "Payment DB connections\nexhausted",
        "text": "Pool usage is 97%.\nRunbook: payment-db-connections",
        "severity": "P1",
        "incidentId": "INC-42",
        "fields": {"service": "payments"},
        "dedupKey": "INC-42:opened",
    }


async def test_log_notifier_leaves_out_what_is_unset(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="handrail.notify")
    await LogNotifier().send(Notification("ops", "message", "Disk cleaned", "freed 20 GB"))
    assert caplog.records[0].getMessage() == "notification message to ops: Disk cleaned"


async def test_log_notifier_accepts_every_target_and_closes_quietly() -> None:
    notifier: Notifier = LogNotifier()
    assert notifier.name == "log"
    assert all(notifier.accepts(target) for target in ("#anything", "pagerduty:dba-oncall", ""))
    await notifier.aclose()


class BrokenHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        raise RuntimeError("the log shipper is down")


async def test_log_notifier_never_raises_when_a_handler_fails(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("test.notify.broken")
    logger.addHandler(handler := BrokenHandler())
    logger.propagate = False
    try:
        await LogNotifier(logger).send(NOTIFICATION)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert "the log shipper is down" in capsys.readouterr().err
