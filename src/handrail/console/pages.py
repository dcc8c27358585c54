"""The console's routes: log in, incidents, one incident (live), runbooks, analytics.

Handlers stay thin: they read and change incidents only through the same `IncidentService` the API,
Slack and the CLI use, and await it (it never blocks the loop); its typed errors become the page's
status (not found 404, forbidden 403, any other conflict 409). Every page renders without JavaScript; the console's
own script only refreshes the live parts and posts the buttons without leaving the page.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt

from handrail.api.deps import state_of
from handrail.api.state import ApiState
from handrail.console.analytics import analyse
from handrail.console.charts import EvidenceChart, evidence_charts, report_zip
from handrail.console.session import CSRF_FIELD, ConsoleSession, SessionSigner
from handrail.console.svg import column_chart
from handrail.console.views import diagnostics_view, incident_times, remediation_cards, tree_svg, waiting_for
from handrail.engine import assess
from handrail.engine.service import IncidentRecord, IncidentState, history_line, plain_json, shadow_summary
from handrail.errors import (
    CatalogError,
    FourEyesError,
    HistoryError,
    IncidentError,
    IncidentForbiddenError,
    IncidentNotFoundError,
)
from handrail.explain import explain_markdown
from handrail.handoff import format_duration
from handrail.report import incident_report
from handrail.runbook.model import Runbook
from handrail.scenarios.history import past_incident
from handrail.scenarios.replay import ReplayReport, replay_now

__all__ = ["ConsoleError", "LoginRequired", "router", "templates"]

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")  # raw HTML in a runbook is shown as text

REPLAY_DAYS = 30
"""A runbook's page replays the version loaded over the incidents of this many days ..."""
REPLAY_LIMIT = 200
"""... at most this many, the newest (docs/replay.md)."""

_VERB_ROLES = {
    "approve": "approver",
    "reject": "approver",
    "done": "responder",
    "skip": "responder",
    "ack": "responder",
    "note": "responder",
    "resolve": "responder",
    "cancel": "responder",
}


class LoginRequired(Exception):
    """No valid session: the browser is sent to the login page."""


