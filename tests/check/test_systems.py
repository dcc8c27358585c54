"""`handrail check` beyond Prometheus and SQL: connections (Redis, Loki, Kubernetes), programs, log files, hosts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from handrail.actions.flush_cache import CacheConnection
from handrail.actions.kubernetes import KubernetesConnection
from handrail.check import CheckResult, check_paths, create_checkers
from handrail.diagnostics.base import HttpConnection
from handrail.runbook.problem import CODES
from handrail.settings import Settings
from support.fixtures import place_of
from support.kubernetes import KubernetesApiServer, deployment, write_kubeconfig
from support.loki import LokiServer
from support.prometheus import closed_port

RUNBOOK = """\
id: everything
name: Everything
description: names one of each kind of system
severity: P3
service: shop
triggers: [{{type: manual}}]
diagnostics:
  - id: tool
    name: Tool
    description: d
    type: shell_command
    config: {{command: [no-such-program-hr608, --version]}}
    interpret: {{healthy: exit_code == 0}}
  - id: script
    name: Script
    description: d
    type: shell_command
    config: {{command: "true && echo ok"}}
    interpret: {{healthy: exit_code == 0}}
  - id: logs
    name: Logs
    description: d
    type: log_search
    config: {{paths: ['{log}', '{missing}'], pattern: ERROR}}
    interpret: {{healthy: count == 0}}
  - id: loki
    name: Loki
    description: d
    type: log_search
    config: {{backend: loki, query: '{{app="shop"}} |= "ERROR"'}}
    interpret: {{healthy: count == 0}}
  - id: site
    name: Site
    description: d
    type: http_check
    config: {{urls: [{{name: local, url: 'http://localhost:9/'}}, {{name: gone, url: 'https://shop.hr610.invalid/x'}}]}}
    interpret: {{healthy: all_healthy}}
  - id: cert
    name: Cert
    description: d
    type: tls_certificate
    config: {{targets: ['localhost:443', 'api.hr610.invalid:443']}}
    interpret: {{healthy: days_left > 14}}
decisionTree:
  - {{otherwise: true, then: [flush, restart, rollback, clear], description: d}}
remediations:
  - id: flush
    name: Flush
    description: d
    type: automated
    action: {{type: flush_cache, config: {{connection: sessions, pattern: 'hr:*'}}}}
  - id: restart
    name: Restart
    description: d
    type: automated
    action: {{type: restart_service, config: {{deployment: web, namespace: shop}}}}
  - id: rollback
    name: Rollback
    description: d
    type: automated
    action: {{type: rollback, config: {{deployment: api, namespace: shop}}}}
  - id: clear
    name: Clear
    description: d
    type: automated
    action: {{type: flush_cache, config: {{connection: nowhere}}}}
escalation: {{primary: "#shop"}}
"""


@pytest.fixture
def cluster() -> Iterator[KubernetesApiServer]:
    with KubernetesApiServer() as server:
        server.add(deployment("web", "shop"))
        yield server


@pytest.fixture
def loki() -> Iterator[LokiServer]:
    with LokiServer() as server:
        yield server


async def check(
    tmp_path: Path, *, loki: str, kubeconfig: Path, cache: str = "redis://127.0.0.1:6379/15"
) -> CheckResult:
    log = tmp_path / "app.log"
    log.write_text("INFO fine\n")
    path = tmp_path / "everything.yaml"
    path.write_text(RUNBOOK.format(log=log, missing=tmp_path / "gone.log"))
    checkers = create_checkers(
        Settings(
            loki={"default": HttpConnection(url=loki)},
            caches={"sessions": CacheConnection.model_validate({"url": cache})},
            kubernetes=KubernetesConnection(kubeconfig=str(kubeconfig)),
        )
    )
    try:
        (result,) = await check_paths([path], checkers)
    finally:
        await checkers.aclose()
    return result


def lines(result: CheckResult) -> list[str]:
    return [f"{p.position.line}:{p.position.column} {p.code} {p.message}" for p in result.problems]


async def test_check_asks_every_kind_of_system_and_reports_what_is_missing(
    tmp_path: Path, cluster: KubernetesApiServer, loki: LokiServer
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"stand-in": cluster}, current="stand-in")
    result = await check(tmp_path, loki=loki.url, kubeconfig=kubeconfig)
    found = lines(result)
    text = (tmp_path / "everything.yaml").read_text()
    assert (
        found[0] == f"{place_of(text, 'no-such')} HR608 program 'no-such-program-hr608' is not on this machine's PATH"
    )
    assert (
        found[1]
        == f"{place_of(text, repr(str(tmp_path / 'gone.log')))} HR609 this machine has no file {tmp_path}/gone.log"
    )
    assert re.fullmatch(
        rf"{place_of(text, 'shop.hr610')} HR610 host 'shop.hr610.invalid' does not resolve .+", found[2]
    )
    assert re.fullmatch(rf"{place_of(text, 'api.hr610')} HR610 host 'api.hr610.invalid' does not resolve .+", found[3])
    assert found[4].startswith(
        f"{place_of(text, 'api,')} HR611 Kubernetes on the kubeconfig's current context has no deployment shop/api"
    )
    assert "404" in found[4]
    assert (
        found[5]
        == f"{place_of(text, 'nowhere')} HR607 no cache connection 'nowhere' is configured (`caches:` in handrail.yaml)"
    )
    assert len(found) == 6, found  # Redis answered PING, Loki ran the query, `web` was read
    assert [(r.method, r.path) for r in cluster.requests] == [
        ("GET", "/apis/apps/v1/namespaces/shop/deployments/web"),
        ("GET", "/apis/apps/v1/namespaces/shop/deployments/api"),
    ] or [(r.method, r.path) for r in cluster.requests] == [
        ("GET", "/apis/apps/v1/namespaces/shop/deployments/api"),
        ("GET", "/apis/apps/v1/namespaces/shop/deployments/web"),
    ]
    assert loki.requests[0].params["query"] == '{app="shop"} |= "ERROR"'
    assert loki.requests[0].params["limit"] == "1"


async def test_check_reports_systems_that_do_not_answer_once_each(tmp_path: Path) -> None:
    with closed_port() as port:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"down": f"http://127.0.0.1:{port}"}, current="down")
        result = await check(
            tmp_path, loki=f"http://127.0.0.1:{port}", kubeconfig=kubeconfig, cache=f"redis://127.0.0.1:{port}/0"
        )
    unreachable = [p.message for p in result.problems if p.code == "HR606"]
    assert len(unreachable) == 3, unreachable
    loki, cache, kubernetes = unreachable  # in file order
    assert loki.startswith(f"Loki 'default' (http://127.0.0.1:{port}) cannot be reached: ConnectError")
    assert cache.startswith(f"cache 'sessions' (redis://127.0.0.1:{port}) cannot be reached: PING: ConnectionError")
    assert kubernetes.startswith("Kubernetes on the kubeconfig's current context cannot be reached: GET deployments/")
    assert "cannot connect to the API server" in kubernetes
    assert {p.code for p in result.problems} == {"HR606", "HR607", "HR608", "HR609", "HR610"}


def test_every_check_code_is_produced_by_a_test_here() -> None:
    text = "".join(path.read_text() for path in Path(__file__).parent.glob("test_*.py"))
    assert [code for code in CODES if code.startswith("HR6") and code not in text] == []
