"""Certificates for TLS tests: a CA, leaf certificates it signs, and self-signed ones, as PEM files.

Each test chooses what matters (the SANs, when the certificate expires) and gets files a server
can load with `ssl.SSLContext.load_cert_chain` and a client can trust with `cafile=`:

    ca = CertificateAuthority.create(tmp_path)
    leaf = ca.issue(tmp_path, dns_names=["localhost"], ip_addresses=["127.0.0.1"], days_left=10)
    with HttpsServer(leaf) as server: ...

Keys are EC P-256: generating one takes microseconds, so every test can have its own.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertificateAuthority", "Leaf", "self_signed"]


@dataclass(frozen=True, slots=True)
class Leaf:
    """A certificate and its key, in memory and as PEM files."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_file: Path
    key_file: Path

    @property
    def not_after(self) -> dt.datetime:
        return self.certificate.not_valid_after_utc

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    @property
    def issuer(self) -> str:
        return self.certificate.issuer.rfc4514_string()


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    """A root CA that signs leaf certificates; `cert_file` is what a client trusts."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_file: Path

    @classmethod
    def create(cls, directory: Path, *, name: str = "Handrail Test CA") -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(name)
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        certificate = builder.sign(key, hashes.SHA256())
        cert_file = _unique(directory, _slug(name), "crt")
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return cls(certificate, key, cert_file)

    def issue(
        self,
        directory: Path,
        *,
        dns_names: Sequence[str] = ("localhost",),
        ip_addresses: Sequence[str] = ("127.0.0.1",),
        common_name: str | None = None,
        days_left: float = 30.0,
        valid_days: float = 90.0,
        san: bool = True,
    ) -> Leaf:
        """A leaf certificate that expires `days_left` days from now (negative: already expired)."""
        return _leaf(
            directory,
            issuer=self.certificate.subject,
            issuer_key=self.key,
            authority_key=self.key.public_key(),
            dns_names=dns_names,
            ip_addresses=ip_addresses,
            common_name=common_name or (dns_names[0] if dns_names else "handrail test leaf"),
            days_left=days_left,
            valid_days=valid_days,
            san=san,
        )


def self_signed(
    directory: Path,
    *,
    dns_names: Sequence[str] = ("localhost",),
    ip_addresses: Sequence[str] = ("127.0.0.1",),
    common_name: str | None = None,
    days_left: float = 30.0,
    valid_days: float = 90.0,
    san: bool = True,
) -> Leaf:
    """A certificate signed by its own key, trusted by nobody."""
    return _leaf(
        directory,
        issuer=None,
        issuer_key=None,
        authority_key=None,
        dns_names=dns_names,
        ip_addresses=ip_addresses,
        common_name=common_name or (dns_names[0] if dns_names else "handrail self-signed"),
        days_left=days_left,
        valid_days=valid_days,
        san=san,
    )


def _leaf(
    directory: Path,
    *,
    issuer: x509.Name | None,
    issuer_key: ec.EllipticCurvePrivateKey | None,
    authority_key: ec.EllipticCurvePublicKey | None,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str],
    common_name: str,
    days_left: float,
    valid_days: float,
    san: bool,
) -> Leaf:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(common_name)
    not_after = dt.datetime.now(dt.UTC) + dt.timedelta(days=days_left)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_after - dt.timedelta(days=valid_days))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    if authority_key is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(authority_key), critical=False
        )
    if san:
        names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
        names += [x509.IPAddress(ipaddress.ip_address(address)) for address in ip_addresses]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    certificate = builder.sign(issuer_key or key, hashes.SHA256())
    stem = _slug(common_name)
    cert_file = _unique(directory, stem, "crt")
    key_file = cert_file.with_suffix(".key")
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Leaf(certificate, key, cert_file, key_file)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Handrail Tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _slug(text: str) -> str:
    return "".join(char if char.isalnum() else "-" for char in text).strip("-") or "cert"


def _unique(directory: Path, stem: str, suffix: str) -> Path:
    """A file name in `directory` that is not taken yet (tests may issue several certificates)."""
    directory.mkdir(parents=True, exist_ok=True)
    index = 0
    while True:
        path = directory / (f"{stem}.{suffix}" if index == 0 else f"{stem}-{index}.{suffix}")
        if not path.exists() and not path.with_suffix(".key").exists():
            return path
        index += 1
