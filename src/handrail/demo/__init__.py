"""`handrail demo`: a game day on real components (a payment service, PostgreSQL, Prometheus, Alertmanager).

`postgres.py` runs a throwaway PostgreSQL cluster; the other modules build the demo world on it.
"""

from __future__ import annotations

from handrail.errors import DemoError

__all__ = ["DemoError"]
