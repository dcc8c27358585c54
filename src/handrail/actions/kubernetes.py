"""How actions reach a Kubernetes cluster: the official client, one `ApiClient` per kubeconfig context.

- `KubernetesConnection` (the `kubernetes:` block of handrail.yaml): a kubeconfig file and its
  default context, or the pod's in-cluster service account.
- `KubernetesClients` builds an `ApiClient` per context on first use (from the kubeconfig with
  `new_client_from_config`, or `load_incluster_config`), keeps it, and closes them all.
- `call_api` runs one call of the (synchronous) client in a worker thread, bounded by what is left
  of the action's timeout, and returns the object as the API server sent it (raw JSON, so fields
  this client version does not know survive a read-modify-write). An `ApiException` becomes a
  `KubernetesRequestError` with a short message: the status, the reason and the Status object's
  `message` — never headers, never the token.
- `workload` / `render_name` / `render_namespace`: names from config strings, rendered with
  `render_text` and refused unless they are DNS-1123 names, because alert label values (which
  anyone who can send an alert chooses) can end up in them and then in an API path.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, Self, cast

import urllib3
import yaml
from kubernetes.client import ApiClient, AppsV1Api, Configuration
from kubernetes.client.exceptions import ApiException
from kubernetes.config import load_incluster_config, new_client_from_config
from kubernetes.config.config_exception import ConfigException
from pydantic import model_validator

from handrail.errors import ActionError, TemplateError
from handrail.runbook.model import StrictModel
from handrail.runbook.template import has_placeholders, render_text

__all__ = [
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_MERGE_PATCH",
    "Budget",
    "ClientFactory",
    "KubernetesClients",
    "KubernetesConnection",
    "KubernetesRequestError",
    "Workload",
    "build_client",
    "call_api",
    "dig",
    "render_name",
    "render_namespace",
    "workload",
]

# https://kubernetes.io/docs/reference/using-api/api-concepts/#patch-and-apply
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
MERGE_PATCH = "application/merge-patch+json"
"""RFC 7386."""
JSON_PATCH = "application/json-patch+json"
"""RFC 6902: a list of operations; `test` makes a write conditional on what was read."""

# https://kubernetes.io/docs/concepts/overview/working-with-objects/names/
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_SUBDOMAIN_MAX = 253
_SHOWN = 300
"""Characters of an API server's message kept in an outcome."""


class KubernetesConnection(StrictModel):
    """How Handrail reaches the cluster: a kubeconfig (path, default context), or in-cluster config."""

    kubeconfig: str | None = None
    """A kubeconfig file; `$KUBECONFIG` or `~/.kube/config` when absent (as for kubectl)."""
    context: str | None = None
    """The context used when an action names none; the kubeconfig's current context when absent."""
    in_cluster: bool = False
    """Use the pod's service account (`load_incluster_config`) instead of a kubeconfig."""

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.in_cluster and (self.kubeconfig is not None or self.context is not None):
            raise ValueError("`inCluster: true` uses the pod's service account; leave out `kubeconfig` and `context`")
        return self


class KubernetesRequestError(Exception):
    """An API call that ran and failed (refused, not found, timed out); actions turn it into `ok=False`."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Budget:
    """An action's timeout and its deadline on the monotonic clock: every call gets what is left."""

    timeout: float
    deadline: float

    @classmethod
    def start(cls, timeout: float) -> Budget:
        return cls(timeout, time.monotonic() + timeout)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


@dataclass(frozen=True, slots=True)
class Workload:
    """One apps/v1 workload: `kind` is `deployment`, `statefulset` or `daemonset`."""

    kind: str
    name: str
    namespace: str

    @property
    def resource(self) -> str:
        return f"{self.kind}s"

    @property
    def path(self) -> str:
        """The object's REST path."""
        return f"/apis/apps/v1/namespaces/{self.namespace}/{self.resource}/{self.name}"

    @property
    def target(self) -> str:
        """The `ActionScope.target`: `kubernetes:<namespace>/<kind>/<name>`."""
        return f"kubernetes:{self.namespace}/{self.kind}/{self.name}"

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


