"""Settings from handrail.yaml: the one place that reads configuration files and the environment.

Strings may say `${ENV_VAR}` (and `$${` for a literal `${`), so secrets stay in the environment;
they are held as `SecretStr` and never printed, logged or stored. Every value read from `${ENV}`,
every `SecretStr` and every URL that holds one is registered with `handrail.redaction` when the
settings load, and an error about the file quotes it as written (`${ENV_VAR}`), never its value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, PrivateAttr, SecretStr, ValidationError

from handrail import redaction, safety
from handrail.actions.flush_cache import CacheConnection
from handrail.actions.kubernetes import KubernetesConnection
from handrail.diagnostics.base import HttpConnection
from handrail.errors import RunbookError, SettingsError
from handrail.limits import InputLimits
from handrail.lint.policy import Policy
from handrail.notify.pagerduty import PagerDutyNotifierConfig
from handrail.notify.slack import SlackNotifierConfig
from handrail.notify.webhook import WebhookNotifierConfig
from handrail.runbook.load import validation_problems
from handrail.runbook.model import ActionType, Duration, Hours, Minutes, RateLimit, StrictModel
from handrail.runbook.problem import Problem
from handrail.runbook.source import Document, DocumentPath, read_document
from handrail.sql import DatabaseConnection

__all__ = [
    "DEFAULT_CONFIG",
    "AllowList",
    "ApiSettings",
    "ApiToken",
    "ApprovalPolicy",
    "EngineSettings",
    "NotifierSettings",
    "PolicySettings",
    "SafetySettings",
    "Settings",
    "load_settings",
]

DEFAULT_CONFIG = Path("handrail.yaml")
_NOT_SECRET: frozenset[DocumentPath] = frozenset({("engine", "executorId")})
"""Settings that may come from `${ENV}` but are names, not secrets: shown as they are (a worker on the timeline)."""
MAX_MINUTE_SECONDS = 3600.0
"""`engine.minuteSeconds` at most: an hour per runbook minute keeps the longest escalation within the timers' range."""
_ENV_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class EngineSettings(StrictModel):
    """How the incident engine runs."""

    minute_seconds: Duration = Field(default=60.0, le=MAX_MINUTE_SECONDS)
    """How long a runbook minute lasts (`escalateAfterMinutes`); shorten it for tests and game days."""
    worker_concurrency: int = Field(default=1000, gt=0)
    """Incidents one worker carries at once. An incident waiting for a person holds its slot (DBOS counts a
    queued workflow until it ends), so this bounds open incidents per worker, not CPU work: keep it large."""
    assessment_concurrency: int = Field(default=8, gt=0)
    """Assessments (and verifications) one worker runs at once; more incidents wait their turn before any of their
    diagnostics starts, so a storm never makes diagnostics time out for want of CPU (docs/benchmarks.md)."""
    metric_poll_seconds: Duration = Field(default=60.0, ge=1)
    """How often each `metric_threshold` trigger's query is checked."""
    executor_id: str | None = Field(default=None, min_length=1, max_length=128)
    """This worker's name in DBOS (its pending incidents are recovered under it); default `local`. Every worker
    on one database needs its own."""
    queue_poll_seconds: float = Field(default=0.1, ge=0.01, le=10)
    """How often a worker looks for newly recorded incidents on the queue: half of it is the mean wait before an
    incident starts, and each look costs an idle worker a little CPU (docs/benchmarks.md, the engine)."""
    takeover_after_seconds: Duration = Field(default=30.0, ge=1)
    """A worker silent this long is presumed dead, and a live worker takes over its incidents (docs/deployment.md)."""
    live_check_minutes: Minutes = 60.0
    """How often `handrail serve` checks the catalog against the live systems (`handrail check`, docs/check.md), besides
    after each reload; 0 turns the live check off."""


class AllowList(StrictModel):
    """What automation may touch at all; a list that is not given allows anything of its kind."""

    namespaces: list[str] | None = None
    databases: list[str] | None = None
    commands: list[str] | None = None
    """Programs (argv[0]); shell scripts count as `sh`."""
    caches: list[str] | None = None

    def checker(self) -> safety.AllowList:
        """The allow-list as the linter and the engine check actions against it."""
        return safety.AllowList(self.namespaces, self.databases, self.commands, self.caches)


class SafetySettings(StrictModel):
    """Safety rails for every automated action; a runbook's `safety` overrides the first two."""

    cooldown_minutes: Minutes = 10.0
    rate_limit: RateLimit = Field(default_factory=lambda: RateLimit.model_validate({"actions": 3, "perMinutes": 10}))
    allow: AllowList = Field(default_factory=AllowList)


class ApprovalPolicy(StrictModel):
    """What must wait for a person's approval (`requiresApproval: true`) in every runbook."""

    actions: list[ActionType] = Field(default_factory=list)
    """Action types that never run without approval."""
    writing_sql: bool = False
    """`run_script` SQL that may write never runs without approval (anything but one plain reading statement)."""


