"""`create_app`: the HTTP API (and, in `handrail serve`, the engine beside it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import sqlalchemy as sa
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from handrail import __version__
from handrail.api import alerts, incidents, runbooks, slack
from handrail.api.body import RequestBodyMiddleware
from handrail.api.docs import install_docs
from handrail.api.errors import install_error_handlers
from handrail.api.metrics import metrics_registry, render
from handrail.api.state import ApiState
from handrail.engine.service import LocalEngine

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

EngineFactory = Callable[[], Awaitable[contextlib.AbstractAsyncContextManager[LocalEngine]]]


def create_app(state: ApiState, *, engine: EngineFactory | None = None) -> FastAPI:
    """The API over `state`; with `engine`, the incident engine runs inside the app's lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        watcher = asyncio.create_task(
            state.catalog.watch(state.settings.api.reload_interval, stop, offload=state.service.pool.run)
        )
        live = state.live
        checking = None
        if live is not None:
            interval = state.settings.engine.live_check_minutes * 60
            checking = asyncio.create_task(live.watch(interval, stop, version=lambda: state.catalog.catalog))
        async with contextlib.AsyncExitStack() as stack:
            if engine is not None:
                worker = await stack.enter_async_context(await engine())
                # incidents the API opens start on this engine at once; detached first on the way out
                state.service.local_engine = worker
                stack.callback(setattr, state.service, "local_engine", None)
            try:
                yield
            finally:
                stop.set()
                await watcher
                if checking is not None:  # a run in progress may wait on a slow system: it is not waited for
                    checking.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await checking
                await asyncio.gather(*(p.aclose() for p in state.probes.values()), return_exceptions=True)

    app = FastAPI(
        title="Handrail",
        version=__version__,
        description="Executable runbooks for incident response.",
        lifespan=lifespan,
        docs_url=None,  # api/docs.py: Swagger UI from installed files, under the pages' policy
        redoc_url=None,
    )
    app.state.handrail = state
    install_error_handlers(app)
    app.add_middleware(RequestBodyMiddleware, state=state)
    install_docs(app)
    app.include_router(alerts.router)
    app.include_router(incidents.router)
    app.include_router(runbooks.router)
    app.include_router(slack.router)
    registry = metrics_registry(
        state.service.figures_now,
        state.service.queued_now,
        broken_files=lambda: len(state.catalog.broken),
        live_problems=state.live.counts if state.live is not None else None,
    )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """The process is up (and its event loop free: this answers on the loop itself)."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        """The database answers and the catalog loaded."""
        try:
            await state.service.ping()
        except sa.exc.SQLAlchemyError as exc:
            return JSONResponse({"status": "unavailable", "reason": f"database: {type(exc).__name__}"}, 503)
        return JSONResponse({"status": "ready", "runbooks": len(state.catalog.catalog.runbooks)})

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        text = await state.service.pool.run(render, registry)  # the collectors read the database
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    return app
