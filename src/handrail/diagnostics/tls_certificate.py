"""tls_certificate: how long until the certificates served at host:port expire."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field

from handrail.diagnostics.base import ProbeParams

__all__ = ["TlsCertificateParams"]


class TlsCertificateParams(ProbeParams):
    """`targets`: `host:port` strings; `serverName` overrides SNI and the name checked."""

    targets: list[str] = Field(min_length=1)
    server_name: str | None = None
    ca_file: str | None = None

    PROVIDES: ClassVar[Mapping[str, str]] = {
        "days_left": "the fewest days until a certificate expires (negative once expired)",
        "expired": "true when a certificate has expired",
        "not_after": "the earliest expiry, as an ISO 8601 time",
        "subject": "the subject of the certificate that expires first",
        "issuer": "the issuer of the certificate that expires first",
        "hostname_ok": "true when every certificate is valid for its host name",
    }
