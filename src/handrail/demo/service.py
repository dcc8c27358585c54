"""The demo payment service: a small Starlette app on a PostgreSQL pool, with metrics and faults to inject.

It runs in its own process (`python -m handrail.demo.service CONFIG.json`, started by the demo world)
and serves, all on 127.0.0.1:

- the payment app (`port`): `POST /payments` checks fraud (an HTTP call to the fraud app), then
  inserts a row through the pool (SQLAlchemy's async queue pool: `pool_size`, no overflow, a short
  checkout timeout answered with 503); `/healthz`; `/metrics`; `/admin/faults` (bearer token) to
  inject and clear faults (`faults.py`);
- the fraud app (`fraud_port`): the downstream, slow while `slow-downstream` is active;
- a TLS endpoint (`tls_port`) whose certificate `cert-expiring` swaps for one about to expire;
- a load generator posting payments at `load_rate` per second, so the metrics move.

`/metrics` has request latency (`http_request_duration_seconds`), requests by status
(`http_requests_total`), the pool (`db_pool_connections_in_use`, `db_pool_connections_max`), the
database's connections under postgres-exporter's names (`pg_stat_activity_count{datname,state}`,
`pg_settings_max_connections`: real values read from `pg_stat_activity` at scrape time, so the
starter runbooks' queries work unchanged) and the served certificate's expiry
(`probe_ssl_earliest_cert_expiry`, the blackbox exporter's name).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import signal
import ssl
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvicorn
from cryptography import x509
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from handrail.demo.certificate import write_certificate
from handrail.demo.faults import FAULTS, LEAK_FAULTS, TIMED_FAULTS, ConnectionLeak, FaultState

__all__ = ["PaymentService", "ServiceConfig", "main"]

logger = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 3.0, 5.0, 10.0)
_SLOW_DOWNSTREAM_SECONDS = 3.0
_ERROR_SHARE = 0.5
_EXPIRING_DAYS = 2
_HEALTHY_DAYS = 90
_MAX_IN_FLIGHT = 200
_Scope = MutableMapping[str, Any]
_Message = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]


class ServiceConfig(BaseModel):
    """What the demo world tells the service (a JSON file, written by the world)."""

    model_config = ConfigDict(extra="forbid")

    port: int
    fraud_port: int
    tls_port: int
    database_url: str
    """The pool's database, as the service's own (unprivileged) role: a SQLAlchemy URL."""
    monitor_conninfo: str
    """A libpq URL for reading pg_stat_activity (a superuser, so it sees every session)."""
    admin_token: str
    certificate_dir: Path
    pool_size: int
    pool_timeout: float = 0.5
    load_rate: float = 20.0
    """Payments per second from the built-in load generator (0: none)."""


class PaymentService:
    """The payment app, the fraud app, the TLS endpoint and the load generator, in one process."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.faults = FaultState()
        self.registry = CollectorRegistry()
        self._latency = Histogram(
            "http_request_duration_seconds",
            "Payment request latency",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._requests = Counter(
            "http_requests", "Payment requests by status", ["method", "route", "status"], registry=self.registry
        )
        self._pool_in_use = Gauge("db_pool_connections_in_use", "Pool connections checked out", registry=self.registry)
        self._pool_max = Gauge("db_pool_connections_max", "The pool's size", registry=self.registry)
        self._pool_open = Gauge("db_pool_connections_open", "Pool connections open", registry=self.registry)
        self._activity = Gauge(
            "pg_stat_activity_count",
            "Client sessions by database and state",
            ["datname", "state"],
            registry=self.registry,
        )
        self._max_connections = Gauge("pg_settings_max_connections", "max_connections", registry=self.registry)
        self._cert_expiry = Gauge(
            "probe_ssl_earliest_cert_expiry",
            "When the served certificate expires (unix seconds)",
            registry=self.registry,
        )
        self.engine: AsyncEngine | None = None
        self._http: httpx.AsyncClient | None = None
        self._monitor: psycopg.AsyncConnection[Any] | None = None
        self._tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._background: set[asyncio.Task[Any]] = set()

    # -- the apps -------------------------------------------------------------------------------

    def payment_app(self) -> Starlette:
        routes = [
            Route("/payments", self._create_payment, methods=["POST"]),
            Route("/healthz", self._healthz),
            Route("/metrics", self._metrics),
            Route("/admin/faults", self._faults, methods=["GET", "DELETE"]),
            Route("/admin/faults/{name}", self._inject, methods=["POST"]),
        ]
        return Starlette(routes=routes, lifespan=self._lifespan)

    def fraud_app(self) -> Starlette:
        return Starlette(routes=[Route("/check", self._fraud_check, methods=["POST"]), Route("/health", self._healthz)])

    @asynccontextmanager
    async def _lifespan(self, _: Starlette) -> AsyncIterator[None]:
        config = self.config
        self.engine = create_async_engine(
            config.database_url,
            pool_size=config.pool_size,
            max_overflow=0,
            pool_timeout=config.pool_timeout,
            pool_pre_ping=True,
            # the most recent connection first: a quiet service keeps few open (and reopens few after a kill)
            pool_use_lifo=True,
        )
        async with self.engine.begin() as connection:
            await connection.execute(
                text("CREATE TABLE IF NOT EXISTS payments (id bigserial PRIMARY KEY, amount numeric NOT NULL)")
            )
        self._http = httpx.AsyncClient(timeout=10.0)
        self._swap_certificate(_HEALTHY_DAYS)
        self._spawn(self._serve_tls())
        if config.load_rate > 0:
            self._spawn(self._generate_load())
        try:
            yield
        finally:
            for task in list(self._background):
                task.cancel()
            await asyncio.gather(*self._background, return_exceptions=True)
            if self.faults.leak is not None:
                await self.faults.leak.clear()
            await self._http.aclose()
            if self._monitor is not None:
                await self._monitor.close()
            await self.engine.dispose()

    def _spawn(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def measured(self, app: Starlette) -> Callable[[_Scope, _Receive, _Send], Awaitable[None]]:
        """The payment app with latency and status counted for `/payments`."""

        async def measured_app(scope: _Scope, receive: _Receive, send: _Send) -> None:
            if scope["type"] != "http" or scope["path"] != "/payments":
                await app(scope, receive, send)
                return
            status = 500
            started = time.perf_counter()

            async def send_status(message: _Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                await send(message)

            try:
                await app(scope, receive, send_status)
            finally:
                self._latency.labels(scope["method"], "/payments").observe(time.perf_counter() - started)
                self._requests.labels(scope["method"], "/payments", str(status)).inc()

        return measured_app

    # -- payments -------------------------------------------------------------------------------

    async def _create_payment(self, request: Request) -> Response:
        assert self._http is not None
        assert self.engine is not None
        if self.faults.active("error-burst") and random.random() < _ERROR_SHARE:  # noqa: S311 - not cryptographic
            return JSONResponse({"error": "payment processor raised"}, status_code=500)
        try:
            checked = await self._http.post(f"http://127.0.0.1:{self.config.fraud_port}/check", json={"amount": 10})
            checked.raise_for_status()
        except httpx.HTTPError as exc:
            return JSONResponse({"error": f"fraud check failed: {type(exc).__name__}"}, status_code=502)
        try:
            async with self.engine.begin() as connection:
                result = await connection.execute(
                    text("INSERT INTO payments (amount) VALUES (:amount) RETURNING id"), {"amount": 10}
                )
                payment_id = result.scalar_one()
        except PoolTimeoutError:
            return JSONResponse({"error": "no database connection free in the pool"}, status_code=503)
        except OperationalError as exc:  # the database refused a new connection (or lost one)
            return JSONResponse({"error": f"database unavailable: {type(exc.orig).__name__}"}, status_code=503)
        except SQLAlchemyError as exc:
            return JSONResponse({"error": f"database error: {type(exc).__name__}"}, status_code=500)
        return JSONResponse({"id": payment_id}, status_code=201)

    async def _fraud_check(self, _: Request) -> Response:
        if self.faults.active("slow-downstream"):
            await asyncio.sleep(_SLOW_DOWNSTREAM_SECONDS)
        return JSONResponse({"verdict": "ok"})

    async def _healthz(self, _: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def _generate_load(self) -> None:
        interval = 1.0 / self.config.load_rate
        url = f"http://127.0.0.1:{self.config.port}/payments"
        in_flight: set[asyncio.Task[Any]] = set()
        async with httpx.AsyncClient(timeout=15.0) as client:
            while True:
                if len(in_flight) < _MAX_IN_FLIGHT:
                    task = asyncio.create_task(_post_quietly(client, url))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                await asyncio.sleep(interval)

    # -- metrics --------------------------------------------------------------------------------

    async def _metrics(self, _: Request) -> Response:
        await self._read_database()
        self._read_pool()
        await self._read_certificate()
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    def _read_pool(self) -> None:
        assert self.engine is not None
        pool: Any = self.engine.pool
        self._pool_in_use.set(pool.checkedout())
        self._pool_open.set(pool.checkedout() + pool.checkedin())
        self._pool_max.set(self.config.pool_size)

    async def _read_database(self) -> None:
        try:
            rows, limit = await self._query_activity()
        except psycopg.Error as exc:
            logger.warning("reading pg_stat_activity failed: %s", exc)
            self._activity.clear()  # no data rather than stale data
            if self._monitor is not None and self._monitor.closed:
                # its session was terminated (a runbook's kill, a restart): reconnect for the next scrape
                self._monitor = None
            return
        self._activity.clear()
        for datname, state, count in rows:
            self._activity.labels(datname, state or "unknown").set(count)
        self._max_connections.set(limit)

    async def _query_activity(self) -> tuple[list[tuple[Any, ...]], int]:
        if self._monitor is None:
            self._monitor = await psycopg.AsyncConnection.connect(self.config.monitor_conninfo, autocommit=True)
        rows = await (
            await self._monitor.execute(
                "SELECT datname, state, count(*) FROM pg_stat_activity"
                " WHERE backend_type = 'client backend' AND datname IS NOT NULL GROUP BY 1, 2"
            )
        ).fetchall()
        limit = await (await self._monitor.execute("SELECT current_setting('max_connections')::int")).fetchone()
        return rows, int(limit[0]) if limit is not None else 0

    async def _read_certificate(self) -> None:
        """The expiry of the certificate the TLS endpoint serves, read over a real handshake."""
        client = ssl.create_default_context()
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.config.tls_port, ssl=client), 2.0
            )
        except (OSError, TimeoutError) as exc:
            logger.warning("TLS endpoint did not answer: %s", exc)
            return
        try:
            ssl_object = writer.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
            if der:
                expiry = x509.load_der_x509_certificate(der).not_valid_after_utc
                self._cert_expiry.set(expiry.timestamp())
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
            del reader

    # -- TLS ------------------------------------------------------------------------------------

    def _swap_certificate(self, days: int) -> None:
        certificate, key = write_certificate(self.config.certificate_dir, days=days)
        # new handshakes use the new chain; open connections keep theirs
        self._tls_context.load_cert_chain(certificate, key)

    async def _serve_tls(self) -> None:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                await asyncio.wait_for(reader.read(1024), 1.0)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n")
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", self.config.tls_port, ssl=self._tls_context)
        async with server:
            await server.serve_forever()

    # -- faults ---------------------------------------------------------------------------------

    def _authorised(self, request: Request) -> bool:
        given = request.headers.get("authorization", "")
        return secrets.compare_digest(given.encode(), f"Bearer {self.config.admin_token}".encode())

    async def _faults(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"error": "a valid admin token is needed"}, status_code=401)
        if request.method == "DELETE":
            await self._clear()
        return JSONResponse(self._describe())

    async def _inject(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"error": "a valid admin token is needed"}, status_code=401)
        name = request.path_params["name"]
        if name not in FAULTS:
            return JSONResponse({"error": f"unknown fault {name!r}; known: {', '.join(FAULTS)}"}, status_code=404)
        try:
            body = await request.json() if await request.body() else {}
        except ValueError:
            return JSONResponse({"error": "the body must be JSON", "field": "body"}, status_code=422)
        seconds = body.get("seconds", TIMED_FAULTS.get(name)) if isinstance(body, dict) else None
        if seconds is not None and (not isinstance(seconds, int | float) or not 0 < seconds <= 3600):
            return JSONResponse({"error": "seconds must be a number in (0, 3600]", "field": "seconds"}, status_code=422)
        await self._start(name, None if seconds is None else float(seconds))
        return JSONResponse(self._describe())

    async def _start(self, name: str, seconds: float | None) -> None:
        if name in LEAK_FAULTS:
            assert self.engine is not None
            if self.faults.leak is not None:
                await self.faults.leak.clear()
            leak = ConnectionLeak(self.engine, in_transaction=name == "db-stuck-transactions")
            self.faults.leak = leak
            leak.start()
            await leak.wait_exhausted(timeout=30.0)
        elif name == "cert-expiring":
            self._swap_certificate(_EXPIRING_DAYS)
        self.faults.start(name, seconds)

    async def _clear(self) -> None:
        if self.faults.leak is not None:
            await self.faults.leak.clear()
            self.faults.leak = None
        if self.faults.active("cert-expiring"):
            self._swap_certificate(_HEALTHY_DAYS)
        self.faults.until.clear()

    def _describe(self) -> dict[str, Any]:
        described = self.faults.describe()
        if self.engine is not None:
            pool: Any = self.engine.pool
            described["pool"] = {"inUse": pool.checkedout(), "size": self.config.pool_size}
        return described


async def _post_quietly(client: httpx.AsyncClient, url: str) -> None:
    with contextlib.suppress(httpx.HTTPError):
        await client.post(url, json={"amount": 10})


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signals to `_serve`, which stops both servers of the process together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve(service: PaymentService) -> None:
    config = service.config
    servers = [
        _QuietServer(
            uvicorn.Config(
                service.measured(service.payment_app()),
                host="127.0.0.1",
                port=config.port,
                log_level="warning",
                lifespan="on",
            )
        ),
        _QuietServer(
            uvicorn.Config(service.fraud_app(), host="127.0.0.1", port=config.fraud_port, log_level="warning")
        ),
    ]

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)
    await asyncio.gather(*(server.serve() for server in servers))


def main(argv: list[str] | None = None) -> None:
    """`python -m handrail.demo.service CONFIG.json`: serve until SIGTERM or SIGINT."""
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 1:
        sys.exit("usage: python -m handrail.demo.service CONFIG.json")
    config = ServiceConfig.model_validate_json(Path(arguments[0]).read_text())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_serve(PaymentService(config)))


if __name__ == "__main__":
    main()
