"""What every diagnostic type has: a typed config model, the names it provides, and a probe.

A probe collects one piece of evidence. It is given its resolved params and a `ProbeContext`
(alert labels for templating, the step's timeout) and returns an `Observation`: plain values under
the names the type documents, and one line for humans. A probe that cannot collect raises
`ProbeError` with a clear message; the assessment turns that (and a timeout, and any surprise)
into status `error`, so nothing a probe does can crash the engine.
"""

from __future__ import annotations

import re
import ssl
from base64 import b64encode
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from pydantic import Field, SecretStr

from handrail.redaction import SECRET_HEADER
from handrail.runbook.model import Duration, StrictModel

__all__ = [
    "ConfigRefusal",
    "History",
    "HistoryProbe",
    "HistorySeries",
    "HttpConnection",
    "Observation",
    "Probe",
    "ProbeContext",
    "ProbeParams",
]

_USERINFO = re.compile(r"^(https?://)[^/@]*@", re.IGNORECASE)
"""The `scheme://user:password@` start of a URL."""


class ProbeParams(StrictModel):
    """The `config` of one diagnostic type, and the names its result provides to interpret/derive."""

    PROVIDES: ClassVar[Mapping[str, str]] = {}
    """name -> what it holds; `handrail lint` and docs/diagnostics.md read this."""

    def provided_names(self) -> Mapping[str, str]:
        """The names a result of this configuration provides (some depend on the config)."""
        return self.PROVIDES

    def refusals(self) -> Sequence[ConfigRefusal]:
        """What the probe would refuse in this configuration, as far as it shows before running (lint)."""
        return ()


@dataclass(frozen=True, slots=True)
class ConfigRefusal:
    """Why a probe would refuse a config value: the field, a lint code, a message, and the column (1-based)."""

    field: str
    code: str
    message: str
    column: int = 1


@dataclass(frozen=True, slots=True)
class ProbeContext:
    """What a probe may use besides its params: the template context and its time budget."""

    template: Mapping[str, object] = field(default_factory=lambda: {"labels": {}, "annotations": {}})
    """`labels` and `annotations` of the alert (or given by hand), for `{{ ... }}` in config strings."""
    timeout: float = 30.0
    """Seconds the step may take; the assessment enforces it too, this lets a probe pass it on."""


@dataclass(frozen=True, slots=True)
class Observation:
    """What a probe found: values under the names its type provides, and one line for humans."""

    values: Mapping[str, Any]
    message: str


P_contra = TypeVar("P_contra", bound=ProbeParams, contravariant=True)


class Probe(Protocol[P_contra]):
    """Collects the evidence of one diagnostic type."""

    async def observe(self, params: P_contra, context: ProbeContext) -> Observation:
        """Collect the evidence.

        Args:
            params: the diagnostic's validated `config`.
            context: template values and the time budget.

        Returns:
            The values under the type's documented names, and a one-line message.

        Raises:
            ProbeError: the evidence could not be collected (the message says why, without secrets).
        """
        ...

    async def aclose(self) -> None:
        """Release what the probe holds (HTTP clients, connection pools); a no-op if nothing."""
        ...


@dataclass(frozen=True, slots=True)
class HistorySeries:
    """One series of a history: its labels and its samples as (unix seconds, value)."""

    labels: Mapping[str, str]
    samples: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class History:
    """What a diagnostic's query returned over a past window, every series of it, for the incident's charts."""

    query: str
    """The query as it ran (templates rendered)."""
    series: tuple[HistorySeries, ...]
    warnings: tuple[str, ...] = ()


@runtime_checkable
class HistoryProbe(Protocol[P_contra]):
    """A probe that can also say what its query returned over a past window (`prometheus_query`).

    Separate from `Probe`: only the incident's engine asks for it, beside the diagnostic, so a
    probe without it, a simulated one included, is still a probe.
    """

    async def history(
        self, params: P_contra, context: ProbeContext, *, start: float, end: float, step: float
    ) -> History:
        """The same query over `start`..`end` (unix seconds), a sample every `step` seconds.

        Raises:
            ProbeError: the history could not be collected (the message says why, without secrets).
        """
        ...


class HttpConnection(StrictModel):
    """An HTTP API to talk to (Prometheus, Loki): where, how to authenticate, how to trust TLS."""

    url: str = Field(pattern=r"^https?://")
    bearer_token: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    ca_file: str | None = None
    insecure_skip_verify: bool = False
    timeout: Duration = 30.0

    def secrets(self) -> list[str]:
        """What a server or proxy might echo back of this connection's credentials, for `redact`'s `extra`."""
        found: list[str] = []
        if self.bearer_token is not None:
            found.append(self.bearer_token.get_secret_value())
        if self.username is not None:
            password = self.password.get_secret_value() if self.password else ""
            found += [password, b64encode(f"{self.username}:{password}".encode()).decode()]
        found += [value for header, value in self.headers.items() if SECRET_HEADER.search(header)]
        userinfo = _USERINFO.match(self.url)
        if userinfo:
            found.append(userinfo.group(0)[len(userinfo.group(1)) : -1])
        return found

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for `httpx.AsyncClient` that implement this connection's auth and TLS."""
        headers = dict(self.headers)
        if self.bearer_token is not None:
            headers["Authorization"] = f"Bearer {self.bearer_token.get_secret_value()}"
        options: dict[str, Any] = {"base_url": self.url.rstrip("/"), "headers": headers}
        if self.username is not None:
            secret = self.password.get_secret_value() if self.password else ""
            options["auth"] = (self.username, secret)
        if self.insecure_skip_verify:
            options["verify"] = False
        elif self.ca_file:
            options["verify"] = ssl.create_default_context(cafile=self.ca_file)
        return options