class _WorkloadParams(Protocol):
    @property
    def deployment(self) -> str | None: ...
    @property
    def stateful_set(self) -> str | None: ...
    @property
    def daemon_set(self) -> str | None: ...
    @property
    def namespace(self) -> str: ...


def workload(params: _WorkloadParams, template: Mapping[str, object]) -> Workload:
    """The workload `params` names, templates rendered and names checked; `ActionError` if unsafe."""
    for kind, source, key in (
        ("deployment", params.deployment, "deployment"),
        ("statefulset", params.stateful_set, "statefulSet"),
        ("daemonset", params.daemon_set, "daemonSet"),
    ):
        if source is not None:
            return Workload(kind, render_name(source, template, key=key), render_namespace(params.namespace, template))
    raise ActionError("name a workload: `deployment`, `statefulSet` or `daemonSet`")


def render_name(source: str, template: Mapping[str, object], *, key: str) -> str:
    """An object name (a DNS-1123 subdomain) from a config string; `ActionError` for anything else."""
    name = _render(source, template, key)
    if len(name) > _SUBDOMAIN_MAX or not _DNS1123_SUBDOMAIN.fullmatch(name):
        raise ActionError(
            f"`{key}` is {_shown(name)}, not a Kubernetes name (DNS-1123: lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit, at most 253 characters)"
        )
    return name


def render_namespace(source: str, template: Mapping[str, object]) -> str:
    """A namespace (a DNS-1123 label) from a config string; `ActionError` for anything else."""
    name = _render(source, template, "namespace")
    if not _DNS1123_LABEL.fullmatch(name):
        raise ActionError(
            f"`namespace` is {_shown(name)}, not a Kubernetes namespace (DNS-1123 label: lowercase letters, "
            "digits and '-', starting and ending with a letter or digit, at most 63 characters)"
        )
    return name


def _render(source: str, template: Mapping[str, object], key: str) -> str:
    try:
        return render_text(source, template)
    except TemplateError as exc:
        raise ActionError(f"`{key}`: {exc}") from exc


def _shown(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:80] + "…")


ClientFactory = Callable[[KubernetesConnection, str | None], ApiClient]
"""Builds the client for a connection and a context (None: the kubeconfig's current context)."""


def build_client(connection: KubernetesConnection, context: str | None) -> ApiClient:
    """An `ApiClient` from the kubeconfig (that context) or from in-cluster config."""
    configuration = Configuration()
    # No urllib3 retries: each call is bounded by the action's remaining time, and a retried read
    # would outlive it in its worker thread.
    configuration.retries = False
    if connection.in_cluster:
        load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return ApiClient(configuration)
    # persist_config=False: Handrail never writes to the kubeconfig (kubectl's token refresh does)
    client = new_client_from_config(  # type: ignore[no-untyped-call]
        connection.kubeconfig, context, persist_config=False, client_configuration=configuration
    )
    return cast(ApiClient, client)


