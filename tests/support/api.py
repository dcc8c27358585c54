"""An API on a throwaway SQLite database with one token per role, for in-process tests."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from handrail.api import create_app
from handrail.api.auth import digest
from handrail.composition import open_api_state
from handrail.console import install_console
from handrail.settings import load_settings

__all__ = ["TOKENS", "api_client"]

TOKENS = {role: f"token-for-{role}-0123456789" for role in ("viewer", "responder", "approver", "admin", "alertmanager")}


def api_client(root: Path, *, runbooks: Path, extra: str = "", database: str | None = None) -> TestClient:
    """The app on `root/api.db` (or `database`, to share one with another app, as several API processes do)."""
    tokens = "".join(
        f"    - {{name: {role}-user, role: {role}, sha256: {digest(token)}}}\n" for role, token in TOKENS.items()
    )
    config = root / "handrail.yaml"
    database = database or f"sqlite:///{root / 'api.db'}"
    config.write_text(f"runbooks: '{runbooks}'\ndatabase: '{database}'\napi:\n  tokens:\n{tokens}{extra}")
    state, generated = open_api_state(load_settings(config, environ={}))
    assert generated == []
    app = create_app(state)
    install_console(app, state)
    return TestClient(app)
