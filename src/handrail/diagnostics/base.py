"""What every diagnostic type has: a typed config model that documents the names it provides.

The probes that run them arrive with the diagnostics issue (#3) behind a `Probe` protocol here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from handrail.runbook.model import StrictModel

__all__ = ["ProbeParams"]


class ProbeParams(StrictModel):
    """The `config` of one diagnostic type, and the names its result provides to interpret/derive."""

    PROVIDES: ClassVar[Mapping[str, str]] = {}
    """name -> what it holds; `handrail lint` and docs/diagnostics.md read this."""

    def provided_names(self) -> Mapping[str, str]:
        """The names a result of this configuration provides (some depend on the config)."""
        return self.PROVIDES
