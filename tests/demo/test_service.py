"""The demo payment service, for real: its own process, a throwaway PostgreSQL, faults injected over HTTP."""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from handrail.demo.postgres import ThrowawayPostgres, free_port
from handrail.demo.processes import ChildProcess, wait_until
from handrail.demo.service import ServiceConfig
from handrail.demo.world import DATABASE, create_service_database

POOL = 5


@dataclass
class Service:
    url: str
    token: str
    postgres: ThrowawayPostgres

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.request(method, f"{self.url}/admin{path}", headers=headers, timeout=40, **kwargs)

    def pay(self) -> int:
        return httpx.post(f"{self.url}/payments", json={"amount": 10}, timeout=10).status_code

    def metrics(self) -> dict[str, float]:
        lines = httpx.get(f"{self.url}/metrics", timeout=10).text.splitlines()
        return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in lines if not line.startswith("#")}

    def sessions(self) -> dict[int, str]:
        with psycopg.connect(self.postgres.conninfo(DATABASE), autocommit=True) as connection:
            rows = connection.execute(
                "SELECT pid, state FROM pg_stat_activity WHERE usename = %s AND backend_type = 'client backend'",
                [DATABASE],
            ).fetchall()
        return dict(rows)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("service")
    with ThrowawayPostgres() as postgres:
        create_service_database(postgres)
        config = ServiceConfig(
            port=free_port(),
            fraud_port=free_port(),
            tls_port=free_port(),
            database_url=f"postgresql+psycopg://{DATABASE}@127.0.0.1:{postgres.port}/{DATABASE}",
            monitor_conninfo=postgres.conninfo(DATABASE),
            admin_token=secrets.token_urlsafe(16),
            certificate_dir=folder / "certificates",
            pool_size=POOL,
            pool_timeout=0.3,
            load_rate=0,
        )
        (folder / "service.json").write_text(config.model_dump_json())
        child = ChildProcess(
            "payment-service",
            [sys.executable, "-m", "handrail.demo.service", str(folder / "service.json")],
            log=folder / "service.log",
        )
        child.start()
        url = f"http://127.0.0.1:{config.port}"
        try:
            wait_until(lambda: httpx.get(f"{url}/healthz").status_code == 200, timeout=30, what="service", child=child)
            yield Service(url, config.admin_token, postgres)
        finally:
            child.stop()


def test_metrics_cover_latency_errors_pool_connections_and_certificate(service: Service) -> None:
    assert service.pay() == 201
    metrics = service.metrics()
    assert metrics['http_requests_total{method="POST",route="/payments",status="201"}'] >= 1
    assert metrics['http_request_duration_seconds_count{method="POST",route="/payments"}'] >= 1
    assert metrics["db_pool_connections_max"] == POOL
    assert metrics["db_pool_connections_in_use"] == 0
    assert metrics["pg_settings_max_connections"] == 100
    assert metrics['pg_stat_activity_count{datname="payments",state="active"}'] >= 1  # the scrape's own query
    days_left = (metrics["probe_ssl_earliest_cert_expiry"] - time.time()) / 86400
    assert 89 < days_left <= 90


@pytest.mark.parametrize(
    ("method", "path", "token", "status"),
    [
        pytest.param("GET", "/faults", "wrong", 401, id="wrong-token"),
        pytest.param("POST", "/faults/error-burst", None, 401, id="no-token"),
        pytest.param("POST", "/faults/disk-full", "", 404, id="unknown-fault"),
    ],
)
def test_fault_control_needs_the_token_and_a_known_fault(
    service: Service, method: str, path: str, token: str | None, status: int
) -> None:
    headers = {} if token is None else {"Authorization": f"Bearer {token or service.token}"}
    answer = httpx.request(method, f"{service.url}/admin{path}", headers=headers, timeout=10)
    assert answer.status_code == status
    assert "error" in answer.json()


@pytest.mark.parametrize("seconds", [0, -1, 7200, "soon"])
def test_fault_length_must_be_a_sensible_number_of_seconds(service: Service, seconds: object) -> None:
    answer = service.admin("POST", "/faults/error-burst", json={"seconds": seconds})
    assert answer.status_code == 422
    assert answer.json()["field"] == "seconds"


def test_pool_exhaustion_holds_idle_sessions_until_they_are_terminated(service: Service) -> None:
    assert service.admin("POST", "/faults/db-pool-exhaustion").status_code == 200
    leaked = {s["pid"] for s in service.admin("GET", "/faults").json()["leaked"]}
    assert len(leaked) == POOL
    sessions = service.sessions()
    assert {pid: sessions[pid] for pid in leaked} == dict.fromkeys(leaked, "idle")
    assert service.pay() == 503
    assert service.metrics()["db_pool_connections_in_use"] == POOL

    with psycopg.connect(service.postgres.conninfo(), autocommit=True) as connection:
        connection.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [sorted(leaked)])
    wait_until(lambda: service.admin("GET", "/faults").json()["released"] == POOL, timeout=10, what="the release")
    assert service.admin("GET", "/faults").json()["leaked"] == []
    assert service.pay() == 201
    assert leaked.isdisjoint(service.sessions())
    service.admin("DELETE", "/faults")


def test_stuck_transactions_are_idle_in_transaction_and_clearing_gives_them_back(service: Service) -> None:
    service.admin("POST", "/faults/db-stuck-transactions")
    leaked = {s["pid"] for s in service.admin("GET", "/faults").json()["leaked"]}
    sessions = service.sessions()
    assert len(leaked) == POOL
    assert {sessions[pid] for pid in leaked} == {"idle in transaction"}

    cleared = service.admin("DELETE", "/faults").json()
    assert cleared["leaked"] == []
    assert service.pay() == 201
    assert {state for pid, state in service.sessions().items() if pid in leaked} <= {"idle"}  # back in the pool


def test_error_burst_fails_payments_with_500_and_ends_by_itself(service: Service) -> None:
    answer = service.admin("POST", "/faults/error-burst", json={"seconds": 1.5})
    assert answer.json()["active"]["error-burst"] == pytest.approx(1.5, abs=0.2)
    statuses = {service.pay() for _ in range(30)}
    assert statuses == {201, 500}
    time.sleep(1.6)
    assert service.admin("GET", "/faults").json()["active"] == {}
    assert {service.pay() for _ in range(5)} == {201}


def test_cert_expiring_serves_a_certificate_with_two_days_left_until_cleared(service: Service) -> None:
    service.admin("POST", "/faults/cert-expiring")
    days_left = (service.metrics()["probe_ssl_earliest_cert_expiry"] - time.time()) / 86400
    assert 1.9 < days_left <= 2
    service.admin("DELETE", "/faults")
    days_left = (service.metrics()["probe_ssl_earliest_cert_expiry"] - time.time()) / 86400
    assert days_left > 89


def test_database_metrics_come_back_after_the_metrics_session_is_terminated(service: Service) -> None:
    with psycopg.connect(service.postgres.conninfo(), autocommit=True) as connection:
        ended = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE usename = 'postgres' AND datname = %s AND pid <> pg_backend_pid()",
            [DATABASE],
        ).fetchall()
    assert ended == [(True,)]  # the service's one metrics session
    service.metrics()  # this scrape finds the session gone
    metrics = service.metrics()
    assert metrics["pg_settings_max_connections"] == 100
    assert any(name.startswith("pg_stat_activity_count{") for name in metrics)
