"""The HTTP API of `handrail serve`."""

from __future__ import annotations

from handrail.api.app import create_app
from handrail.api.state import ApiState, CatalogHolder

__all__ = ["ApiState", "CatalogHolder", "create_app"]
