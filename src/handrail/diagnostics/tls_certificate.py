"""tls_certificate: how long until the certificates served at host:port expire.

The handshake does not verify the certificate, so an expired or self-signed one can still be
read; whether it is valid for the host name is checked here (RFC 6125) and reported as
`hostname_ok`. With `caFile`, the handshake first tries to verify the chain against that CA, and
the message says whether it did. A target that cannot be reached fails the whole probe: without
it there is no trustworthy minimum.

Targets and `serverName` are addresses (`TemplateAddress`): an alert label never chooses where the
handshake goes, so a placeholder in either is lint error HR320 and refused here before connecting.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from cryptography import x509
from cryptography.x509.oid import NameOID
from pydantic import Field

from handrail.diagnostics.base import Observation, ProbeContext, ProbeParams
from handrail.errors import ProbeError, TemplateError
from handrail.runbook.template import TemplateAddress, render_address

__all__ = ["TlsCertificateParams", "TlsCertificateProbe"]

BUDGET_SHARE = 0.9
"""The share of the step's timeout one handshake may take, so the probe answers before the step times out."""
_CLOSE_WAIT = 1.0
"""Seconds to wait for a polite TLS close before dropping the connection."""
_BRACKETED = re.compile(r"^\[([^\[\]]+)\]:(\d{1,5})$")
_PLAIN = re.compile(r"^([A-Za-z0-9_.-]+):(\d{1,5})$")
_DNS_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$")


class TlsCertificateParams(ProbeParams):
    """`targets`: `host:port` strings; `serverName` overrides SNI and the name checked; neither takes a placeholder."""

    targets: list[TemplateAddress] = Field(min_length=1)
    server_name: TemplateAddress | None = None
    ca_file: str | None = None

    PROVIDES: ClassVar[Mapping[str, str]] = {
        "days_left": "the fewest days until a certificate expires (negative once expired)",
        "expired": "true when a certificate has expired",
        "not_after": "the earliest expiry, as an ISO 8601 time",
        "subject": "the subject of the certificate that expires first",
        "issuer": "the issuer of the certificate that expires first",
        "hostname_ok": "true when every certificate is valid for its host name",
    }


@dataclass(frozen=True, slots=True)
class _Target:
    """A parsed `host:port` and the name the certificate must be valid for."""

    text: str
    host: str
    port: int
    name: str


@dataclass(frozen=True, slots=True)
class _Served:
    """The leaf certificate one target served and what was learned about it."""

    target: _Target
    certificate: x509.Certificate
    hostname_ok: bool
    chain_error: str | None
    """Why the chain did not verify against `caFile`; None when it did or when no `caFile` was given."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TlsCertificateProbe:
    """Reads the certificate each target serves and reports the one that expires first."""

    def __init__(self, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._clock = clock

    async def observe(self, params: TlsCertificateParams, context: ProbeContext) -> Observation:
        targets = [_target(text, params.server_name, context) for text in params.targets]
        verifying = _verifying_context(params.ca_file) if params.ca_file else None
        budget = context.timeout * BUDGET_SHARE
        results = await asyncio.gather(
            *(_fetch(target, verifying, budget) for target in targets), return_exceptions=True
        )
        failures = [str(result) for result in results if isinstance(result, ProbeError)]
        if failures:
            raise ProbeError("; ".join(failures))
        for result in results:
            if isinstance(result, BaseException):
                raise result
        served = [result for result in results if isinstance(result, _Served)]
        return self._observation(served, checked_chain=verifying is not None)

    async def aclose(self) -> None:
        """Nothing is held between observations."""

    def _observation(self, served: list[_Served], *, checked_chain: bool) -> Observation:
        now = self._clock()
        first = min(served, key=lambda item: item.certificate.not_valid_after_utc)
        not_after = first.certificate.not_valid_after_utc
        days_left = (not_after - now).total_seconds() / 86400
        mismatched = [item.target.text for item in served if not item.hostname_ok]
        values = {
            "days_left": days_left,
            "expired": days_left < 0,
            "not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "subject": first.certificate.subject.rfc4514_string(),
            "issuer": first.certificate.issuer.rfc4514_string(),
            "hostname_ok": not mismatched,
        }
        when = f"({not_after:%Y-%m-%d})"
        if days_left < 0:
            expiry = f"expired {-days_left:.1f} days ago {when}"
        else:
            expiry = f"expires in {days_left:.1f} days {when}"
        lead = f"{first.target.text} {expiry}"
        if len(served) > 1:
            lead = f"{len(served)} targets; {first.target.text} first, {expiry}"
        parts = [lead, f"hostname mismatch: {', '.join(mismatched)}" if mismatched else "hostname ok"]
        if checked_chain:
            untrusted = [f"{item.target.text} ({item.chain_error})" for item in served if item.chain_error]
            parts.append(f"chain not trusted by caFile: {', '.join(untrusted)}" if untrusted else "chain ok")
        return Observation(values=values, message="; ".join(parts))


def _target(text: str, server_name: str | None, context: ProbeContext) -> _Target:
    """Parse one `host:port` (IPv6 in brackets), or raise `ProbeError`; a placeholder in either is refused."""
    try:
        rendered = render_address(text, context.template).strip()
    except TemplateError as exc:
        raise ProbeError(f"target {text!r}: {exc}") from exc
    try:
        name = render_address(server_name, context.template).strip() if server_name else None
    except TemplateError as exc:
        raise ProbeError(f"serverName {server_name!r}: {exc}") from exc
    bracketed = _BRACKETED.match(rendered)
    plain = _PLAIN.match(rendered)
    if bracketed:
        host, port_text = bracketed.groups()
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ProbeError(f"target {rendered!r}: {host!r} in brackets is not an IPv6 address") from None
    elif plain:
        host, port_text = plain.groups()
    elif _is_ipv6(rendered) or _is_ipv6(rendered.rpartition(":")[0]):  # `::1:443` or `::1`
        raise ProbeError(f"target {rendered!r}: write an IPv6 address in brackets, like [::1]:443")
    else:
        raise ProbeError(f"target {rendered!r} is not host:port (like www.example.com:443 or [::1]:443)")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ProbeError(f"target {rendered!r}: port {port} is not between 1 and 65535")
    if name is not None and _a_label(name) is None and not _is_ip(name):
        raise ProbeError(f"serverName {name!r} is not a host name")
    return _Target(rendered, host, port, name or host)


def _verifying_context(ca_file: str) -> ssl.SSLContext:
    """A client context that verifies the chain against `ca_file` (the host name is checked apart)."""
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ProbeError(f"caFile {ca_file!r} cannot be loaded: {exc}") from exc
    context.check_hostname = False
    return context


def _reading_context() -> ssl.SSLContext:
    """A client context that accepts any certificate, so expired and self-signed ones can be read."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def _fetch(target: _Target, verifying: ssl.SSLContext | None, budget: float) -> _Served:
    """Handshake with `target` and read its leaf certificate, or raise `ProbeError` naming it."""
    chain_error: str | None = None
    try:
        async with asyncio.timeout(budget):
            der: bytes | None = None
            if verifying is not None:
                try:
                    der = await _handshake(target, verifying)
                except ssl.SSLCertVerificationError as exc:
                    chain_error = exc.verify_message or str(exc)
            if der is None:
                der = await _handshake(target, _reading_context())
    except TimeoutError as exc:
        raise ProbeError(f"{target.text}: no TLS handshake within {budget:.1f}s") from exc
    except ssl.SSLError as exc:
        raise ProbeError(f"{target.text}: TLS handshake failed: {exc.reason or exc}") from exc
    except OSError as exc:
        raise ProbeError(f"{target.text}: cannot connect: {_describe(exc)}") from exc
    try:
        certificate = x509.load_der_x509_certificate(der)
        hostname_ok = _hostname_matches(certificate, target.name)
    except ValueError as exc:
        raise ProbeError(f"{target.text}: the certificate cannot be read: {exc}") from exc
    return _Served(target, certificate, hostname_ok, chain_error)


