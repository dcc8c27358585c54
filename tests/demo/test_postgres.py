"""ThrowawayPostgres: a real private PostgreSQL cluster, started, restarted, and gone without a trace."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy

from handrail.demo import DemoError
from handrail.demo.postgres import ThrowawayPostgres, free_port
from support.processes import is_running


@pytest.fixture(scope="module")
def cluster() -> Iterator[ThrowawayPostgres]:
    with ThrowawayPostgres(settings={"max_connections": "30"}) as postgres:
        yield postgres


def _server_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


def _server_pid(postgres: ThrowawayPostgres) -> int:
    return int((postgres.data_dir / "postmaster.pid").read_text().split()[0])


def test_cluster_answers_on_its_own_port_as_postgres_with_its_own_socket(cluster: ThrowawayPostgres) -> None:
    assert cluster.url == f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/postgres"
    with psycopg.connect(cluster.conninfo()) as connection:
        row = connection.execute("SELECT current_user, inet_server_port(), current_setting('max_connections')")
        assert row.fetchone() == ("postgres", cluster.port, "30")
    assert (cluster.socket_dir / f".s.PGSQL.{cluster.port}").is_socket()
    assert cluster.port != 5432


def test_cluster_listens_on_loopback_only(cluster: ThrowawayPostgres) -> None:
    with psycopg.connect(cluster.conninfo()) as connection:
        row = connection.execute("SELECT current_setting('listen_addresses')").fetchone()
    assert row == ("127.0.0.1",)


@pytest.mark.skipif(os.geteuid() != 0, reason="the unprivileged user matters only when started as root")
def test_cluster_started_as_root_runs_as_an_unprivileged_user(cluster: ThrowawayPostgres) -> None:
    assert _server_uid(_server_pid(cluster)) != 0
    assert cluster.data_dir.stat().st_uid != 0


def test_create_database_returns_a_url_sqlalchemy_can_use(cluster: ThrowawayPostgres) -> None:
    url = cluster.create_database("payments_demo")
    assert url == f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/payments_demo"
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.execute(sqlalchemy.text("SELECT current_database()")).scalar() == "payments_demo"
    finally:
        engine.dispose()


@pytest.mark.parametrize("name", ["1st", "drop table x", "payments;--", "x" * 64, ""])
def test_create_database_refuses_a_name_that_is_not_a_plain_identifier(cluster: ThrowawayPostgres, name: str) -> None:
    with pytest.raises(DemoError, match="database name"):
        cluster.create_database(name)


def test_create_database_twice_is_a_clear_error(cluster: ThrowawayPostgres) -> None:
    cluster.create_database("twice")
    with pytest.raises(DemoError, match=r"could not create database 'twice'.*already exists"):
        cluster.create_database("twice")


def test_stop_refuses_an_unknown_mode(cluster: ThrowawayPostgres) -> None:
    with pytest.raises(ValueError, match="stop mode 'gentle'"):
        cluster.stop("gentle")


def test_restart_keeps_the_data_and_the_port_and_close_removes_everything() -> None:
    postgres = ThrowawayPostgres()
    with postgres:
        port = postgres.port
        with psycopg.connect(postgres.conninfo(), autocommit=True) as connection:
            connection.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)")
        first_pid = _server_pid(postgres)

        postgres.stop("immediate")
        assert not postgres.is_running()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(postgres.conninfo(), connect_timeout=2)

        postgres.restart()
        assert postgres.port == port
        assert _server_pid(postgres) != first_pid
        with psycopg.connect(postgres.conninfo()) as connection:
            assert connection.execute("SELECT n FROM kept").fetchone() == (7,)
        server_pid = _server_pid(postgres)
    assert not is_running(server_pid)
    assert not postgres.directory.exists()
    with pytest.raises(DemoError, match="was closed"):
        postgres.start()


def test_a_given_port_that_is_taken_is_a_clear_error_and_leaves_nothing_behind() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        postgres = ThrowawayPostgres(port=taken.getsockname()[1])
        with pytest.raises(DemoError, match=r"(?s)did not start on port .*(could not bind|Address already in use)"):
            postgres.__enter__()
    assert not postgres.directory.exists()


def test_a_given_root_holds_the_cluster_and_is_kept_on_close() -> None:
    # under /tmp, so the unprivileged user can reach it when the test runs as root
    with tempfile.TemporaryDirectory(prefix="handrail-test-") as folder:
        root = Path(folder)
        root.chmod(0o755)
        with ThrowawayPostgres(root, port=free_port()) as postgres:
            assert postgres.directory == root / "postgresql"
            assert (root / "postgresql" / "data" / "PG_VERSION").is_file()
        assert root.exists()
        assert not (root / "postgresql").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root has to hand the cluster to another user")
def test_a_root_the_unprivileged_user_cannot_reach_is_a_clear_error(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(DemoError, match="cannot reach this folder"):
        ThrowawayPostgres(private).start()
