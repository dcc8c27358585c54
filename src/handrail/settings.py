"""Settings from handrail.yaml: the one place that reads configuration files (and, later, the environment)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from handrail.errors import RunbookError, SettingsError
from handrail.runbook.load import validation_problems
from handrail.runbook.model import StrictModel
from handrail.runbook.source import read_document

__all__ = ["DEFAULT_CONFIG", "Settings", "load_settings"]

DEFAULT_CONFIG = Path("handrail.yaml")


class Settings(StrictModel):
    """Everything Handrail is configured with; paths are relative to the settings file."""

    runbooks: Path = Path("runbooks")
    """The catalog folder: every runbook file below it."""


def load_settings(path: Path | None = None) -> Settings:
    """Read `path` (or ./handrail.yaml if it exists); defaults when there is no file."""
    explicit = path is not None
    path = path or DEFAULT_CONFIG
    if not path.exists():
        if explicit:
            raise SettingsError(f"{path}: no such settings file")
        return Settings()
    try:
        document = read_document(path)
    except RunbookError as exc:
        raise SettingsError("\n".join(str(p).replace(" HR", " ", 1) for p in exc.problems)) from None
    data = dict(document.data)
    if isinstance(data.get("runbooks"), str):
        data["runbooks"] = Path(data["runbooks"])
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, document, model=Settings)
        raise SettingsError(
            "\n".join(f"{p.path}:{p.position.line}:{p.position.column}: {p.message}" for p in problems)
        ) from None
    base = path.resolve().parent
    return settings.model_copy(update={"runbooks": base / settings.runbooks})
