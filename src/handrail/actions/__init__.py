"""Action types: one module each, named after the `type` string that selects it."""

from __future__ import annotations

from handrail.actions.base import ActionParams
from handrail.actions.flush_cache import FlushCacheParams
from handrail.actions.notify import NotifyParams
from handrail.actions.restart_service import RestartServiceParams
from handrail.actions.rollback import RollbackParams
from handrail.actions.run_script import RunScriptParams
from handrail.actions.scale_up import ScaleUpParams

__all__ = ["ACTION_PARAMS", "ActionParams"]

ACTION_PARAMS: dict[str, type[ActionParams]] = {
    "restart_service": RestartServiceParams,
    "scale_up": ScaleUpParams,
    "rollback": RollbackParams,
    "flush_cache": FlushCacheParams,
    "run_script": RunScriptParams,
    "notify": NotifyParams,
}
