"""Diagnostic types: one module each, named after the `type` string that selects it."""

from __future__ import annotations

from handrail.diagnostics.base import ProbeParams
from handrail.diagnostics.database_query import DatabaseQueryParams
from handrail.diagnostics.http_check import HttpCheckParams
from handrail.diagnostics.log_search import LogSearchParams
from handrail.diagnostics.prometheus_query import PrometheusQueryParams
from handrail.diagnostics.shell_command import ShellCommandParams
from handrail.diagnostics.tls_certificate import TlsCertificateParams

__all__ = ["DIAGNOSTIC_PARAMS", "ProbeParams"]

DIAGNOSTIC_PARAMS: dict[str, type[ProbeParams]] = {
    "prometheus_query": PrometheusQueryParams,
    "http_check": HttpCheckParams,
    "shell_command": ShellCommandParams,
    "database_query": DatabaseQueryParams,
    "log_search": LogSearchParams,
    "tls_certificate": TlsCertificateParams,
}
