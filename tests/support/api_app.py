"""The app `handrail serve` serves (API and console) on a database of the test's choosing, one token per role.

tests/support/api.py's `api_client` gives a client on SQLite; fuzzing and the security pass also
need PostgreSQL (where NUL and over-long values used to fail) and the settings the test writes
(secrets from `${ENV}`, Slack's signing secret):

    with postgres_database() as url, api_app(tmp_path, runbooks=folder, database=url) as (app, state):
        client = TestClient(app)    # or schemathesis, or httpx's ASGITransport
        client.post(..., headers=bearer("alertmanager"))
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from fastapi import FastAPI

from handrail.api import create_app
from handrail.api.auth import digest
from handrail.api.state import ApiState
from handrail.composition import open_api_state
from handrail.console import install_console
from handrail.settings import load_settings
from support.api import TOKENS

__all__ = ["api_app", "bearer"]


def bearer(role: str) -> dict[str, str]:
    """The `Authorization` header of the test token with `role`."""
    return {"Authorization": f"Bearer {TOKENS[role]}"}


@contextmanager
def api_app(
    root: Path, *, runbooks: Path, database: str, extra: str = "", environ: Mapping[str, str] | None = None
) -> Iterator[tuple[FastAPI, ApiState]]:
    """The app as `handrail serve` builds it, over settings written to `root/handrail.yaml`; closed afterwards."""
    tokens = "".join(
        f"    - {{name: {role}-user, role: {role}, sha256: {digest(token)}}}\n" for role, token in TOKENS.items()
    )
    config = root / "handrail.yaml"
    config.write_text(f"runbooks: '{runbooks}'\ndatabase: '{database}'\napi:\n  tokens:\n{tokens}{extra}")
    state, generated = open_api_state(load_settings(config, environ=dict(environ or {})))
    assert generated == []
    app = create_app(state)
    install_console(app, state)  # as cli/serve.py does
    try:
        yield app, state
    finally:
        state.service.close()
