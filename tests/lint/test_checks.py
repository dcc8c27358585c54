from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from handrail.actions import ACTION_PARAMS
from handrail.diagnostics import DIAGNOSTIC_PARAMS
from handrail.lint import lint_file, lint_paths
from handrail.runbook.template import AddressTemplateField, DestinationField, UrlTemplateField

TINY = """\
id: tiny
name: Tiny
description: d
severity: P3
service: s
triggers: [{type: manual}]
diagnostics:
  - id: up
    name: Up
    description: d
    type: prometheus_query
    config: {query: up}
    derive:
      pct: value * 100
      high: pct > 90
    interpret: {critical: high, healthy: "!high"}
decisionTree:
  - condition: diagnostics.up.high == true && labels.env == 'prod'
    then: [page]
    description: d
  - otherwise: true
    then: [page]
    description: d
remediations:
  - {id: page, name: Page, description: d, type: escalate}
escalation: {primary: "#x"}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_derived_facts_are_names_for_later_facts_interpret_and_conditions(tmp_path: Path) -> None:
    result = lint_file(_write(tmp_path, "tiny.yaml", TINY))
    assert result.problems == ()


def test_derive_may_not_use_a_fact_defined_after_it(tmp_path: Path) -> None:
    text = TINY.replace(
        "      pct: value * 100\n      high: pct > 90\n", "      high: pct > 90\n      pct: value * 100\n"
    )
    problems = lint_file(_write(tmp_path, "tiny.yaml", text)).problems
    assert [(p.code, p.position.line) for p in problems] == [("HR202", 14)]


def test_derive_may_not_hide_a_provided_name(tmp_path: Path) -> None:
    text = TINY.replace("      pct: value * 100\n", "      pct: value * 100\n      count: 3\n")
    problems = lint_file(_write(tmp_path, "tiny.yaml", text)).problems
    assert [(p.code, p.position.line, p.position.column) for p in problems] == [("HR301", 15, 7)]


def test_range_queries_provide_trend_names_and_instant_queries_do_not(tmp_path: Path) -> None:
    trend = TINY.replace("      high: pct > 90\n", "      high: delta > 90\n")
    assert [p.code for p in lint_file(_write(tmp_path, "a.yaml", trend)).problems] == ["HR202"]
    ranged = trend.replace("config: {query: up}", "config: {query: up, range: 1h, step: 1m}")
    assert lint_file(_write(tmp_path, "b.yaml", ranged)).problems == ()


def test_duplicate_runbook_ids_across_files_are_reported_in_the_second(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", TINY)
    _write(tmp_path, "b.yaml", TINY)
    results = lint_paths([tmp_path])
    assert [p.code for p in results[0].problems] == []
    assert [(p.code, p.position.line) for p in results[1].problems] == [("HR301", 1)]


def test_scenario_and_hidden_files_are_not_runbooks(tmp_path: Path) -> None:
    _write(tmp_path, "tiny.yaml", TINY)
    _write(tmp_path, "tiny.test.yaml", "not: a runbook\n")
    (tmp_path / ".git").mkdir()
    _write(tmp_path / ".git", "config.yaml", "x: 1\n")
    assert [Path(r.path).name for r in lint_paths([tmp_path])] == ["tiny.yaml"]


def test_a_condition_that_handles_errors_satisfies_the_all_errors_check(tmp_path: Path) -> None:
    text = TINY.replace("  - otherwise: true\n", "  - condition: diagnostics.up.status == 'error'\n")
    assert lint_file(_write(tmp_path, "tiny.yaml", text)).problems == ()


def test_every_problem_in_a_file_is_reported_not_just_the_first(tmp_path: Path) -> None:
    text = TINY.replace("then: [page]", "then: [pag]").replace("diagnostics.up.high", "diagnostics.upp.high")
    codes = sorted(p.code for p in lint_file(_write(tmp_path, "tiny.yaml", text)).problems)
    assert codes == ["HR203", "HR302", "HR302", "HR401"]


def _model_fields(model: type[BaseModel]) -> Iterator[tuple[str, FieldInfo]]:
    """(dotted name, field) of every field of `model` and of the models inside it."""
    for name, info in model.model_fields.items():
        yield name, info
        for inner in _models_in(info.annotation):
            for inner_name, inner_info in _model_fields(inner):
                yield f"{name}.{inner_name}", inner_info


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for argument in get_args(annotation):
        yield from _models_in(argument)


def test_every_url_in_a_diagnostic_or_action_config_is_marked_as_a_url_template() -> None:
    models = {**DIAGNOSTIC_PARAMS, **ACTION_PARAMS}
    urls = {
        f"{kind}.{name}": any(isinstance(item, UrlTemplateField) for item in info.metadata)
        for kind, model in models.items()
        for name, info in _model_fields(model)
        if name.rpartition(".")[2] == "url" or name.endswith("_url")
    }
    assert urls == {"http_check.urls.url": True}


def _marks(annotation: Any, metadata: tuple[Any, ...] = ()) -> Iterator[DestinationField]:
    """The destination marks on a field's annotation, inside `list[...]` and `... | None` too."""
    if get_origin(annotation) is Annotated:
        annotation, *extra = get_args(annotation)
        metadata = (*metadata, *extra)
    yield from (item for item in metadata if isinstance(item, DestinationField))
    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        for argument in get_args(annotation):
            yield from _marks(argument)


