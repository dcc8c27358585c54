from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from handrail.errors import SettingsError
from handrail.redaction import redact
from handrail.settings import load_settings


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "handrail.yaml"
    path.write_text(text)
    return path


def test_no_file_gives_defaults_relative_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None, environ={})
    assert settings.runbooks == Path("runbooks")
    assert settings.prometheus == {}


def test_runbook_folder_is_relative_to_the_settings_file(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, "runbooks: books\n"), environ={})
    assert settings.runbooks == tmp_path.resolve() / "books"


def test_environment_variables_are_interpolated_and_kept_secret(tmp_path: Path) -> None:
    text = "prometheus:\n  default:\n    url: ${PROM_URL}\n    bearerToken: ${PROM_TOKEN}\n"
    settings = load_settings(_write(tmp_path, text), environ={"PROM_URL": "http://p:9090", "PROM_TOKEN": "s3cret"})
    connection = settings.prometheus["default"]
    assert connection.url == "http://p:9090"
    assert connection.bearer_token is not None
    assert connection.bearer_token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in str(settings.model_dump())
    assert settings.environment_names == {"PROM_URL", "PROM_TOKEN"}  # kept from runbook programs (process.py)


def test_missing_environment_variable_names_the_place(tmp_path: Path) -> None:
    text = "databases:\n  payments:\n    url: ${PAYMENTS_URL}\n"
    with pytest.raises(SettingsError) as caught:
        load_settings(_write(tmp_path, text), environ={})
    assert str(caught.value).endswith("handrail.yaml:3:10: environment variable PAYMENTS_URL is not set")


def test_double_dollar_is_a_literal(tmp_path: Path) -> None:
    text = "prometheus:\n  default:\n    url: http://p:9090\n    headers: {X-Literal: '$${NOT_A_VAR}'}\n"
    settings = load_settings(_write(tmp_path, text), environ={})
    assert settings.prometheus["default"].headers == {"X-Literal": "${NOT_A_VAR}"}


def test_prometheus_url_is_the_default_connection_when_none_is_configured() -> None:
    settings = load_settings(None, environ={"PROMETHEUS_URL": "http://localhost:9090"})
    assert settings.prometheus["default"].url == "http://localhost:9090"


def test_configured_default_wins_over_the_environment(tmp_path: Path) -> None:
    text = "prometheus:\n  default: {url: 'http://file:9090'}\n"
    settings = load_settings(_write(tmp_path, text), environ={"PROMETHEUS_URL": "http://env:9090"})
    assert settings.prometheus["default"].url == "http://file:9090"


def test_unknown_setting_suggests_the_right_one(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(_write(tmp_path, "prometheous: {}\n"), environ={})
    assert "did you mean 'prometheus'?" in str(caught.value)


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError):
        load_settings(tmp_path / "nope.yaml", environ={})