async def _handshake(target: _Target, context: ssl.SSLContext) -> bytes:
    """The DER of the leaf certificate `target` serves over a handshake with `context`."""
    # For an IP address Python sends no SNI; the name is only used for SNI (checks are ours).
    _, writer = await asyncio.open_connection(target.host, target.port, ssl=context, server_hostname=target.name)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    finally:
        writer.close()
        try:
            async with asyncio.timeout(_CLOSE_WAIT):
                await writer.wait_closed()
        except (OSError, TimeoutError):
            writer.transport.abort()  # the peer did not answer our close_notify; do not wait for it
    if not der:
        raise ssl.SSLError("the server sent no certificate")
    return bytes(der)


def _describe(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"DNS lookup failed: {exc.strerror or exc}"
    return str(exc) or type(exc).__name__


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _hostname_matches(certificate: x509.Certificate, name: str) -> bool:
    """Whether the certificate is valid for `name` (RFC 6125: SANs; the CN only when there are none)."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    if _is_ip(name):
        # RFC 6125 section 6.2.1 (via RFC 5280): an IP address matches iPAddress SANs only, never a name.
        address = ipaddress.ip_address(name)
        return san is not None and address in san.get_values_for_type(x509.IPAddress)
    reference = _a_label(name)
    if reference is None:
        return False
    # RFC 6125 section 6.4.4: the CN is a fallback, here only for certificates without any SAN.
    presented = san.get_values_for_type(x509.DNSName) if san is not None else _common_names(certificate)
    return any(_dns_matches(pattern, reference) for pattern in presented)


def _common_names(certificate: x509.Certificate) -> list[str]:
    attributes = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return [attribute.value for attribute in attributes if isinstance(attribute.value, str)]


def _a_label(name: str) -> str | None:
    """`name` lower-cased, without a trailing dot, in ASCII (IDNA); None when it is not a host name."""
    name = name.rstrip(".").lower()
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = ascii_name.split(".")
    return ascii_name if all(_DNS_LABEL.match(label) for label in labels) else None


def _dns_matches(pattern: str, reference: str) -> bool:
    """RFC 6125 section 6.4.3: exact match, or `*` as the whole left-most label standing for one label."""
    pattern = pattern.rstrip(".").lower()
    if not pattern.startswith("*."):
        return "*" not in pattern and pattern == reference
    suffix = pattern[2:]
    # `*.com` would cover a whole public suffix; like OpenSSL, a wildcard needs two labels after it.
    if "*" in suffix or "." not in suffix:
        return False
    head, _, rest = reference.partition(".")
    return bool(head) and rest == suffix