def test_every_host_port_and_server_name_in_a_config_is_marked_as_an_address() -> None:
    models = {**DIAGNOSTIC_PARAMS, **ACTION_PARAMS}
    marks = {
        f"{kind}.{name}": sorted(type(mark).__name__ for mark in _marks(info.annotation, tuple(info.metadata)))
        for kind, model in models.items()
        for name, info in _model_fields(model)
        if any(word in name.rpartition(".")[2] for word in ("host", "port", "target", "address", "server", "url"))
        and not any(_models_in(info.annotation))  # `urls` holds models whose own fields are listed
    }
    assert marks == {
        "http_check.urls.url": [UrlTemplateField.__name__],
        "tls_certificate.targets": [AddressTemplateField.__name__],
        "tls_certificate.server_name": [AddressTemplateField.__name__],
    }


def test_lint_reports_a_placeholder_in_a_tls_target_or_server_name_at_its_column(tmp_path: Path) -> None:
    text = TINY.replace(
        "type: prometheus_query\n    config: {query: up}",
        "type: tls_certificate\n    config:\n      targets: [www.example.com:443, 'db.internal:{{ labels.port }}']"
        "\n      serverName: '{{ labels.service }}.example.com'",
    ).replace("derive:\n      pct: value * 100\n      high: pct > 90\n", "derive: {high: expired}\n")
    result = lint_file(_write(tmp_path, "tiny.yaml", text))

    assert [(p.code, p.position.line, p.position.column) for p in result.problems] == [
        ("HR320", 13, 51),
        ("HR320", 14, 20),
    ]
    assert "targets[1]: {{ labels.port }} is in the address's port" in result.problems[0].message
    assert "serverName: {{ labels.service }} is in the address's host" in result.problems[1].message


def test_lint_reports_a_placeholder_in_a_url_host_at_its_column(tmp_path: Path) -> None:
    text = TINY.replace(
        "type: prometheus_query\n    config: {query: up}",
        'type: http_check\n    config: {urls: [{name: a, url: "https://{{ labels.host }}/x"}]}',
    ).replace("derive:\n      pct: value * 100\n      high: pct > 90\n", "derive: {high: '!all_healthy'}\n")
    result = lint_file(_write(tmp_path, "tiny.yaml", text))

    assert [(p.code, p.position.line, p.position.column) for p in result.problems] == [("HR320", 12, 45)]
    assert "{{ labels.host }} is in the URL's host" in result.problems[0].message
