"""Every use of DBOS's private API, in one module.

Handrail takes over a dead worker's incidents (engine/takeover.py) by asking DBOS to recover that
executor's pending workflows. DBOS only does this itself for its own executor id at start-up, or when
its Conductor service asks; there is no public call. Upstream's Conductor client makes this same
call (`DBOS._recover_pending_workflows`), so we make it here and nowhere else. A DBOS upgrade that
renames or reshapes it fails tests/engine/test_dbos_private.py, which checks the signature below and
really recovers a killed executor's workflow on SQLite.
"""

from __future__ import annotations

from dbos import DBOS

__all__ = ["RECOVER_PARAMETERS", "recover_pending_workflows"]

RECOVER_PARAMETERS = ("executor_ids",)
"""The parameters of `DBOS._recover_pending_workflows` this module passes (by position)."""


def recover_pending_workflows(executor_id: str) -> list[str]:
    """Put the workflows still PENDING under `executor_id` back on their queue; their ids.

    It only touches workflows of this process's DBOS application version, so a repeat does nothing.
    """
    return [handle.get_workflow_id() for handle in DBOS._recover_pending_workflows([executor_id])]
