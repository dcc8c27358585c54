"""A stand-in Kubernetes API server, for the actions no real cluster can test here.

`KubernetesApiServer` serves plain HTTP on 127.0.0.1 and a free port, at the real REST paths of
apps/v1 — deployments, statefulsets, daemonsets (GET, PATCH), the `scale` subresource of
deployments and statefulsets (autoscaling/v1 `Scale`: GET, PATCH) and replicasets (GET, and the
list with `?labelSelector=`) — over objects a test seeds (`deployment()`, `stateful_set()`,
`daemon_set()`) and reads back (`get`, `replica_sets`). It checks each request the way the API
server would, answering with a `Status` object:

- 401 without `Authorization: Bearer <token>` (when the server has a token); 406 unless the
  request accepts `application/json`;
- 404 for an unknown object or path (`deployments.apps "web" not found`);
- 415 for a PATCH whose Content-Type is not one of strategic-merge, merge or JSON patch
  (server-side apply is not modelled);
- 400 for a body that is not JSON or a label selector that does not parse; 422 for a body of the
  wrong shape (a merge patch that is not an object, a JSON patch that is not a list of
  operations), a JSON patch `test` that fails, or a result that is not a valid object (replicas
  not a non-negative integer, a changed name or selector, template labels the selector does not
  match, a container without a name or image);
- 409 for a merge patch carrying a `metadata.resourceVersion` that is no longer current;
- 403 for what the test says to refuse (`refuse("patch", "deployments")`).

Patches are applied with enough of their semantics for these fields: strategic merge (maps merged,
`null` deletes, `containers`/`env`/`volumes`… merged by `name`, `$patch: replace`), JSON merge
patch (RFC 7386) and JSON patch (RFC 6902: add, remove, replace, move, copy, test). A write that
changes `spec` bumps `metadata.generation`; one that changes a Deployment's pod template does what
the deployment controller would: it reuses the ReplicaSet with that template or creates one
(`pod-template-hash` label, controller owner reference), and that ReplicaSet gets the next
`deployment.kubernetes.io/revision`, which the Deployment carries too.

Every request is recorded (`requests`: method, path, query, headers, body), so tests assert
methods, paths, content types and bodies. `delay(seconds)` holds answers back (cut short when the
server stops). `write_kubeconfig` writes a kubeconfig whose contexts point at stand-ins, with a
token user, so the real client's config loading and auth header run.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import sys
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

__all__ = [
    "TOKEN",
    "KubeRequest",
    "KubernetesApiServer",
    "daemon_set",
    "deployment",
    "stateful_set",
    "write_kubeconfig",
]

TOKEN = "stand-in-token-3f9a"
"""The bearer token the stand-in wants by default."""
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
HASH_LABEL = "pod-template-hash"
STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
_PATCH_TYPES = (JSON_PATCH, MERGE, STRATEGIC)
_RESOURCES = {
    "deployments": "Deployment",
    "statefulsets": "StatefulSet",
    "daemonsets": "DaemonSet",
    "replicasets": "ReplicaSet",
}
_SCALABLE = {"deployments", "statefulsets", "replicasets"}
_PATH = re.compile(
    r"^/apis/apps/v1/namespaces/(?P<ns>[^/]+)/(?P<resource>[a-z]+)(?:/(?P<name>[^/]+)(?P<scale>/scale)?)?$"
)
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
}
"""Strategic-merge lists merged by a key (the `patchMergeKey` of the core/v1 types) rather than replaced."""
_CONTROLLER_ANNOTATIONS = {
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
}
_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
}
"""Reason phrases as Go's net/http writes them (Python's differ from version to version)."""
_THREAD_PREFIX = "handrail-test-kubernetes"
_SOCKET_TIMEOUT = 5.0


# -- objects a test seeds -----------------------------------------------------------------


def _pod_template(app: str, image: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {
            "containers": [
                {
                    "name": app,
                    "image": image,
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "resources": {},
                    "imagePullPolicy": "IfNotPresent",
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                }
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
            "securityContext": {},
        },
    }


def deployment(
    name: str, namespace: str = "default", *, replicas: int = 3, image: str = "registry.example/web:1.0"
) -> dict[str, Any]:
    """An apps/v1 Deployment as the API server would hold it (selector `app=<name>`)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}, "annotations": {}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": _pod_template(name, image),
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas},
    }


