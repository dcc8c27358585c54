"""`migration_lock`: one process at a time creates or upgrades the schema of a database.

Any number of `handrail` processes (workers, API replicas, CLI commands) may start together on a
fresh database, and each migrates it on start (#13). Alembic's check-then-create is not atomic: on
SQLite, pysqlite runs DDL outside a transaction, so two processes both saw an empty database and the
second failed with `table handrail_alembic_version already exists`. The lock covers every schema
Handrail prepares, ours and DBOS's system tables; whoever takes it second re-reads the version and
finds nothing left to do.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

__all__ = ["LOCK_SUFFIX", "migration_lock"]

LOCK_SUFFIX = ".migrate-lock"
"""Beside a SQLite database file: the file whose lock (flock) the migrating process holds."""

_POSTGRES_KEY = "handrail:migrate"
_POLL_SECONDS = 0.05


@contextmanager
def migration_lock(engine: sa.Engine) -> Iterator[None]:
    """Hold the database's migration lock: every other process preparing it waits until this one is done.

    PostgreSQL: a session advisory lock on a connection of its own (the migrations use others;
    the server releases it if this process dies), polled while another process holds it.
    SQLite: an exclusive `flock` on a file beside the database, which the kernel releases if this
    process dies; SQLite's own lock cannot cover DBOS's migration, which needs the database's write
    lock on a connection of its own. An in-memory SQLite database belongs to one process and needs
    no lock.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            key = sa.func.hashtext(_POSTGRES_KEY)
            # Polled, not waited for: a session blocked in pg_advisory_lock holds a snapshot, and
            # DBOS's CREATE INDEX CONCURRENTLY in the holder waits for every such snapshot to end,
            # a deadlock the server cannot see (it spans two of the holder's connections).
            while not connection.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar_one():
                time.sleep(_POLL_SECONDS)
            try:
                yield
            finally:
                connection.execute(sa.select(sa.func.pg_advisory_unlock(key)))
        return
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or path.startswith("file:"):
        yield
        return
    descriptor = os.open(path + LOCK_SUFFIX, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing the last descriptor releases the lock