class PolicySettings(StrictModel):
    """Rules a team sets for every runbook: lint reports a runbook that breaks one, and the catalog refuses it."""

    require_approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    require_fallback: bool = False
    """Every runbook has an `otherwise` decision that escalates or reaches a person."""
    max_escalate_after_minutes: dict[Literal["P1", "P2", "P3", "P4"], Annotated[Minutes, Field(gt=0)]] = Field(
        default_factory=dict
    )
    """The longest `escalateAfterMinutes` a runbook of each severity may set."""
    allowed_targets: list[Annotated[str, Field(min_length=1)]] | None = None
    """The escalation and notify targets runbooks may name (`*` matches any characters); none given: any."""

    def checker(self) -> Policy:
        """The policy as the linter and the catalog check runbooks against it."""
        return Policy(
            require_approval=frozenset(self.require_approval.actions),
            writing_sql_requires_approval=self.require_approval.writing_sql,
            require_fallback=self.require_fallback,
            max_escalate_after_minutes={str(k): v for k, v in self.max_escalate_after_minutes.items()},
            allowed_targets=None if self.allowed_targets is None else tuple(self.allowed_targets),
        )


class ApiToken(StrictModel):
    """One API token: who, what role, and the SHA-256 of the token (never the token itself)."""

    name: str = Field(min_length=1)
    role: Literal["viewer", "responder", "approver", "admin", "alertmanager"]
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ApiSettings(StrictModel):
    """The HTTP API of `handrail serve`."""

    tokens: list[ApiToken] = Field(default_factory=list)
    """Tokens by digest: `printf %s "$TOKEN" | sha256sum`. With none here or stored, the first start makes two."""
    four_eyes: bool = False
    """Whoever opened an incident, by any route (API, alert webhook, Slack, CLI), cannot approve or reject it."""
    console_url: str | None = None
    """The URL people reach Handrail at, for links in notifications (default: the server's own address)."""
    reload_interval: Duration = 5.0
    """Seconds between looks at the runbook folder for changes."""
    session_secret: SecretStr | None = None
    """The key that signs console session cookies; set it (from `${ENV}`) when several API processes serve one
    console or sessions should outlive a restart. Without it each process makes its own at start."""
    session_hours: Hours = 12.0
    """How long a console login lasts."""
    limits: InputLimits = Field(default_factory=InputLimits)
    """How large request bodies, alerts, labels, annotations, notes and reasons may be (docs/security.md)."""


class NotifierSettings(StrictModel):
    """Where notifications go: targets `#channel` (Slack), `pagerduty:NAME`, `webhook:NAME`, or any (log, webhook)."""

    log: bool = True
    """Write every notification to the log."""
    webhook: WebhookNotifierConfig | None = None
    """POST every notification as JSON to a URL (see docs/notifications.md)."""
    webhooks: dict[str, WebhookNotifierConfig] = Field(default_factory=dict)
    """Named webhooks: the target `webhook:NAME` goes to `webhooks.NAME`."""
    slack: SlackNotifierConfig | None = None
    """Targets `#channel`: an incoming webhook or a bot token; approvals from buttons (docs/slack.md)."""
    pagerduty: PagerDutyNotifierConfig | None = None
    """Routing keys by name: the target `pagerduty:NAME` (docs/pagerduty.md)."""


