"""The demo world: a throwaway PostgreSQL, the payment service, Prometheus, Alertmanager and `handrail serve`.

`DemoWorld.start()` builds it all in one temporary folder on free ports, never touching the user's
databases or monitoring; `close()` stops every process it started (process groups) and removes the
folder. While it runs, a state file (JSON, mode 0600: it holds tokens) tells `handrail demo inject`
and tests where everything is.

`handrail serve` gets a generated `handrail.yaml`: SQLite in the folder, the given runbooks (the
starter library), the demo's Prometheus as `default`, the demo database as the `primary` and
`payments` connections, an admin token (the console login) and an Alertmanager token; runbook minutes
last `minute_seconds` and the cooldown is one runbook minute, so a game day takes minutes, not hours.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import yaml
from psycopg import sql

from handrail.demo import DemoError
from handrail.demo.faults import FAULTS
from handrail.demo.monitoring import (
    alert_rules,
    alertmanager_binary,
    alertmanager_config,
    prometheus_binary,
    prometheus_config,
)
from handrail.demo.postgres import ThrowawayPostgres, free_port
from handrail.demo.processes import ChildProcess, wait_until
from handrail.demo.service import ServiceConfig

__all__ = [
    "DATABASE",
    "IDLE_AFTER",
    "MAX_CONNECTIONS",
    "POOL_SIZE",
    "RESERVED_CONNECTIONS",
    "DemoState",
    "DemoWorld",
    "claim_state_file",
    "create_service_database",
    "inject_fault",
    "read_state",
]

DATABASE = "payments"
"""The demo database (the starter runbooks' `payments`) and the service's role."""
IDLE_AFTER = "2s"
"""`handrail.idle_after` in the demo cluster: how long a session must be idle before the runbooks end it."""
MAX_CONNECTIONS = 60
RESERVED_CONNECTIONS = 5
POOL_SIZE = 54
"""max_connections 60 keeps 5 for superusers: Handrail's diagnostics and actions connect as postgres and need
a few at once (three database diagnostics run concurrently, then the action). The service's pool (54) and
its metrics session (1) may take the other 55, so a leaked pool puts usage at 55/60 = 92%: critical, while
Handrail can still connect to find out why."""
_READY_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class DemoState:
    """Where the running demo's pieces are: the state file's contents."""

    pid: int
    root: str
    api_url: str
    admin_token: str
    service_url: str
    service_token: str
    prometheus_url: str
    alertmanager_url: str
    database_conninfo: str
    """The demo database as the postgres superuser (libpq URL)."""
    postgres_data_dir: str
    processes: dict[str, int] = field(default_factory=dict)

    @property
    def console_url(self) -> str:
        return f"{self.api_url}/"


def read_state(path: Path) -> DemoState:
    """The running demo's state, or a DemoError saying no demo runs."""
    try:
        data = json.loads(path.read_text())
        state = DemoState(**data)
    except FileNotFoundError:
        raise DemoError(f"no demo is running (no state file {path}); start one with `handrail demo`") from None
    except (OSError, ValueError, TypeError) as exc:
        raise DemoError(f"{path}: not a demo state file ({exc})") from exc
    if not _alive(state.pid):
        raise DemoError(
            f"the demo that wrote {path} (pid {state.pid}) is no longer running; start one with `handrail demo`"
        )
    return state


def inject_fault(state: DemoState, name: str, *, seconds: float | None = None, clear: bool = False) -> dict[str, Any]:
    """Start fault `name` in the running demo's service (or clear every fault); the service's answer."""
    headers = {"Authorization": f"Bearer {state.service_token}"}
    try:
        if clear:
            answer = httpx.delete(f"{state.service_url}/admin/faults", headers=headers, timeout=40)
        else:
            if name not in FAULTS:
                raise DemoError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
            body = {} if seconds is None else {"seconds": seconds}
            answer = httpx.post(f"{state.service_url}/admin/faults/{name}", json=body, headers=headers, timeout=40)
    except httpx.HTTPError as exc:
        raise DemoError(f"the demo service at {state.service_url} did not answer: {exc}") from exc
    if answer.status_code != 200:
        raise DemoError(f"the demo service refused: {answer.status_code} {answer.text[:300]}")
    result: dict[str, Any] = answer.json()
    return result


class DemoWorld:
    """Every process of the demo, started in order and stopped together."""

    def __init__(
        self,
        *,
        runbooks: Path,
        state_file: Path | None = None,
        minute_seconds: float = 5.0,
        say: Callable[[str], None] = lambda _: None,
    ) -> None:
        if not runbooks.is_dir():
            raise DemoError(f"{runbooks}: no runbooks folder here (the demo serves the starter runbooks)")
        self.runbooks = runbooks.resolve()
        self.state_file = state_file
        self.minute_seconds = minute_seconds
        self._say = say
        self.root = Path(tempfile.mkdtemp(prefix="handrail-demo-"))
        self.root.chmod(0o711)  # PostgreSQL runs as another user when we are root; it must reach its folder
        self.postgres: ThrowawayPostgres | None = None
        self.children: list[ChildProcess] = []
        self.state: DemoState | None = None
        self._admin_token = secrets.token_urlsafe(24)
        self._alertmanager_token = secrets.token_urlsafe(24)
        self._service_token = secrets.token_urlsafe(24)

    def __enter__(self) -> DemoWorld:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> DemoState:
        """Start everything and wait until each piece answers; write the state file."""
        binaries = {"prometheus": prometheus_binary(), "alertmanager": alertmanager_binary()}
        if self.state_file is not None:
            claim_state_file(self.state_file)
        self._say("starting PostgreSQL (a throwaway cluster)")
        postgres = ThrowawayPostgres(
            self.root,
            settings={
                "max_connections": str(MAX_CONNECTIONS),
                "superuser_reserved_connections": str(RESERVED_CONNECTIONS),
                "handrail.idle_after": IDLE_AFTER,
            },
        )
        self.postgres = postgres
        postgres.start()
        create_service_database(postgres)
        ports = {name: free_port() for name in ("service", "fraud", "tls", "api", "prometheus", "alertmanager")}
        service = self._service(postgres, ports)
        serve = self._serve(postgres, ports)
        alertmanager = self._alertmanager(binaries["alertmanager"], ports)
        prometheus = self._prometheus(binaries["prometheus"], ports)
        self._say("starting the payment service, handrail serve, Alertmanager and Prometheus")
        for child in (service, serve, alertmanager, prometheus):
            self.children.append(child)
            child.start()
        api_url = f"http://127.0.0.1:{ports['api']}"
        service_url = f"http://127.0.0.1:{ports['service']}"
        prometheus_url = f"http://127.0.0.1:{ports['prometheus']}"
        alertmanager_url = f"http://127.0.0.1:{ports['alertmanager']}"
        checks = [
            (service, f"{service_url}/healthz", "the payment service"),
            (serve, f"{api_url}/readyz", "handrail serve"),
            (alertmanager, f"{alertmanager_url}/-/ready", "Alertmanager"),
            (prometheus, f"{prometheus_url}/-/ready", "Prometheus"),
        ]
        for child, url, what in checks:
            wait_until(functools.partial(_answers, url), timeout=_READY_SECONDS, what=what, child=child)
        self.state = DemoState(
            pid=os.getpid(),
            root=str(self.root),
            api_url=api_url,
            admin_token=self._admin_token,
            service_url=service_url,
            service_token=self._service_token,
            prometheus_url=prometheus_url,
            alertmanager_url=alertmanager_url,
            database_conninfo=postgres.conninfo(DATABASE),
            postgres_data_dir=str(postgres.data_dir),
            processes={child.name: child.pid for child in self.children},
        )
        if self.state_file is not None:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            # written aside and renamed: whoever sees the file sees all of it
            partial = self.state_file.with_name(f".{self.state_file.name}.{os.getpid()}")
            partial.touch(mode=0o600)
            partial.write_text(json.dumps(asdict(self.state), indent=2))
            partial.replace(self.state_file)
        return self.state

    def close(self) -> None:
        """Stop every process (the newest first), the cluster, and remove the folder and the state file."""
        for child in reversed(self.children):
            child.stop()
        self.children.clear()
        if self.postgres is not None:
            self.postgres.close()
        if self.state_file is not None and self.state is not None:
            with contextlib.suppress(FileNotFoundError):
                self.state_file.unlink()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- the pieces -----------------------------------------------------------------------------

    def _service(self, postgres: ThrowawayPostgres, ports: dict[str, int]) -> ChildProcess:
        config = ServiceConfig(
            port=ports["service"],
            fraud_port=ports["fraud"],
            tls_port=ports["tls"],
            database_url=f"postgresql+psycopg://{DATABASE}@127.0.0.1:{postgres.port}/{DATABASE}",
            monitor_conninfo=postgres.conninfo(DATABASE),
            admin_token=self._service_token,
            certificate_dir=self.root / "certificates",
            pool_size=POOL_SIZE,
        )
        path = self.root / "service.json"
        path.touch(mode=0o600)
        path.write_text(config.model_dump_json(indent=2))
        argv = [sys.executable, "-m", "handrail.demo.service", str(path)]
        return ChildProcess("payment-service", argv, log=self.root / "service.log")

    def _serve(self, postgres: ThrowawayPostgres, ports: dict[str, int]) -> ChildProcess:
        database_url = postgres.database_url(DATABASE)
        settings = {
            "runbooks": str(self.runbooks),
            "database": f"sqlite:///{self.root / 'handrail.db'}",
            "prometheus": {"default": {"url": f"http://127.0.0.1:{ports['prometheus']}"}},
            "databases": {"primary": {"url": database_url}, "payments": {"url": database_url}},
            # Alertmanager raises the demo's incidents; an hourly threshold poll cannot open a second one
            "engine": {"minuteSeconds": self.minute_seconds, "metricPollSeconds": 3600},
            "safety": {"cooldownMinutes": 1},
            "api": {
                "consoleUrl": f"http://127.0.0.1:{ports['api']}/",
                "tokens": [
                    {"name": "demo-admin", "role": "admin", "sha256": _digest(self._admin_token)},
                    {"name": "alertmanager", "role": "alertmanager", "sha256": _digest(self._alertmanager_token)},
                ],
            },
        }
        config = self.root / "handrail.yaml"
        config.write_text("# written by `handrail demo`\n" + yaml.safe_dump(settings, sort_keys=False))
        argv = [sys.executable, "-m", "handrail", "serve", "--config", str(config), "--port", str(ports["api"])]
        return ChildProcess("handrail-serve", argv, log=self.root / "serve.log")

    def _alertmanager(self, binary: str, ports: dict[str, int]) -> ChildProcess:
        token_file = self.root / "alertmanager-token"
        token_file.touch(mode=0o600)
        token_file.write_text(self._alertmanager_token)
        config = self.root / "alertmanager.yml"
        config.write_text(
            alertmanager_config(
                webhook=f"http://127.0.0.1:{ports['api']}/api/v1/alerts/alertmanager", token_file=token_file
            )
        )
        argv = [
            binary,
            f"--config.file={config}",
            f"--storage.path={self.root / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]
        return ChildProcess("alertmanager", argv, log=self.root / "alertmanager.log")

    def _prometheus(self, binary: str, ports: dict[str, int]) -> ChildProcess:
        rules = self.root / "alert-rules.yml"
        rules.write_text(alert_rules())
        config = self.root / "prometheus.yml"
        config.write_text(
            prometheus_config(service_port=ports["service"], alertmanager_port=ports["alertmanager"], rules=rules)
        )
        argv = [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={self.root / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
            "--log.level=warn",
        ]
        return ChildProcess("prometheus", argv, log=self.root / "prometheus.log")


def create_service_database(postgres: ThrowawayPostgres) -> None:
    """The service's own role (not a superuser: it gets no reserved connection) owning the demo database."""
    try:
        with psycopg.connect(postgres.conninfo(), autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(DATABASE)))
            connection.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(DATABASE), sql.Identifier(DATABASE))
            )
    except psycopg.Error as exc:
        raise DemoError(f"could not create the demo database: {exc}") from exc


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _answers(url: str) -> bool:
    return httpx.get(url, timeout=2).status_code == 200


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim_state_file(state_file: Path) -> None:
    """Make sure no live demo uses `state_file`; what a demo that died left behind (its cluster, its folder) goes."""
    try:
        data = json.loads(state_file.read_text())
    except FileNotFoundError:
        return
    except (OSError, ValueError):
        state_file.unlink(missing_ok=True)
        return
    pid = data.get("pid")
    if isinstance(pid, int) and _alive(pid):
        raise DemoError(f"a demo is already running (pid {pid}, state in {state_file}); stop it with Ctrl-C first")
    _stop_leftover_cluster(Path(str(data.get("postgres_data_dir", ""))))
    root = Path(str(data.get("root", "")))
    if root.name.startswith("handrail-demo-") and root.is_dir():
        shutil.rmtree(root, ignore_errors=True)
    state_file.unlink(missing_ok=True)


def _stop_leftover_cluster(data_dir: Path) -> None:
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if str(data_dir).encode() not in command:
        return  # the pid was reused by something else
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGQUIT)  # PostgreSQL's immediate shutdown
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