class KubernetesClients:
    """One `ApiClient` per context, built on first use and kept until `close`."""

    def __init__(self, connection: KubernetesConnection | None, *, factory: ClientFactory = build_client) -> None:
        self.connection = connection
        self._factory = factory
        self._clients: dict[str | None, ApiClient] = {}
        self._lock = threading.Lock()

    def where(self, context: str | None) -> str:
        """`on context prod`, `on the kubeconfig's current context`, `in-cluster`: for describe texts."""
        if self.connection is None:
            return "(no Kubernetes cluster is configured)"
        if self.connection.in_cluster:
            return "in-cluster"
        chosen = self._context(context)
        return f"on context {chosen}" if chosen is not None else "on the kubeconfig's current context"

    def apps(self, context: str | None) -> AppsV1Api:
        """The apps/v1 API on that context (the connection's default when None); `ActionError` if none."""
        return AppsV1Api(self.client(context))

    async def open_apps(self, context: str | None, budget: Budget) -> AppsV1Api:
        """`apps`, loaded in a thread within the budget (a kubeconfig may run an exec plugin for its token)."""
        try:
            return await asyncio.wait_for(asyncio.to_thread(self.apps, context), max(budget.remaining(), 0.0))
        except TimeoutError:
            raise KubernetesRequestError(f"loading the cluster config: timed out after {budget.timeout:g}s") from None

    def client(self, context: str | None) -> ApiClient:
        """The `ApiClient` for a context, built once (loading may run an exec plugin: call it off the loop)."""
        connection = self.connection
        if connection is None:
            raise ActionError(
                "no Kubernetes cluster is configured: set `kubernetes:` in handrail.yaml "
                "(a `kubeconfig` file, or `inCluster: true`)"
            )
        if connection.in_cluster and context is not None:
            raise ActionError(f"`context: {context}` needs a kubeconfig; in-cluster config has no contexts")
        chosen = self._context(context)
        with self._lock:
            client = self._clients.get(chosen)
            if client is None:
                client = self._load(connection, chosen)
                self._clients[chosen] = client
            return client

    def close(self) -> None:
        """Close every client (its connection pool)."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()  # type: ignore[no-untyped-call]

    def _context(self, context: str | None) -> str | None:
        if context is not None:
            if has_placeholders(context):
                raise ActionError(f"`context` is {context!r}: the cluster context cannot come from a template")
            return context
        return self.connection.context if self.connection is not None else None

    def _load(self, connection: KubernetesConnection, context: str | None) -> ApiClient:
        source = "in-cluster config" if connection.in_cluster else f"kubeconfig {connection.kubeconfig or '(default)'}"
        try:
            return self._factory(connection, context)
        except ConfigException as exc:
            raise ActionError(f"cannot load the {source}: {_cut(str(exc))}") from exc
        except (OSError, ValueError, TypeError, KeyError, AttributeError, yaml.YAMLError) as exc:
            # a file that is not a kubeconfig at all fails inside the loader with whatever it tripped on
            raise ActionError(f"cannot load the {source}: not a usable kubeconfig ({type(exc).__name__})") from exc


async def call_api(budget: Budget, what: str, method: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Call one client method in a thread within the budget; the decoded JSON body, or `KubernetesRequestError`.

    `what` names the call in messages (`PATCH deployments/web`).
    """
    remaining = budget.remaining()
    if remaining <= 0:
        raise KubernetesRequestError(_timed_out(budget, what))

    def run() -> Any:
        response = method(*args, _request_timeout=remaining, _preload_content=False, **kwargs)
        try:
            return json.loads(response.data)
        finally:
            response.release_conn()

    try:
        return await asyncio.wait_for(asyncio.to_thread(run), remaining)
    except TimeoutError:
        raise KubernetesRequestError(_timed_out(budget, what)) from None
    except ApiException as exc:
        raise KubernetesRequestError(f"{what}: {_api_message(exc)}", status=exc.status or None) from exc
    except urllib3.exceptions.NewConnectionError as exc:  # before TimeoutError: urllib3 makes it a subclass
        raise KubernetesRequestError(f"{what}: cannot connect to the API server ({_cut(str(exc))})") from exc
    except urllib3.exceptions.TimeoutError:
        raise KubernetesRequestError(_timed_out(budget, what)) from None
    except urllib3.exceptions.HTTPError as exc:
        raise KubernetesRequestError(f"{what}: the connection to the API server failed ({_cut(str(exc))})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise KubernetesRequestError(f"{what}: the API server's answer is not JSON") from exc
    except ConfigException as exc:  # a kubeconfig exec plugin refreshing the token
        raise ActionError(f"{what}: cannot get credentials: {_cut(str(exc))}") from exc


def dig(obj: object, *keys: str) -> object:
    """`obj[k1][k2]...`, or None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _timed_out(budget: Budget, what: str) -> str:
    message = f"{what}: timed out after {budget.timeout:g}s"
    if what.startswith("PATCH"):
        message += " (the API server may still have applied it)"
    return message


def _api_message(exc: ApiException) -> str:
    """`404 Not Found: deployments.apps "web" not found`, from the Status object the API server sends."""
    if not exc.status:  # the client's own refusal (a TLS error): its reason is the whole story
        return _cut(str(exc.reason or "request failed"))
    text = f"{exc.status} {exc.reason or ''}".rstrip()
    message = ""
    try:
        status = json.loads(exc.body) if exc.body else None
    except ValueError:
        status = None
    if isinstance(status, dict) and isinstance(status.get("message"), str):
        message = status["message"]
    return f"{text}: {_cut(message)}" if message else text


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"
