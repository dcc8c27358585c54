"""A throwaway PostgreSQL cluster: Debian's `initdb` and `pg_ctl`, a free port, removed on close.

The cluster lives in one folder (`data/`, `socket/`, `server.log`), listens on 127.0.0.1 only with
trust authentication for the `postgres` superuser, and runs without fsync (it is thrown away; a
committed row survives a server crash, `stop("immediate")`, but not a machine crash). As
root it runs as an unprivileged user (`postgres`, else `nobody`), because `initdb` and `postgres`
refuse root; the folder then belongs to that user, so it must sit where that user can reach it (a
folder under /tmp does; pytest's `tmp_path`, under a 0700 `pytest-of-root`, does not).

`pg_ctl start` detaches the server into its own session, so a Ctrl-C in the terminal does not reach
it: whoever starts a cluster closes it (`close`, or the context manager), which stops the server and
removes the folder.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import quote

import psycopg
from psycopg import sql

from handrail.demo import DemoError

__all__ = ["STOP_MODES", "ThrowawayPostgres", "find_postgres_binaries", "free_port"]

STOP_MODES = ("smart", "fast", "immediate")
"""The shutdown modes of `pg_ctl stop -m`."""
_DEBIAN_BINARIES = Path("/usr/lib/postgresql")
_COMMAND_TIMEOUT = 60.0
_START_ATTEMPTS = 3
"""A port picked free may be taken before the server binds it; a picked (not given) port is re-picked."""
_DATABASE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_INSTALL_HINT = "install PostgreSQL (Debian/Ubuntu: apt-get install postgresql), or run `make run` as root"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def find_postgres_binaries() -> Path:
    """The folder holding `initdb` and `pg_ctl`: the newest /usr/lib/postgresql/*/bin, else the one on PATH."""
    candidates = []
    for folder in _DEBIAN_BINARIES.glob("*/bin"):
        version = folder.parent.name
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file() and version.isdigit():
            candidates.append((int(version), folder))
    if candidates:
        return max(candidates)[1]
    on_path = shutil.which("pg_ctl")
    if on_path is not None and (Path(on_path).parent / "initdb").is_file():
        return Path(on_path).parent
    raise DemoError(f"PostgreSQL's initdb and pg_ctl were not found under {_DEBIAN_BINARIES}/*/bin: {_INSTALL_HINT}")