def stateful_set(
    name: str, namespace: str = "default", *, replicas: int = 3, image: str = "registry.example/db:1.0"
) -> dict[str, Any]:
    """An apps/v1 StatefulSet."""
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": _pod_template(name, image),
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "podManagementPolicy": "OrderedReady",
            "revisionHistoryLimit": 10,
        },
        "status": {"replicas": replicas, "readyReplicas": replicas},
    }


def daemon_set(name: str, namespace: str = "default", *, image: str = "registry.example/agent:1.0") -> dict[str, Any]:
    """An apps/v1 DaemonSet."""
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": _pod_template(name, image),
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
            "revisionHistoryLimit": 10,
        },
        "status": {"desiredNumberScheduled": 3, "numberReady": 3},
    }


# -- requests -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KubeRequest:
    """A request as the stand-in received it (header names lower-cased)."""

    method: str
    path: str
    """Percent-decoded, without the query."""
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class _Refusal(Exception):
    """An answer other than 200: a Status object."""

    def __init__(self, code: int, reason: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }
        if details:
            self.status["details"] = dict(details)
        self.code = code


def _not_found(resource: str, name: str) -> _Refusal:
    return _Refusal(
        404, "NotFound", f'{resource}.apps "{name}" not found', {"name": name, "group": "apps", "kind": resource}
    )


def _invalid(kind: str, name: str, detail: str) -> _Refusal:
    return _Refusal(422, "Invalid", f'{kind}.apps "{name}" is invalid: {detail}', {"name": name, "kind": kind})