class ConsoleError(Exception):
    """A page that cannot be shown or an action that cannot be done: an HTML page with the status and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def signer_of(request: Request) -> SessionSigner:
    signer: SessionSigner = request.app.state.console_sessions
    return signer


async def current_session(request: Request) -> ConsoleSession:
    session = await signer_of(request).read(request, state_of(request).tokens)
    if session is None:
        raise LoginRequired
    return session


Session = Annotated[ConsoleSession, Depends(current_session)]


def _page(request: Request, name: str, session: ConsoleSession | None, status: int = 200, **context: Any) -> Response:
    context.update(request=request, session=session, csrf_field=CSRF_FIELD, now=datetime.now(UTC))
    return templates.TemplateResponse(request, name, context, status_code=status)


def _check(request: Request, session: ConsoleSession, role: str, csrf: str | None) -> None:
    if not signer_of(request).csrf_ok(request, session, csrf):
        raise ConsoleError(403, "This form did not come from this console (a missing or wrong CSRF token).")
    if not session.may(role):
        raise ConsoleError(
            403, f"{session.identity.name} ({session.identity.role}) may not do this: it needs the {role} role."
        )


def _safe_next(target: str | None) -> str:
    """Only our own paths: never `//host` or `https://host`, so the login page cannot send anyone away."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# -- logging in -------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> Response:
    return _page(request, "login.html", None, next=_safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
async def log_in(request: Request, token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/") -> Response:
    if not signer_of(request).origin_ok(request):
        # login CSRF: a foreign page must not log a browser in (as the attacker) behind its user's back
        error = "This login form did not come from this console."
        return _page(request, "login.html", None, status=403, next=_safe_next(next), error=error)
    identity = state_of(request).tokens.identify(token.strip()) if token.strip() else None
    if identity is None or identity.role == "alertmanager":
        return _page(request, "login.html", None, status=401, next=_safe_next(next), error="That token is not valid.")
    response = RedirectResponse(_safe_next(next), status_code=303)
    await signer_of(request).log_in(response, request, token.strip(), identity)
    logger.info("console login: %s (%s)", identity.name, identity.role)
    return response


@router.post("/logout")
async def log_out(request: Request, session: Session, csrf: Annotated[str | None, Form()] = None) -> Response:
    _check(request, session, "viewer", csrf)
    response = RedirectResponse("/login", status_code=303)
    await signer_of(request).log_out(response, request, session)
    return response


# -- incidents --------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def incidents_page(
    request: Request,
    session: Session,
    state: Annotated[list[str] | None, Query()] = None,
    runbook: str = "",
    severity: str = "",
    service: str = "",
    show: str = "all",
) -> Response:
    api = state_of(request)
    states = [s for s in state or () if s in IncidentState.__members__.values()]
    records = await api.service.find(states=states, open_only=show == "open", runbook_id=runbook or None, limit=500)
    if show == "closed":
        records = [r for r in records if not r.is_open]
    if severity:
        records = [r for r in records if r.severity == severity]
    if service:
        records = [r for r in records if service.lower() in r.service.lower()]
    now = datetime.now(UTC)
    return _page(
        request,
        "incidents.html",
        session,
        incidents=records[:200],
        more=len(records) > 200,
        age=lambda r: format_duration(now - r.created_at),
        filters={"state": states, "runbook": runbook, "severity": severity, "service": service, "show": show},
        states=[s.value for s in IncidentState],
        runbooks=sorted(api.catalog.catalog.runbooks),
    )


def _console_error(exc: IncidentError) -> ConsoleError:
    """The page for an error of the incident service, by its type."""
    if isinstance(exc, IncidentNotFoundError):
        return ConsoleError(404, f"There is {exc}.")
    if isinstance(exc, FourEyesError):
        return ConsoleError(403, f"{exc}.")
    return ConsoleError(403 if isinstance(exc, IncidentForbiddenError) else 409, str(exc))


async def _incident(api: ApiState, incident_id: str) -> IncidentRecord:
    try:
        return await api.service.get(incident_id)
    except IncidentError as exc:
        raise _console_error(exc) from exc


async def _story(api: ApiState, incident_id: str) -> tuple[IncidentRecord, list[Any], list[Any]]:
    try:
        return await api.service.story(incident_id)
    except IncidentError as exc:
        raise _console_error(exc) from exc


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
async def incident_page(request: Request, incident_id: str, session: Session) -> Response:
    api = state_of(request)
    record, timeline, runs = await _story(api, incident_id)
    runbook = Runbook.model_validate(record.runbook)
    shadows = [shadow_summary(record, shadow) for shadow in await api.service.shadows(incident_id)]
    charts = evidence_charts(record, timeline, runs)
    diagnosis = {c.id: c.svg for c in charts if c.phase == "diagnosis" and c.source == "diagnostic"}
    return _page(
        request,
        "incident.html",
        session,
        incident=record,
        shadows=shadows,
        runbook=runbook,
        version=_version(record, timeline[-1].id if timeline else 0, await api.service.shadows(incident_id)),
        times=incident_times(record, datetime.now(UTC)),
        diagnostics=diagnostics_view(record.assessment, diagnosis),
        trigger_charts=[c for c in charts if c.phase == "diagnosis" and c.source == "trigger"],
        verifications=_verifications(charts, timeline),
        decisions=list((record.assessment or {}).get("decisions", [])),
        tree=tree_svg(runbook, record),
        cards=remediation_cards(runbook, record, timeline, runs),
        waiting=waiting_for(record),
        timeline=timeline,
        notes=[e for e in timeline if e.kind == "note"],
    )


def _verifications(charts: list[EvidenceChart], timeline: list[Any]) -> list[dict[str, Any]]:
    """Each verification (its time, verdict, findings) with the charts recorded at it."""
    shown = []
    events = [e for e in timeline if e.kind == "verification" and e.data]
    for number, event in enumerate(events, 1):  # numbered as evidence_charts numbers them
        drawn = [c for c in charts if c.phase == "verification" and c.number == number]
        verdict = "healthy" if event.data.get("healthy") else "not healthy"
        shown.append({"at": event.at, "verdict": verdict, "results": event.data.get("results", []), "charts": drawn})
    return shown


def _version(record: IncidentRecord, last_event_id: int, shadows: Sequence[IncidentRecord] = ()) -> str:
    """Changes whenever anything on the incident page would: the record, a new timeline event, a shadow's run."""
    shown = "".join(f"-{s.id}:{s.updated_at.timestamp():.6f}" for s in shadows)
    return f"{record.updated_at.timestamp():.6f}-{last_event_id}-{record.state.value}-{record.waiting_for or ''}{shown}"


@router.get("/incidents/{incident_id}/version")
async def incident_version(request: Request, incident_id: str, session: Session) -> JSONResponse:
    """What the page's script polls: a cheap token that changes when the page would."""
    api = state_of(request)
    record = await _incident(api, incident_id)
    last_event_id, shadows = await api.service.last_event_id(incident_id), await api.service.shadows(incident_id)
    return JSONResponse({"version": _version(record, last_event_id, shadows)})


@router.get("/incidents/{incident_id}/report.md")
async def incident_report_download(request: Request, incident_id: str, session: Session) -> Response:
    record, timeline, runs = await _story(state_of(request), incident_id)
    text = incident_report(record, timeline, runs)
    return Response(
        text,
        media_type="text/markdown; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{record.id}-report.md"'},
    )


@router.get("/incidents/{incident_id}/report.zip")
async def incident_report_zip(request: Request, incident_id: str, session: Session) -> Response:
    """report.md and its charts, as `handrail report --out` writes them, in one zip (docs/console.md says why)."""
    record, timeline, runs = await _story(state_of(request), incident_id)
    return Response(
        report_zip(record, timeline, runs),
        media_type="application/zip",
        headers={"content-disposition": f'attachment; filename="{record.id}-report.zip"'},
    )


@router.post("/incidents/{incident_id}/decide")
async def decide(
    request: Request,
    incident_id: str,
    session: Session,
    remediation: Annotated[str, Form()],
    kind: Annotated[str, Form()],
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    if kind not in ("approve", "reject", "done", "skip"):
        raise ConsoleError(400, f"Unknown decision {kind!r}.")
    _check(request, session, _VERB_ROLES[kind], csrf)
    api = state_of(request)
    try:
        await api.service.decide(incident_id, remediation, kind, actor=session.identity.name, reason=reason)
    except IncidentError as exc:
        raise _console_error(exc) from exc
    return RedirectResponse(f"/incidents/{incident_id}", status_code=303)


@router.post("/incidents/{incident_id}/{verb}")
async def act(
    request: Request,
    incident_id: str,
    verb: str,
    session: Session,
    text: Annotated[str, Form(max_length=10_000)] = "",
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    if verb not in ("ack", "note", "resolve", "cancel"):
        raise ConsoleError(404, f"There is nothing called {verb!r} to do to an incident.")
    _check(request, session, _VERB_ROLES[verb], csrf)
    service = state_of(request).service
    name = session.identity.name
    try:
        if verb == "ack":
            await service.acknowledge(incident_id, actor=name)
        elif verb == "note":
            if not text.strip():
                raise ConsoleError(400, "A note needs some text.")
            await service.note(incident_id, text.strip(), actor=name)
        elif verb == "resolve":
            await service.resolve(incident_id, actor=name, reason=text.strip())
        else:
            await service.cancel(incident_id, actor=name, reason=text.strip())
    except IncidentError as exc:
        raise _console_error(exc) from exc
    return RedirectResponse(f"/incidents/{incident_id}", status_code=303)


# -- runbooks ---------------------------------------------------------------------------------


@router.get("/runbooks", response_class=HTMLResponse)
def runbooks_page(request: Request, session: Session) -> Response:
    holder = state_of(request).catalog
    return _page(
        request,
        "runbooks.html",
        session,
        runbooks=sorted(holder.catalog.runbooks.values(), key=lambda r: r.id),
        broken=holder.broken,
        kept=holder.kept,
        served=set(holder.catalog.runbooks),
        refused=holder.refused_alerts,
        live=state_of(request).live,
    )


def _runbook(api: ApiState, runbook_id: str) -> Runbook:
    try:
        return api.catalog.catalog.get(runbook_id)
    except CatalogError as exc:
        raise ConsoleError(404, exc.public) from exc


async def _runbook_page(request: Request, session: ConsoleSession, runbook: Runbook, **extra: Any) -> Response:
    api = state_of(request)
    return _page(
        request,
        "runbook.html",
        session,
        runbook=runbook,
        explanation=_markdown.render(explain_markdown(runbook)),
        tree=tree_svg(runbook),
        labels_text=extra.pop("labels_text", ""),
        tallies=await api.service.shadow_tallies(runbook.id),
        shadows=[shadow.id for shadow in api.catalog.catalog.shadows_of(runbook.id)],
        result=extra.pop("result", None),
        replayed=await _replayed(state_of(request), runbook),
        replay_days=REPLAY_DAYS,
        replay_limit=REPLAY_LIMIT,
        live=state_of(request).live,
        **extra,
    )


async def _replayed(api: ApiState, runbook: Runbook) -> ReplayReport | str:
    """The loaded version over the incidents of the last `REPLAY_DAYS` (the newest `REPLAY_LIMIT`), off the loop."""
    since = datetime.now(UTC) - timedelta(days=REPLAY_DAYS)
    records = [r async for r in api.service.history(runbook_id=runbook.id, since=since, limit=REPLAY_LIMIT)]
    try:
        return await api.service.pool.run(_replay_records, runbook, records)
    except HistoryError as exc:  # a record this version cannot read: say so instead of failing the page
        return f"cannot be replayed: {exc}"


@router.get("/runbooks/{runbook_id}", response_class=HTMLResponse)
async def runbook_page(request: Request, runbook_id: str, session: Session) -> Response:
    return await _runbook_page(request, session, _runbook(state_of(request), runbook_id))


@router.post("/runbooks/{runbook_id}/run", response_class=HTMLResponse)
async def run_diagnostics(
    request: Request,
    runbook_id: str,
    session: Session,
    labels: Annotated[str, Form(max_length=10_000)] = "",
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    """Assessment only: the diagnostics run now and the decisions are shown; nothing is remediated."""
    _check(request, session, "responder", csrf)
    api = state_of(request)
    runbook = _runbook(api, runbook_id)
    parsed = _parse_labels(labels)
    result = await assess(runbook, probes=api.probes, labels=parsed, deadline=api.settings.assessment_deadline)
    shown = dict(plain_json(result.to_dict()))
    return await _runbook_page(
        request,
        session,
        runbook,
        labels_text=labels,
        result={
            "overall": shown["overallSeverity"],
            "diagnostics": diagnostics_view(shown),
            "decisions": [d for d in shown["decisions"] if d["matched"]],
            "recommended": shown["recommendedActions"],
        },
    )


def _replay_records(runbook: Runbook, records: Sequence[IncidentRecord]) -> ReplayReport:
    """Blocking (CPU): the records as history, replayed; for a pool thread."""
    return replay_now(runbook, [past_incident(history_line(r), where=r.id) for r in records])


def _parse_labels(text: str) -> dict[str, str]:
    labels = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, equals, value = line.partition("=")
        if not equals or not key.strip():
            raise ConsoleError(400, f"labels line {number}: write one `name=value` per line")
        labels[key.strip()] = value.strip()
    return labels


# -- analytics --------------------------------------------------------------------------------


@router.get("/analytics", response_class=HTMLResponse)
async def analytics_page(
    request: Request, session: Session, weeks: Annotated[int, Query(ge=1, le=104)] = 12, runbook: str = ""
) -> Response:
    api = state_of(request)
    today = datetime.now(UTC).date()
    since = datetime.combine(today - timedelta(weeks=weeks), datetime.min.time(), UTC)
    records = await api.service.find(runbook_id=runbook or None, created_after=since, limit=100_000)
    result = analyse(records, today=today, weeks=weeks)
    return _page(
        request,
        "analytics.html",
        session,
        analytics=result,
        weeks=weeks,
        runbook=runbook,
        runbooks=sorted(api.catalog.catalog.runbooks),
        charts=_charts(result.weeks),
    )


def _charts(weeks: Any) -> Mapping[str, Any]:
    return {
        "incidents": column_chart([(w.label, float(w.incidents)) for w in weeks], title="Incidents per week"),
        "mtta": column_chart([(w.label, w.mtta_minutes) for w in weeks], title="MTTA per week (minutes)", unit=" min"),
        "mttr": column_chart([(w.label, w.mttr_minutes) for w in weeks], title="MTTR per week (minutes)", unit=" min"),
    }