class Settings(StrictModel):
    """Everything Handrail is configured with; paths are relative to the settings file."""

    runbooks: Path = Path("runbooks")
    """The catalog folder: every runbook file below it."""
    prometheus: dict[str, HttpConnection] = Field(default_factory=dict)
    """Prometheus servers by name; a diagnostic without `connection` uses `default` (or PROMETHEUS_URL)."""
    loki: dict[str, HttpConnection] = Field(default_factory=dict)
    """Loki servers by name, for `log_search` with `backend: loki` (default: `default`, or LOKI_URL)."""
    databases: dict[str, DatabaseConnection] = Field(default_factory=dict)
    caches: dict[str, CacheConnection] = Field(default_factory=dict)
    kubernetes: KubernetesConnection | None = None
    """How to reach the cluster for restart_service, scale_up and rollback (kubeconfig or in-cluster)."""
    """Cache connections by name, for `flush_cache` (redis://, rediss://, memcached://)."""
    """Database connections by name, for `database_query` (and later `run_script` SQL)."""
    assessment_deadline: Duration = 120.0
    """Seconds the whole assessment may take, whatever the steps' own timeouts."""
    database: str = "sqlite:///handrail.db"
    """Where incidents and the engine's workflows live: SQLite by default, a postgresql:// URL in production."""
    engine: EngineSettings = Field(default_factory=EngineSettings)
    notifiers: NotifierSettings = Field(default_factory=NotifierSettings)
    safety: SafetySettings = Field(default_factory=SafetySettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    """Rules every runbook must follow (docs/settings.md#policy)."""
    _environment_names: frozenset[str] = PrivateAttr(default=frozenset())

    @property
    def environment_names(self) -> frozenset[str]:
        """The environment variables this file's `${...}` read: secrets, kept from the programs runbooks run."""
        return self._environment_names


def load_settings(path: Path | None = None, *, environ: Mapping[str, str] | None = None) -> Settings:
    """Read `path` (or ./handrail.yaml if it exists); defaults when there is no file."""
    environ = os.environ if environ is None else environ
    explicit = path is not None
    path = path or DEFAULT_CONFIG
    if not path.exists():
        if explicit:
            raise SettingsError(f"{path}: no such settings file")
        return _with_environment_defaults(Settings(), environ)
    try:
        document = read_document(path)
    except RunbookError as exc:
        raise SettingsError(_format(exc.problems)) from None
    used: set[str] = set()
    filled: list[tuple[DocumentPath, str, list[str]]] = []
    data = _interpolate(document, document.data, (), environ, used, filled)
    values = {environ[name]: name for name in used}
    secret = [(text, names) for at, text, names in filled if at not in _NOT_SECRET]
    # before validation: a secret an error could quote is hidden everywhere from here on
    redaction.register_secrets(environ[name] for _, names in secret for name in names)
    redaction.register_urls(text for text, _ in secret if "://" in text)
    try:
        settings = Settings.model_validate(_paths(data))
    except ValidationError as exc:
        # `validation_problems` quotes values as the file writes them; custom validators' messages may not
        raise SettingsError(_unquote(_format(validation_problems(exc, document, model=Settings)), values)) from None
    # a URL written out in the file (a database, a cache) holds a secret only through `${ENV}`, registered above
    redaction.register_secrets(value for value in _secret_values(settings) if "://" not in value)
    base = path.resolve().parent
    update = {"runbooks": base / settings.runbooks, "database": _anchor_sqlite(settings.database, base)}
    settings = _with_environment_defaults(settings.model_copy(update=update), environ)
    settings._environment_names = frozenset(used)
    return settings


def _secret_values(value: object) -> list[str]:
    """Every `SecretStr` inside a settings model (a token written into the file is a secret too)."""
    if isinstance(value, SecretStr):
        return [value.get_secret_value()]
    if isinstance(value, BaseModel):
        return [secret for name in type(value).model_fields for secret in _secret_values(getattr(value, name))]
    if isinstance(value, dict):
        return [secret for item in value.values() for secret in _secret_values(item)]
    if isinstance(value, list | tuple):
        return [secret for item in value for secret in _secret_values(item)]
    return []


def _unquote(message: str, values: Mapping[str, str]) -> str:
    """`message` with every value read from `${ENV}` put back as the reference that read it."""
    for value in sorted(values, key=len, reverse=True):
        if len(value) >= redaction.MIN_SECRET_LENGTH:
            message = message.replace(value, f"${{{values[value]}}}")
    return message


def _anchor_sqlite(url: str, base: Path) -> str:
    """A relative SQLite path is relative to the settings file, not to wherever the command runs."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str(base / url.removeprefix(prefix))
    return url


def _paths(data: dict[str, Any]) -> dict[str, Any]:
    # strict mode wants a Path object, files have strings
    if isinstance(data.get("runbooks"), str):
        return {**data, "runbooks": Path(data["runbooks"])}
    return data


def _with_environment_defaults(settings: Settings, environ: Mapping[str, str]) -> Settings:
    """PROMETHEUS_URL and LOKI_URL stand in for a `default` connection the file does not define."""
    update: dict[str, Any] = {}
    for field, variable in (("prometheus", "PROMETHEUS_URL"), ("loki", "LOKI_URL")):
        connections: dict[str, HttpConnection] = getattr(settings, field)
        if "default" not in connections and environ.get(variable):
            try:
                default = HttpConnection.model_validate({"url": environ[variable]})
            except ValidationError:
                raise SettingsError(f"{variable}: not an http(s) URL") from None
            update[field] = {**connections, "default": default}
    return settings.model_copy(update=update) if update else settings


def _interpolate(
    document: Document,
    value: Any,
    at: DocumentPath,
    environ: Mapping[str, str],
    used: set[str],
    filled: list[tuple[DocumentPath, str, list[str]]],
) -> Any:
    """`value` with `${NAME}` filled from `environ`; names read go to `used`, and (place, text, names) to `filled`."""
    if isinstance(value, dict):
        return {key: _interpolate(document, item, (*at, key), environ, used, filled) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(document, item, (*at, index), environ, used, filled) for index, item in enumerate(value)]
    if not isinstance(value, str):
        return value
    read: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name = match.group(1)
        if name not in environ:
            where = document.position(at)
            raise SettingsError(f"{document.path}:{where.line}:{where.column}: environment variable {name} is not set")
        used.add(name)
        read.append(name)
        return environ[name]

    result = _ENV_REFERENCE.sub(replace, value)
    if read:
        filled.append((at, result, read))
    return result


def _format(problems: list[Problem]) -> str:
    return "\n".join(f"{p.path}:{p.position.line}:{p.position.column}: {p.message}" for p in problems)
