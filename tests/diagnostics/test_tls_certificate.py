"""tls_certificate against real local TLS servers with certificates made for each case."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from handrail.diagnostics.base import ProbeContext
from handrail.diagnostics.tls_certificate import TlsCertificateParams, TlsCertificateProbe
from handrail.engine import assess
from handrail.errors import ProbeError
from handrail.runbook.model import Runbook
from support.certificates import CertificateAuthority, Leaf, self_signed
from support.servers import HttpServer, HttpsServer, refused_port, server_threads, silent_port

FAST = ProbeContext(timeout=5.0)
SHORT = ProbeContext(timeout=1.0)


def _params(*targets: str, server_name: str | None = None, ca_file: Path | None = None) -> TlsCertificateParams:
    """Params as a runbook file spells them (camelCase)."""
    config: dict[str, object] = {"targets": list(targets)}
    if server_name is not None:
        config["serverName"] = server_name
    if ca_file is not None:
        config["caFile"] = str(ca_file)
    return TlsCertificateParams.model_validate(config)


def _target(server: HttpsServer) -> str:
    return f"127.0.0.1:{server.port}"


@pytest.fixture(autouse=True)
def _no_leaked_server_threads() -> Iterator[None]:
    yield
    assert server_threads() == []


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path_factory.mktemp("ca"))


def _serve(leaf: Leaf) -> HttpsServer:
    return HttpsServer(leaf.cert_file, leaf.key_file)


async def test_tls_certificate_probe_reports_a_valid_certificate(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    leaf = authority.issue(tmp_path, dns_names=["www.example.com"], days_left=30)
    with _serve(leaf) as server:
        observation = await TlsCertificateProbe().observe(_params(_target(server), server_name="www.example.com"), FAST)

    values = observation.values
    assert set(values) == set(TlsCertificateParams.PROVIDES)
    assert values["days_left"] == pytest.approx(30, abs=0.1)
    assert values["expired"] is False
    assert values["not_after"] == leaf.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert values["subject"] == leaf.subject == "CN=www.example.com,O=Handrail Tests"
    assert values["issuer"] == authority.certificate.subject.rfc4514_string()
    assert values["hostname_ok"] is True
    assert observation.message == (f"{_target(server)} expires in 30.0 days ({leaf.not_after:%Y-%m-%d}); hostname ok")


async def test_tls_certificate_probe_reports_an_expired_certificate(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    leaf = authority.issue(tmp_path, days_left=-2)
    with _serve(leaf) as server:
        observation = await TlsCertificateProbe().observe(_params(_target(server)), FAST)

    assert observation.values["days_left"] == pytest.approx(-2, abs=0.1)
    assert observation.values["expired"] is True
    assert "expired 2.0 days ago" in observation.message


async def test_tls_certificate_probe_counts_days_with_the_clock_it_is_given(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    leaf = authority.issue(tmp_path, days_left=100)
    probe = TlsCertificateProbe(clock=lambda: leaf.not_after - dt.timedelta(days=12.5))
    with _serve(leaf) as server:
        observation = await probe.observe(_params(_target(server)), FAST)

    assert observation.values["days_left"] == 12.5
    assert observation.message.startswith(f"{_target(server)} expires in 12.5 days ({leaf.not_after:%Y-%m-%d})")


async def test_tls_certificate_probe_reports_a_certificate_for_another_host(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    leaf = authority.issue(tmp_path, dns_names=["other.example.com"], ip_addresses=[])
    with _serve(leaf) as server:
        observation = await TlsCertificateProbe().observe(_params(_target(server), server_name="www.example.com"), FAST)

    assert observation.values["hostname_ok"] is False
    assert observation.values["expired"] is False
    assert observation.message.endswith(f"hostname mismatch: {_target(server)}")


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        pytest.param("api.example.com", True, id="one-level"),
        pytest.param("API.Example.COM.", True, id="case-and-trailing-dot"),
        pytest.param("a.b.example.com", False, id="two-levels"),
        pytest.param("example.com", False, id="bare-domain"),
        pytest.param("api.example.org", False, id="other-domain"),
    ],
)
async def test_tls_certificate_probe_matches_a_wildcard_for_one_label_only(
    authority: CertificateAuthority, tmp_path: Path, name: str, ok: bool
) -> None:
    leaf = authority.issue(tmp_path, dns_names=["*.example.com"], ip_addresses=[])
    with _serve(leaf) as server:
        values = (await TlsCertificateProbe().observe(_params(_target(server), server_name=name), FAST)).values

    assert values["hostname_ok"] is ok


@pytest.mark.parametrize(
    ("dns_names", "ip_addresses", "ok"),
    [
        pytest.param([], ["127.0.0.1"], True, id="ip-san"),
        pytest.param(["localhost"], ["10.0.0.1"], False, id="other-ip"),
        pytest.param(["127.0.0.1"], [], False, id="ip-written-as-dns-name"),
    ],
)
async def test_tls_certificate_probe_matches_an_ip_address_against_ip_sans(
    authority: CertificateAuthority, tmp_path: Path, dns_names: list[str], ip_addresses: list[str], ok: bool
) -> None:
    leaf = authority.issue(tmp_path, dns_names=dns_names, ip_addresses=ip_addresses, common_name="127.0.0.1")
    with _serve(leaf) as server:
        values = (await TlsCertificateProbe().observe(_params(_target(server)), FAST)).values

    assert values["hostname_ok"] is ok


@pytest.mark.parametrize(
    ("san", "ok"),
    [pytest.param(False, True, id="no-san-uses-cn"), pytest.param(True, False, id="san-wins-over-cn")],
)
async def test_tls_certificate_probe_falls_back_to_the_common_name_only_without_sans(
    authority: CertificateAuthority, tmp_path: Path, san: bool, ok: bool
) -> None:
    leaf = authority.issue(
        tmp_path, dns_names=["other.example.com"], ip_addresses=[], common_name="legacy.example.com", san=san
    )
    with _serve(leaf) as server:
        values = (
            await TlsCertificateProbe().observe(_params(_target(server), server_name="legacy.example.com"), FAST)
        ).values

    assert values["hostname_ok"] is ok


async def test_tls_certificate_probe_reports_the_certificate_that_expires_first(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    later = authority.issue(tmp_path, dns_names=["later.example.com"], days_left=60)
    sooner = authority.issue(tmp_path, dns_names=["sooner.example.com"], days_left=5)
    wrong = authority.issue(tmp_path, dns_names=["later.example.com"], ip_addresses=[], days_left=90)
    with _serve(later) as first, _serve(sooner) as second, _serve(wrong) as third:
        observation = await TlsCertificateProbe().observe(
            _params(_target(first), _target(second), _target(third)), FAST
        )

    values = observation.values
    assert values["days_left"] == pytest.approx(5, abs=0.1)
    assert values["subject"] == sooner.subject
    assert values["not_after"] == sooner.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert values["expired"] is False
    assert values["hostname_ok"] is False  # the third one has no SAN for 127.0.0.1
    assert observation.message.startswith(f"3 targets; {_target(second)} first, expires in 5.0 days")
    assert observation.message.endswith(f"hostname mismatch: {_target(third)}")


async def test_tls_certificate_probe_says_whether_the_chain_verifies_with_ca_file(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    issued = authority.issue(tmp_path)
    untrusted = self_signed(tmp_path)
    with _serve(issued) as trusted_server, _serve(untrusted) as untrusted_server:
        trusted = await TlsCertificateProbe().observe(
            _params(_target(trusted_server), ca_file=authority.cert_file), FAST
        )
        mixed = await TlsCertificateProbe().observe(
            _params(_target(trusted_server), _target(untrusted_server), ca_file=authority.cert_file), FAST
        )

    assert trusted.message.endswith("; chain ok")
    assert f"chain not trusted by caFile: {_target(untrusted_server)} (self" in mixed.message
    assert _target(trusted_server) not in mixed.message.partition("chain not trusted")[2]
    assert mixed.values["days_left"] == pytest.approx(30, abs=0.1)  # still read, though not trusted


async def test_tls_certificate_probe_raises_when_ca_file_cannot_be_loaded(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match=r"caFile .* cannot be loaded"):
        await TlsCertificateProbe().observe(_params("127.0.0.1:443", ca_file=tmp_path / "missing.pem"), FAST)


async def test_tls_certificate_probe_raises_naming_a_target_it_cannot_reach(
    authority: CertificateAuthority, tmp_path: Path
) -> None:
    leaf = authority.issue(tmp_path)
    with _serve(leaf) as server, refused_port() as port, pytest.raises(ProbeError) as caught:
        await TlsCertificateProbe().observe(_params(_target(server), f"127.0.0.1:{port}"), FAST)

    assert str(caught.value) == f"127.0.0.1:{port}: cannot connect: connection refused"


async def test_tls_certificate_probe_raises_within_the_timeout_when_the_server_never_answers() -> None:
    with silent_port() as port:
        async with asyncio.timeout(SHORT.timeout):
            with pytest.raises(ProbeError) as caught:
                await TlsCertificateProbe().observe(_params(f"127.0.0.1:{port}"), SHORT)

    assert str(caught.value) == f"127.0.0.1:{port}: no TLS handshake within 0.9s"


async def test_tls_certificate_probe_raises_when_the_server_does_not_speak_tls() -> None:
    # a plain HTTP server answers a ClientHello with an HTTP 400, which is no TLS record
    with HttpServer() as server, pytest.raises(ProbeError, match=f"127.0.0.1:{server.port}: TLS handshake failed"):
        await TlsCertificateProbe().observe(_params(f"127.0.0.1:{server.port}"), FAST)


@pytest.mark.parametrize(
    ("target", "error"),
    [
        pytest.param("www.example.com", "is not host:port", id="no-port"),
        pytest.param("www.example.com:", "is not host:port", id="empty-port"),
        pytest.param(":443", "is not host:port", id="no-host"),
        pytest.param("www.example.com:https", "is not host:port", id="named-port"),
        pytest.param("www.example.com:0", "port 0 is not between 1 and 65535", id="port-zero"),
        pytest.param("www.example.com:65536", "port 65536 is not between", id="port-too-big"),
        pytest.param("https://www.example.com:443", "is not host:port", id="url"),
        pytest.param("www.example.com:443/path", "is not host:port", id="path"),
        pytest.param("exa mple.com:443", "is not host:port", id="space"),
        pytest.param("::1:443", "write an IPv6 address in brackets", id="bare-ipv6"),
        pytest.param("192.0.2.1", "is not host:port", id="ipv4-without-port"),
        pytest.param("[www.example.com]:443", "is not an IPv6 address", id="brackets-around-a-name"),
        pytest.param("[::1]", "is not host:port", id="ipv6-without-port"),
        pytest.param("db.internal:22:443", "'db.internal:22:443' is not host:port", id="two-ports"),
    ],
)
async def test_tls_certificate_probe_raises_on_a_malformed_target(target: str, error: str) -> None:
    with pytest.raises(ProbeError, match=error):
        await TlsCertificateProbe().observe(_params(target), FAST)


async def test_tls_certificate_probe_parses_a_bracketed_ipv6_target() -> None:
    # nothing listens on [::1] at that port either: the error shows parsing got as far as connecting
    with refused_port() as port, pytest.raises(ProbeError, match=rf"^\[::1\]:{port}: cannot connect"):
        await TlsCertificateProbe().observe(_params(f"[::1]:{port}"), FAST)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A port that takes TCP connections into its backlog, so a test can tell whether anyone connected."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        sock.setblocking(False)
        yield sock


def _nobody_connected(sock: socket.socket) -> bool:
    try:
        connection, _ = sock.accept()
    except BlockingIOError:
        return True
    connection.close()
    return False


@pytest.mark.parametrize(
    ("target", "server_name", "error"),
    [
        pytest.param(
            "127.0.0.1:{{ labels.port }}",
            None,
            r"^target '127\.0\.0\.1:\{\{ labels\.port \}\}': column 11: .* is in the address's port",
            id="port",
        ),
        pytest.param("{{ labels.host }}:{port}", None, r"^target .* is in the address's host", id="host"),
        pytest.param(
            "127.0.0.1:{port}",
            "{{ labels.service }}.example.com",
            r"^serverName .* is in the address's host",
            id="server-name",
        ),
    ],
)
async def test_tls_certificate_probe_refuses_a_label_choosing_where_it_connects_without_connecting(
    listener: socket.socket, target: str, server_name: str | None, error: str
) -> None:
    # a runbook that skipped lint (HR320): the labels name a port that would take the connection
    port = listener.getsockname()[1]
    labels = {"host": "127.0.0.1", "port": str(port), "service": "payments"}
    context = ProbeContext(template={"labels": labels, "annotations": {}}, timeout=1.0)
    params = _params(target.replace("{port}", str(port)), server_name=server_name)

    with pytest.raises(ProbeError, match=error):
        await TlsCertificateProbe().observe(params, context)
    assert _nobody_connected(listener)


async def test_tls_certificate_diagnostic_reads_error_when_a_label_would_choose_the_target(
    listener: socket.socket,
) -> None:
    port = listener.getsockname()[1]
    runbook = Runbook.model_validate(
        {
            "id": "certs",
            "name": "Certs",
            "description": "d",
            "severity": "P3",
            "service": "s",
            "triggers": [{"type": "manual"}],
            "diagnostics": [
                {
                    "id": "cert",
                    "name": "Cert",
                    "description": "d",
                    "type": "tls_certificate",
                    "config": {"targets": ["{{ labels.instance }}"]},
                    "interpret": {"critical": "expired", "healthy": "!expired"},
                }
            ],
            "decisionTree": [{"otherwise": True, "then": ["page"], "description": "d"}],
            "remediations": [{"id": "page", "name": "Page", "description": "d", "type": "escalate"}],
            "escalation": {"primary": "#x"},
        }
    )
    assessment = await assess(
        runbook, probes={"tls_certificate": TlsCertificateProbe()}, labels={"instance": f"127.0.0.1:{port}"}
    )

    result = assessment.result("cert")
    assert result is not None
    assert result.status == "error"
    assert "{{ labels.instance }} is in the address's host" in result.message
    assert _nobody_connected(listener)
