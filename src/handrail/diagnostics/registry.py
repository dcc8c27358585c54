"""Build one probe per diagnostic type from the configured connections (one explicit table)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handrail.diagnostics.base import HttpConnection, Probe
from handrail.diagnostics.database_query import DatabaseQueryProbe
from handrail.diagnostics.http_check import HttpCheckProbe
from handrail.diagnostics.log_search import LogSearchProbe
from handrail.diagnostics.prometheus_query import PrometheusQueryProbe
from handrail.diagnostics.shell_command import ShellCommandProbe
from handrail.diagnostics.tls_certificate import TlsCertificateProbe
from handrail.sql import DatabaseConnection

__all__ = ["create_probes"]


def create_probes(
    *,
    prometheus: Mapping[str, HttpConnection],
    loki: Mapping[str, HttpConnection],
    databases: Mapping[str, DatabaseConnection],
) -> dict[str, Probe[Any]]:
    """A probe for every diagnostic type; the caller closes them with `aclose()`."""
    return {
        "prometheus_query": PrometheusQueryProbe(prometheus),
        "http_check": HttpCheckProbe(),
        "shell_command": ShellCommandProbe(),
        "database_query": DatabaseQueryProbe(databases),
        "log_search": LogSearchProbe(loki),
        "tls_certificate": TlsCertificateProbe(),
    }