# -- the server -----------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = _SOCKET_TIMEOUT

    def do_GET(self) -> None:
        self._answer()

    def do_PATCH(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_DELETE(self) -> None:
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        request = KubeRequest(
            self.command,
            unquote(split.path),
            parse_qs(split.query, keep_blank_values=True),
            {name.lower(): value for name, value in self.headers.items()},
            body,
        )
        owner = self.server.owner
        owner._record(request)
        delayed = owner._delay and (owner._delay_method is None or owner._delay_method == self.command)
        if delayed and owner._stopping.wait(owner._delay):
            return  # stopping: drop the connection instead of answering
        code, payload = owner._serve(request)
        data = json.dumps(payload).encode()
        self.send_response(code, _REASONS.get(code))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `requests`, not a log."""


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True

    def __init__(self, owner: KubernetesApiServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        threading.current_thread().name = f"{_THREAD_PREFIX}-handler"
        super().process_request_thread(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that gave up (a timeout) before a delayed answer is expected; keep it, quietly
        exc = sys.exc_info()[1]
        if exc is not None:
            self.owner.errors.append(exc)


class KubernetesApiServer:
    """The stand-in: objects in memory behind the apps/v1 REST paths; see the module docstring."""

    def __init__(self, *, token: str | None = TOKEN) -> None:
        self.token = token
        self.errors: list[BaseException] = []
        self._objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._refused: set[tuple[str, str]] = set()
        self._requests: list[KubeRequest] = []
        self._version = 100
        self._delay = 0.0
        self._delay_method: str | None = None
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{_THREAD_PREFIX}-accept"
        )

    # -- lifecycle

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting, cut delayed answers short, and join every thread."""
        self._stopping.set()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- what a test sets and reads

    @property
    def requests(self) -> list[KubeRequest]:
        with self._lock:
            return list(self._requests)

    def writes(self) -> list[KubeRequest]:
        """The requests that could change something (all but GET)."""
        return [r for r in self.requests if r.method != "GET"]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def refuse(self, verb: str, resource: str) -> None:
        """Answer 403 to `verb` (`get`, `list`, `patch`) on `resource` (`deployments`, `deployments/scale`)."""
        with self._lock:
            self._refused.add((verb, resource))

    def delay(self, seconds: float, *, method: str | None = None) -> None:
        """Hold every answer (or those to `method`) back for `seconds`."""
        self._delay, self._delay_method = seconds, method

    def add(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Store an object as created (uid, resourceVersion, generation 1); a Deployment gets its first ReplicaSet."""
        obj = copy.deepcopy(dict(obj))
        resource = next(r for r, kind in _RESOURCES.items() if kind == obj["kind"])
        meta = obj["metadata"]
        with self._lock:
            meta.update(
                uid=str(uuid.uuid4()),
                resourceVersion=self._next_version(),
                generation=1,
                creationTimestamp="2024-05-01T09:00:00Z",
            )
            self._objects[(resource, meta["namespace"], meta["name"])] = obj
            if resource == "deployments":
                self._roll(obj)
            return copy.deepcopy(obj)

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._objects[(resource, namespace, name)])

    def replica_sets(self, namespace: str, deployment_name: str) -> dict[int, dict[str, Any]]:
        """A deployment's ReplicaSets by revision."""
        with self._lock:
            uid = self._objects[("deployments", namespace, deployment_name)]["metadata"]["uid"]
            return {
                int(rs["metadata"]["annotations"][REVISION]): copy.deepcopy(rs)
                for (resource, ns, _), rs in self._objects.items()
                if resource == "replicasets"
                and ns == namespace
                and any(ref["uid"] == uid for ref in rs["metadata"].get("ownerReferences", []))
            }

    def roll_out(
        self, namespace: str, name: str, *, image: str, change_cause: str | None = None, observed: bool = True
    ) -> None:
        """A deploy: a new image in the Deployment's (first container of its) pod template, as `kubectl set image`.

        `observed=False`: the deployment controller has not acted on it yet (no ReplicaSet, same revision).
        """
        with self._lock:
            obj = self._objects[("deployments", namespace, name)]
            before = copy.deepcopy(obj)
            obj["spec"]["template"]["spec"]["containers"][0]["image"] = image
            if change_cause is not None:
                obj["metadata"].setdefault("annotations", {})["kubernetes.io/change-cause"] = change_cause
            self._store("deployments", before, obj, controller=observed)

    def set_replicas(self, resource: str, namespace: str, name: str, replicas: int) -> None:
        """Someone else (an autoscaler, a person) scales the workload."""
        with self._lock:
            obj = self._objects[(resource, namespace, name)]
            before = copy.deepcopy(obj)
            obj["spec"]["replicas"] = replicas
            self._store(resource, before, obj)

    def pause(self, namespace: str, name: str) -> None:
        """`kubectl rollout pause`."""
        with self._lock:
            obj = self._objects[("deployments", namespace, name)]
            before = copy.deepcopy(obj)
            obj["spec"]["paused"] = True
            self._store("deployments", before, obj)

    # -- serving

    def _record(self, request: KubeRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def _serve(self, request: KubeRequest) -> tuple[int, Any]:
        try:
            with self._lock:
                return 200, self._dispatch(request)
        except _Refusal as refusal:
            return refusal.code, refusal.status

    def _dispatch(self, request: KubeRequest) -> Any:
        if self.token is not None and request.headers.get("authorization") != f"Bearer {self.token}":
            raise _Refusal(401, "Unauthorized", "Unauthorized")
        accept = request.headers.get("accept", "*/*")
        if not any(
            kind.split(";")[0].strip() in ("application/json", "application/*", "*/*") for kind in accept.split(",")
        ):
            raise _Refusal(406, "NotAcceptable", "only the following media types are accepted: application/json")
        match = _PATH.match(request.path)
        if match is None or match["resource"] not in _RESOURCES:
            raise _Refusal(404, "NotFound", "the server could not find the requested resource")
        namespace, resource, name, scale = match["ns"], match["resource"], match["name"], bool(match["scale"])
        if scale and resource not in _SCALABLE:
            raise _Refusal(404, "NotFound", "the server could not find the requested resource")
        verb = {"GET": "get" if name else "list", "PATCH": "patch"}.get(request.method)
        if verb is None or (verb == "patch" and not name):
            raise _Refusal(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        full = f"{resource}/scale" if scale else resource
        if (verb, full) in self._refused:
            raise _Refusal(
                403,
                "Forbidden",
                f'{resource}.apps "{name or ""}" is forbidden: User "system:serviceaccount:handrail:handrail" '
                f'cannot {verb} resource "{full}" in API group "apps" in the namespace "{namespace}"',
                {"name": name or "", "group": "apps", "kind": resource},
            )
        if name is None:
            return self._list(resource, namespace, request)
        obj = self._objects.get((resource, namespace, name))
        if obj is None:
            raise _not_found(resource, name)
        if verb == "get":
            return _scale_of(obj) if scale else copy.deepcopy(obj)
        return self._patch(resource, obj, request, scale=scale)

    def _list(self, resource: str, namespace: str, request: KubeRequest) -> dict[str, Any]:
        selector = _parse_selector(request.query.get("labelSelector", [""])[0])
        items = [
            copy.deepcopy(obj)
            for (r, ns, _), obj in sorted(self._objects.items())
            if r == resource and ns == namespace and _selects(selector, obj["metadata"].get("labels") or {})
        ]
        for item in items:  # items of a typed list carry no kind of their own
            item.pop("kind", None)
            item.pop("apiVersion", None)
        return {
            "kind": f"{_RESOURCES[resource]}List",
            "apiVersion": "apps/v1",
            "metadata": {"resourceVersion": str(self._version)},
            "items": items,
        }

    def _patch(self, resource: str, obj: dict[str, Any], request: KubeRequest, *, scale: bool) -> dict[str, Any]:
        content_type = request.content_type.split(";")[0].strip()
        if content_type not in _PATCH_TYPES:
            raise _Refusal(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types include: "
                f"{', '.join(_PATCH_TYPES)}",
            )
        try:
            patch = json.loads(request.body)
        except ValueError as exc:
            raise _Refusal(400, "BadRequest", f"error decoding patch: {exc}") from None
        name = obj["metadata"]["name"]
        kind = "Scale" if scale else obj["kind"]
        current = _scale_of(obj) if scale else copy.deepcopy(obj)
        if content_type == JSON_PATCH:
            patched = _apply_json_patch(current, patch, name)
        else:
            if not isinstance(patch, dict):
                raise _invalid(kind, name, f"a {content_type} body must be a JSON object, not {type(patch).__name__}")
            wanted = (patch.get("metadata") or {}).get("resourceVersion")
            if wanted is not None and wanted != current["metadata"]["resourceVersion"]:
                raise _Refusal(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {resource}.apps "{name}": the object has been modified; '
                    "please apply your changes to the latest version and try again",
                )
            patched = _strategic_merge(current, patch) if content_type == STRATEGIC else _merge(current, patch)
        _validate(current, patched, kind, scale=scale)
        before = copy.deepcopy(obj)
        if scale:
            obj["spec"]["replicas"] = patched["spec"]["replicas"]
        else:
            obj.clear()
            obj.update(patched)
            obj["metadata"]["resourceVersion"] = before["metadata"]["resourceVersion"]
            obj["metadata"]["generation"] = before["metadata"]["generation"]
        self._store(resource, before, obj)
        return _scale_of(obj) if scale else copy.deepcopy(obj)

    def _store(self, resource: str, before: dict[str, Any], obj: dict[str, Any], *, controller: bool = True) -> None:
        """Bookkeeping after a write: resourceVersion, generation, and the deployment controller's part."""
        obj["metadata"]["resourceVersion"] = self._next_version()
        if obj.get("spec") != before.get("spec"):
            obj["metadata"]["generation"] = before["metadata"]["generation"] + 1
        template_changed = _plain(obj["spec"]["template"]) != _plain(before["spec"]["template"])
        if controller and resource == "deployments" and template_changed:
            self._roll(obj)

    def _roll(self, obj: dict[str, Any]) -> None:
        """What the deployment controller does for a new pod template: reuse or create its ReplicaSet, next revision."""
        meta = obj["metadata"]
        namespace, uid = meta["namespace"], meta["uid"]
        owned = [
            rs
            for (resource, ns, _), rs in self._objects.items()
            if resource == "replicasets"
            and ns == namespace
            and any(r["uid"] == uid for r in rs["metadata"]["ownerReferences"])
        ]
        revision = max((int(rs["metadata"]["annotations"][REVISION]) for rs in owned), default=0) + 1
        template = _plain(obj["spec"]["template"])
        carried = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in _CONTROLLER_ANNOTATIONS}
        for rs in owned:
            rs["spec"]["replicas"] = 0
        match = next((rs for rs in owned if _plain(rs["spec"]["template"]) == template), None)
        if match is not None:
            annotations = match["metadata"]["annotations"]
            history = [h for h in annotations.get(REVISION_HISTORY, "").split(",") if h]
            annotations[REVISION_HISTORY] = ",".join([*history, annotations[REVISION]])
            annotations.update(carried)
            annotations[REVISION] = str(revision)
            match["spec"]["replicas"] = obj["spec"]["replicas"]
            match["metadata"]["resourceVersion"] = self._next_version()
        else:
            digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
            hashed = copy.deepcopy(template)
            hashed["metadata"].setdefault("labels", {})[HASH_LABEL] = digest
            name = f"{meta['name']}-{digest}"
            self._objects[("replicasets", namespace, name)] = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "uid": str(uuid.uuid4()),
                    "resourceVersion": self._next_version(),
                    "generation": 1,
                    "labels": dict(hashed["metadata"]["labels"]),
                    "annotations": {
                        **carried,
                        REVISION: str(revision),
                        "deployment.kubernetes.io/desired-replicas": str(obj["spec"]["replicas"]),
                        "deployment.kubernetes.io/max-replicas": str(obj["spec"]["replicas"] + 1),
                    },
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "name": meta["name"],
                            "uid": uid,
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "spec": {
                    "replicas": obj["spec"]["replicas"],
                    "selector": {"matchLabels": {**obj["spec"]["selector"]["matchLabels"], HASH_LABEL: digest}},
                    "template": hashed,
                },
                "status": {"replicas": 0},
            }
        meta.setdefault("annotations", {})[REVISION] = str(revision)


def _scale_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The autoscaling/v1 Scale of a workload."""
    meta = obj["metadata"]
    labels = obj["spec"]["selector"].get("matchLabels", {})
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": obj["spec"]["replicas"]},
        "status": {
            "replicas": obj.get("status", {}).get("replicas", obj["spec"]["replicas"]),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        },
    }


def _plain(template: Mapping[str, Any]) -> dict[str, Any]:
    """A pod template without its `pod-template-hash` label."""
    template = copy.deepcopy(dict(template))
    template.get("metadata", {}).get("labels", {}).pop(HASH_LABEL, None)
    return template


def _validate(before: Mapping[str, Any], after: Any, kind: str, *, scale: bool) -> None:
    name = before["metadata"]["name"]
    if (
        not isinstance(after, dict)
        or not isinstance(after.get("metadata"), dict)
        or not isinstance(after.get("spec"), dict)
    ):
        raise _invalid(kind, name, "the object must keep `metadata` and `spec` objects")
    for key in ("kind", "apiVersion"):
        if after.get(key) != before.get(key):
            raise _invalid(kind, name, f"{key}: Invalid value: {after.get(key)!r}: may not be changed")
    for key in ("name", "namespace", "uid"):
        if after["metadata"].get(key) != before["metadata"].get(key):
            raise _invalid(
                kind, name, f"metadata.{key}: Invalid value: {after['metadata'].get(key)!r}: field is immutable"
            )
    for key in ("labels", "annotations"):
        values = after["metadata"].get(key)
        if values is not None and (
            not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values())
        ):
            raise _invalid(kind, name, f"metadata.{key}: Invalid value: must be a map of strings")
    spec = after["spec"]
    if "replicas" in spec or scale:
        replicas = spec.get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise _invalid(kind, name, f"spec.replicas: Invalid value: {replicas!r}: must be a non-negative integer")
    if scale:
        return
    if spec.get("selector") != before["spec"].get("selector"):
        raise _invalid(kind, name, "spec.selector: Invalid value: field is immutable")
    template = spec.get("template")
    if not isinstance(template, dict):
        raise _invalid(kind, name, "spec.template: Required value")
    labels = (template.get("metadata") or {}).get("labels") or {}
    wanted = spec["selector"].get("matchLabels", {})
    if any(labels.get(k) != v for k, v in wanted.items()):
        raise _invalid(
            kind, name, "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`"
        )
    for key in ("labels", "annotations"):
        values = (template.get("metadata") or {}).get(key)
        if values is not None and (
            not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values())
        ):
            raise _invalid(kind, name, f"spec.template.metadata.{key}: Invalid value: must be a map of strings")
    containers = (template.get("spec") or {}).get("containers")
    if not isinstance(containers, list) or not containers:
        raise _invalid(kind, name, "spec.template.spec.containers: Required value")
    for index, container in enumerate(containers):
        for key in ("name", "image"):
            if not isinstance(container, dict) or not isinstance(container.get(key), str) or not container[key]:
                raise _invalid(kind, name, f"spec.template.spec.containers[{index}].{key}: Required value")


# -- patch semantics ------------------------------------------------------------------------


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def _strategic_merge(target: Any, patch: Any, field: str = "") -> Any:
    """Strategic merge patch: as merge patch, but lists of named things merge by key, and `$patch` directives."""
    if isinstance(patch, dict):
        directive = patch.get("$patch")
        if directive == "replace":
            return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
        if directive == "delete":
            return None
        result = copy.deepcopy(target) if isinstance(target, dict) else {}
        for key, value in patch.items():
            if value is None:
                result.pop(key, None)
                continue
            merged = _strategic_merge(result.get(key), value, key)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        return result
    if isinstance(patch, list) and field in _MERGE_KEYS and isinstance(target, list):
        key = _MERGE_KEYS[field]
        result = [copy.deepcopy(item) for item in target]
        for item in patch:
            index = next(
                (i for i, old in enumerate(result) if isinstance(item, dict) and old.get(key) == item.get(key)), None
            )
            if index is None:
                result.append(copy.deepcopy(item))
            else:
                merged = _strategic_merge(result[index], item, field)
                if merged is None:
                    del result[index]
                else:
                    result[index] = merged
        return result
    return copy.deepcopy(patch)


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"JSON pointer {path!r} does not start with '/'")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(document: Any, path: str) -> tuple[Any, str]:
    parts = _pointer(path)
    if not parts:
        raise ValueError("the whole document cannot be the target here")
    node = document
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise ValueError(f"path {path!r} does not exist")
    return node, parts[-1]


def _lookup(document: Any, path: str) -> Any:
    node = document
    for part in _pointer(path):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise ValueError(f"path {path!r} does not exist")
    return node


def _add(document: Any, path: str, value: Any) -> None:
    parent, last = _parent(document, path)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list) and (last == "-" or (last.isdigit() and int(last) <= len(parent))):
        parent.insert(len(parent) if last == "-" else int(last), value)
    else:
        raise ValueError(f"cannot add at {path!r}")


def _remove(document: Any, path: str) -> Any:
    parent, last = _parent(document, path)
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise ValueError(f"path {path!r} does not exist")


def _apply_json_patch(document: dict[str, Any], patch: Any, name: str) -> Any:
    """RFC 6902; a malformed operation or a failed one (a `test` included) is a 422."""
    if not isinstance(patch, list) or not all(isinstance(op, dict) for op in patch):
        raise _invalid("Patch", name, "a JSON patch must be a list of operation objects")
    result = copy.deepcopy(document)
    for index, op in enumerate(patch):
        kind, path = op.get("op"), op.get("path")
        needs_value = kind in ("add", "replace", "test")
        if kind not in ("add", "remove", "replace", "move", "copy", "test") or not isinstance(path, str):
            raise _invalid("Patch", name, f"operation {index}: needs a known `op` and a string `path`: {op}")
        if (needs_value and "value" not in op) or (kind in ("move", "copy") and not isinstance(op.get("from"), str)):
            raise _invalid(
                "Patch", name, f"operation {index} ({kind}) is missing {'`value`' if needs_value else '`from`'}"
            )
        try:
            if kind == "test":
                if _lookup(result, path) != op["value"]:
                    raise _Refusal(
                        422, "Invalid", f"the server rejected our request: testing value {path} failed: test failed"
                    )
            elif kind == "add":
                _add(result, path, copy.deepcopy(op["value"]))
            elif kind == "remove":
                _remove(result, path)
            elif kind == "replace":
                _remove(result, path)
                _add(result, path, copy.deepcopy(op["value"]))
            elif kind == "move":
                _add(result, path, _remove(result, op["from"]))
            else:
                _add(result, path, copy.deepcopy(_lookup(result, op["from"])))
        except ValueError as exc:
            raise _invalid("Patch", name, f"operation {index} ({kind}): {exc}") from None
    return result


# -- label selectors ------------------------------------------------------------------------

_SET_TERM = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_TERM = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)\s*$")
_KEY_TERM = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*$")


def _parse_selector(text: str) -> list[tuple[str, str, set[str]]]:
    """`app=web,tier in (a,b),!canary` as (key, operator, values); a 400 when it does not parse."""
    terms: list[tuple[str, str, set[str]]] = []
    for term in re.split(r",(?![^()]*\))", text) if text.strip() else []:
        if match := _SET_TERM.match(term):
            terms.append((match[1], match[2], {v.strip() for v in match[3].split(",") if v.strip()}))
        elif match := _EQ_TERM.match(term):
            terms.append((match[1], "!=" if match[2] == "!=" else "=", {match[3]}))
        elif match := _KEY_TERM.match(term):
            terms.append((match[2], "!" if match[1] else "exists", set()))
        else:
            raise _Refusal(400, "BadRequest", f"unable to parse requirement: {term!r}")
    return terms


def _selects(selector: list[tuple[str, str, set[str]]], labels: Mapping[str, str]) -> bool:
    for key, operator, values in selector:
        value = labels.get(key)
        if operator in ("=", "in") and value not in values:
            return False
        if operator in ("!=", "notin") and value in values:
            return False
        if operator == "exists" and key not in labels:
            return False
        if operator == "!" and key in labels:
            return False
    return True


# -- kubeconfig -----------------------------------------------------------------------------


def write_kubeconfig(
    path: Path, servers: Mapping[str, KubernetesApiServer | str], *, current: str, token: str = TOKEN
) -> Path:
    """A kubeconfig with one context (and cluster) per stand-in (or server URL), all with a token user."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": name, "cluster": {"server": server if isinstance(server, str) else server.url}}
            for name, server in servers.items()
        ],
        "users": [{"name": "handrail", "user": {"token": token}}],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": "handrail", "namespace": "default"}} for name in servers
        ],
        "current-context": current,
    }
    path.write_text(yaml.safe_dump(config))
    return path