TOKEN = "pr0m-t0ken-7c1d9e"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param(
            "prometheus:\n  default: {url: 'ftp://u:${PROM_TOKEN}@h/'}\n", "ftp://u:${PROM_TOKEN}@h/", id="url-pattern"
        ),
        pytest.param("api:\n  tokens: [{name: a, role: '${PROM_TOKEN}', sha256: x}]\n", "${PROM_TOKEN}", id="choice"),
        pytest.param("assessmentDeadline: '${PROM_TOKEN}'\n", "${PROM_TOKEN}", id="number"),
        pytest.param(
            "notifiers:\n  webhook: {url: 'https://h/${PROM_TOKEN}', timeout: '${PROM_TOKEN}'}\n",
            "${PROM_TOKEN}",
            id="duration",
        ),
    ],
)
def test_settings_errors_never_print_a_value_read_from_the_environment(
    tmp_path: Path, text: str, shown: str | None
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(_write(tmp_path, text), environ={"PROM_TOKEN": TOKEN})
    message = str(caught.value)
    assert TOKEN not in message
    assert shown is None or shown in message, message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("engine:\n  minuteSeconds: .inf\n", "engine.minuteSeconds", id="minute-infinite"),
        pytest.param("engine:\n  minuteSeconds: 1e308\n", "engine.minuteSeconds", id="minute-huge"),
        pytest.param("assessmentDeadline: .inf\n", "assessmentDeadline", id="deadline-infinite"),
        pytest.param("engine:\n  takeoverAfterSeconds: 1e308\n", "engine.takeoverAfterSeconds", id="takeover-huge"),
        pytest.param("safety:\n  cooldownMinutes: .inf\n", "safety.cooldownMinutes", id="cooldown-infinite"),
        pytest.param("api:\n  sessionHours: 1e308\n", "api.sessionHours", id="session-huge"),
        pytest.param(
            "prometheus:\n  default: {url: 'http://p:9090', timeout: .inf}\n",
            "prometheus.default.timeout",
            id="timeout",
        ),
    ],
)
def test_settings_refuse_durations_that_are_not_finite_or_too_long(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(SettingsError, match=f"handrail.yaml:\\d+:\\d+: {problem}: "):
        load_settings(_write(tmp_path, text), environ={})


def test_settings_take_durations_up_to_the_maximum(tmp_path: Path) -> None:
    text = "engine:\n  minuteSeconds: 3600\nsafety:\n  cooldownMinutes: 527040\napi:\n  sessionHours: 8784\n"
    settings = load_settings(_write(tmp_path, text), environ={})
    assert (settings.engine.minute_seconds, settings.safety.cooldown_minutes, settings.api.session_hours) == (
        3600,
        527040,
        8784,
    )


def test_values_read_from_the_environment_are_redacted_from_then_on_except_names(tmp_path: Path) -> None:
    token, worker = "t0ken-" + uuid.uuid4().hex, "worker-" + uuid.uuid4().hex
    text = (
        "engine:\n  executorId: '${HANDRAIL_EXECUTOR_ID}'\n"
        "notifiers:\n  webhook: {url: 'https://hooks.example.com:8443/hook/${HOOK_TOKEN}'}\n"
    )
    load_settings(_write(tmp_path, text), environ={"HOOK_TOKEN": token, "HANDRAIL_EXECUTOR_ID": worker})
    echoed = f"POST https://hooks.example.com:8443/hook/{token} failed; no route /hook/{token}; by {worker}"
    assert redact(echoed) == f"POST https://hooks.example.com:8443 failed; no route /hook/***; by {worker}"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        pytest.param(
            "policy:\n  maxEscalateAfterMinutes: {P5: 10}\n",
            "handrail.yaml:2:29: policy.maxEscalateAfterMinutes.P5: the string 'P5' is not allowed;"
            " expected 'P1', 'P2', 'P3' or 'P4'",
            id="a-severity-that-does-not-exist",
        ),
        pytest.param(
            "policy:\n  maxEscalateAfterMinutes:\n    P1: 0\n",
            "handrail.yaml:3:9: policy.maxEscalateAfterMinutes.P1: Input should be greater than 0",
            id="no-minutes",
        ),
        pytest.param(
            "policy:\n  requireApproval:\n    actions: [reboot]\n",
            "handrail.yaml:3:15: policy.requireApproval.actions[0]: the string 'reboot' is not allowed;"
            " expected 'restart_service', 'scale_up', 'rollback', 'flush_cache', 'run_script' or 'notify'",
            id="an-action-type-that-does-not-exist",
        ),
        pytest.param(
            "policy:\n  requireFallback: yes\n",
            "handrail.yaml:2:20: policy.requireFallback: expected true or false, got the string 'yes'",
            id="not-a-bool",
        ),
        pytest.param(
            "policy:\n  allowedTarget: ['#x']\n",
            "handrail.yaml:2:3: unknown key 'allowedTarget' in policy; did you mean 'allowedTargets'?",
            id="a-misspelt-rule",
        ),
    ],
)
def test_a_malformed_policy_is_a_settings_error_naming_the_field(tmp_path: Path, text: str, error: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(_write(tmp_path, text), environ={})
    assert str(caught.value) == f"{tmp_path}/{error}"


def test_the_policy_reaches_the_checker_as_plain_data(tmp_path: Path) -> None:
    text = (
        "policy:\n  requireApproval: {actions: [rollback], writingSql: true}\n  requireFallback: true\n"
        "  maxEscalateAfterMinutes: {P1: 15}\n  allowedTargets: ['#incidents-*']\n"
    )
    policy = load_settings(_write(tmp_path, text), environ={}).policy.checker()
    assert (policy.require_approval, policy.writing_sql_requires_approval, policy.require_fallback) == (
        frozenset({"rollback"}),
        True,
        True,
    )
    assert (policy.max_escalate_after_minutes, policy.allowed_targets) == ({"P1": 15}, ("#incidents-*",))
    assert load_settings(_write(tmp_path, "runbooks: r\n"), environ={}).policy.checker().allowed_targets is None