class ThrowawayPostgres:
    """A private PostgreSQL cluster (initdb + pg_ctl from Debian's postgresql package): free port, own socket dir,
    trust auth on 127.0.0.1, removed on close. Runs as an unprivileged user when started as root (initdb refuses
    root), with the data dir owned by that user.

    `root` is the folder to hold the cluster (in `root/postgresql`); without it a new temporary folder is made.
    `settings` are extra `postgresql.conf` lines (name → value), e.g. `{"max_connections": "50"}`.
    """

    def __init__(
        self, root: Path | None = None, *, port: int | None = None, settings: dict[str, str] | None = None
    ) -> None:
        self._binaries = find_postgres_binaries()
        self.directory = Path(tempfile.mkdtemp(prefix="handrail-postgres-")) if root is None else root / "postgresql"
        """The cluster's folder: `data/`, `socket/` and `server.log`; removed by `close`."""
        self._port_given = port is not None
        self._port = port if port is not None else free_port()
        self._settings = dict(settings or {})
        self._user = _unprivileged_user() if os.geteuid() == 0 else None
        self._initialised = False
        self._closed = False

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the `postgres` database, as the `postgres` superuser."""
        return self.database_url("postgres")

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def socket_dir(self) -> Path:
        return self.directory / "socket"

    @property
    def log_path(self) -> Path:
        return self.directory / "server.log"

    def database_url(self, name: str) -> str:
        """The SQLAlchemy URL (psycopg driver) of database `name`."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self._port}/{quote(name, safe='')}"

    def conninfo(self, name: str = "postgres") -> str:
        """The libpq URL of database `name`, for psycopg and psycopg_pool."""
        return f"postgresql://postgres@127.0.0.1:{self._port}/{quote(name, safe='')}"

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        """Start the server (initdb on the first start) and wait until it accepts connections."""
        if self._closed:
            raise DemoError(f"{self.directory}: this PostgreSQL cluster was closed")
        if self.is_running():
            return
        if not self._initialised:
            self._initdb()
        for attempt in range(1, _START_ATTEMPTS + 1):
            self._write_settings()
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            result = self._pg_ctl("start", "-w", "-t", "30", "-l", str(self.log_path))
            if result.returncode == 0:
                return
            log = self._log_since(offset)
            port_taken = "could not bind" in log or "Address already in use" in log
            if port_taken and not self._port_given and attempt < _START_ATTEMPTS:
                self._port = free_port()
                continue
            self._kill_leftover_server()
            raise DemoError(f"PostgreSQL did not start on port {self._port}:\n{result.stdout}{result.stderr}{log}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`pg_ctl stop -m mode`); a stopped server stays stopped."""
        if mode not in STOP_MODES:
            raise ValueError(f"stop mode {mode!r} is not one of {', '.join(STOP_MODES)}")
        if not self.is_running():
            return
        result = self._pg_ctl("stop", "-w", "-t", "30", "-m", mode)
        if result.returncode != 0 and self.is_running():
            raise DemoError(f"PostgreSQL did not stop ({mode}):\n{result.stdout}{result.stderr}")

    def restart(self) -> None:
        """Stop and start again, keeping the data and the port."""
        self.stop("fast")
        self.start()

    def close(self) -> None:
        """Stop the server (fast, else immediate, else SIGKILL) and remove the cluster's folder."""
        if self._closed:
            return
        self._closed = True
        try:
            for mode in ("fast", "immediate"):
                with contextlib.suppress(DemoError, subprocess.TimeoutExpired):
                    self.stop(mode)
                if not self.is_running():
                    break
        finally:
            self._kill_leftover_server()
            shutil.rmtree(self.directory, ignore_errors=True)

    def is_running(self) -> bool:
        """Whether the server of this cluster is up (`postmaster.pid` names a live process)."""
        pid = self._server_pid()
        return pid is not None and _is_alive(pid)

    def create_database(self, name: str) -> str:
        """Create database `name` (letters, digits, `_`) and return its SQLAlchemy URL."""
        if not _DATABASE_NAME.fullmatch(name):
            raise DemoError(f"database name {name!r}: use letters, digits and _ (at most 63; no digit first)")
        try:
            with psycopg.connect(self.conninfo(), autocommit=True, connect_timeout=10) as connection:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise DemoError(f"could not create database {name!r} on port {self._port}: {exc}") from exc
        return self.database_url(name)

    def _initdb(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if self._user is not None:
            for path in (self.directory, self.socket_dir):
                os.chown(path, self._user.pw_uid, self._user.pw_gid)
            self._check_reachable()
        result = self._run(
            str(self._binaries / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )
        if result.returncode != 0:
            raise DemoError(f"initdb failed in {self.data_dir}:\n{result.stdout}{result.stderr}")
        (self.data_dir / "pg_hba.conf").write_text(
            "# handrail demo: a throwaway cluster, trusted on loopback only\n"
            "local all all trust\n"
            "host all all 127.0.0.1/32 trust\n"
        )
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude_if_exists = 'handrail.conf'\n")
        self._initialised = True

    def _check_reachable(self) -> None:
        assert self._user is not None
        result = self._run("test", "-w", str(self.directory), "-a", "-x", str(self.directory))
        if result.returncode != 0:
            raise DemoError(
                f"{self.directory}: user {self._user.pw_name} cannot reach this folder (PostgreSQL refuses to run as "
                "root); give a root folder every user may traverse, e.g. under /tmp"
            )

    def _write_settings(self) -> None:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self._port),
            "unix_socket_directories": str(self.socket_dir),
            # thrown away on close: surviving a machine crash buys nothing here and costs seconds. A committed
            # row still survives a server crash (`stop("immediate")`): WAL is written at commit, only not fsynced.
            "fsync": "off",
            "full_page_writes": "off",
            **self._settings,
        }
        lines = [f"{name} = '{value.replace(chr(39), chr(39) * 2)}'" for name, value in settings.items()]
        path = self.data_dir / "handrail.conf"
        path.write_text("\n".join(lines) + "\n")
        if self._user is not None:
            os.chown(path, self._user.pw_uid, self._user.pw_gid)

    def _pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self._run(str(self._binaries / "pg_ctl"), "-D", str(self.data_dir), *args)

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        command = list(argv)
        if self._user is not None:
            command = _as_user(self._user, command)
        environment = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        environment.update(LC_ALL="C", LANG="C")
        return subprocess.run(  # noqa: S603 - fixed programs, paths we made
            command,
            cwd=self.directory,
            env=environment,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_COMMAND_TIMEOUT,
            check=False,
        )

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return log.read()[-4000:].decode(errors="replace")
        except OSError:
            return ""

    def _server_pid(self) -> int | None:
        try:
            first = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0].strip()
        except OSError:
            return None
        return int(first) if first.isdigit() else None

    def _kill_leftover_server(self) -> None:
        pid = self._server_pid()
        if pid is None or not _is_alive(pid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _is_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def _is_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not: an orphan's zombie may linger where init does not reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in ("Z", "X")


def _unprivileged_user() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise DemoError("running as root, and neither user postgres nor nobody exists to run PostgreSQL as")


def _as_user(user: pwd.struct_passwd, command: list[str]) -> list[str]:
    runuser = shutil.which("runuser")
    if runuser is not None:
        return [runuser, "-u", user.pw_name, "--", *command]
    setpriv = shutil.which("setpriv")
    if setpriv is not None:
        return [setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", "--", *command]
    raise DemoError("running as root, and neither runuser nor setpriv is there to run PostgreSQL as another user")
