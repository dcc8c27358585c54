"""The checks `handrail lint` runs on one runbook that passed the schema."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from handrail.actions import ACTION_PARAMS
from handrail.actions.base import ActionScope
from handrail.diagnostics import DIAGNOSTIC_PARAMS
from handrail.errors import ExpressionSyntaxError, TemplateError
from handrail.expression import Expression, parse
from handrail.expression.function import regex_problem
from handrail.runbook.load import did_you_mean, format_path, validation_problems
from handrail.runbook.model import Diagnostic, Runbook
from handrail.runbook.problem import Problem
from handrail.runbook.source import Document, DocumentPath
from handrail.runbook.template import DestinationField, has_placeholders, parse_template
from handrail.safety import AllowList

__all__ = ["RESULT_FIELDS", "RunbookChecks", "diagnostic_names", "provided_names", "static_scope"]

RESULT_FIELDS: Mapping[str, str] = {
    "status": "healthy, warning, critical, unknown or error",
    "message": "what the probe found, in one line",
    "name": "the diagnostic's name",
    "durationMs": "how long the probe took, in milliseconds",
}
CONTEXT_ROOTS: Mapping[str, str] = {"labels": "the alert's labels (or --label given by hand)"}
TEMPLATE_ROOTS = frozenset({"labels", "annotations"})


def provided_names(diagnostic: Diagnostic) -> dict[str, str]:
    """The names this diagnostic's probe provides, for its type and config."""
    params_type = DIAGNOSTIC_PARAMS[diagnostic.type]
    try:
        return dict(params_type.model_validate(diagnostic.config).provided_names())
    except ValidationError:
        return dict(params_type.PROVIDES)


def diagnostic_names(diagnostic: Diagnostic) -> dict[str, str]:
    """The names interpret and decision conditions may read from this diagnostic's result."""
    provided = provided_names(diagnostic)
    for name in diagnostic.derive:
        provided[name] = "derived"
    return provided


@dataclass
class RunbookChecks:
    """Runs every per-runbook check and collects the problems."""

    runbook: Runbook
    document: Document
    allow: AllowList | None = None
    """The settings' allow-lists, when lint runs with settings (HR308)."""
    problems: list[Problem] = field(default_factory=list)
    parsed: dict[DocumentPath, Expression] = field(default_factory=dict)

    def run(self) -> list[Problem]:
        self._triggers()
        self._unique_ids()
        for index, diagnostic in enumerate(self.runbook.diagnostics):
            self._diagnostic(index, diagnostic)
            self._templates(("diagnostics", index, "config"), diagnostic.config)
            self._destinations(("diagnostics", index, "config"), DIAGNOSTIC_PARAMS[diagnostic.type], diagnostic.config)
        self._decisions()
        self._remediations()
        for index, remediation in enumerate(self.runbook.remediations):
            if remediation.action is not None:
                at = ("remediations", index, "action", "config")
                self._templates(at, remediation.action.config)
                self._destinations(at, ACTION_PARAMS[remediation.action.type], remediation.action.config)
        return self.problems

    # -- helpers -------------------------------------------------------------------------

    def _add(self, at: DocumentPath, code: str, message: str, *, key: bool = False) -> None:
        self.problems.append(Problem(self.document.path, self.document.position(at, key=key), code, message))

    def _expression(self, at: DocumentPath, source: str) -> Expression | None:
        try:
            expression = parse(source)
        except ExpressionSyntaxError as exc:
            where = self.document.text_position(at, exc.column)
            self.problems.append(Problem(self.document.path, where, "HR201", f"{format_path(at)}: {exc.message}"))
            return None
        self.parsed[at] = expression
        return expression

    def _reference_problem(self, at: DocumentPath, column: int, code: str, message: str) -> None:
        self.problems.append(Problem(self.document.path, self.document.text_position(at, column), code, message))

    def _templates(self, at: DocumentPath, value: object) -> None:
        """`{{ ... }}` in config strings: valid, and reading only the alert's labels and annotations."""
        if isinstance(value, dict):
            for key, item in value.items():
                self._templates((*at, key), item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self._templates((*at, index), item)
        elif isinstance(value, str) and has_placeholders(value):
            try:
                template = parse_template(value)
            except TemplateError as exc:
                self._add(at, "HR201", f"{format_path(at)}: template {exc}")
                return
            for placeholder in template.placeholders:
                for reference in placeholder.expression.references:
                    if reference.path[0] not in TEMPLATE_ROOTS:
                        message = (
                            f"{format_path(at)}: templates read 'labels.…' and 'annotations.…',"
                            f" not '{reference.path[0]}'"
                        )
                        self._add(at, "HR202", message)

    def _destinations(self, at: DocumentPath, model: type[BaseModel], config: object) -> None:
        """HR320: no placeholder that chooses where a request goes, in any config field marked `DestinationField`."""
        for path, (value, mark) in dict(_destination_fields(model, config, at)).items():
            try:
                template = parse_template(value)
            except TemplateError:
                continue  # reported by _templates
            problem = mark.placeholder_problem(template)
            if problem is not None:
                column, why = problem
                self._reference_problem(path, column, "HR320", f"{format_path(path)}: {why}")

    # -- triggers and ids ----------------------------------------------------------------

    def _triggers(self) -> None:
        for index, trigger in enumerate(self.runbook.triggers):
            at: DocumentPath = ("triggers", index)
            if trigger.type == "alert" and not trigger.alert_name:
                self._add(at, "HR101", f"{format_path(at)}: an alert trigger needs 'alertName'")
            if trigger.type == "metric_threshold":
                for name, required in (("metricQuery", trigger.metric_query), ("threshold", trigger.threshold)):
                    if required is None:
                        self._add(at, "HR101", f"{format_path(at)}: a metric_threshold trigger needs '{name}'")
            if trigger.type != "alert":
                for name, present in (("alertName", bool(trigger.alert_name)), ("labels", bool(trigger.labels))):
                    if present:
                        self._add((*at, name), "HR404", f"'{name}' has no effect on a {trigger.type} trigger", key=True)
            for label, matcher in trigger.labels.items():
                self._label_matcher((*at, "labels", label), matcher)

    def _label_matcher(self, at: DocumentPath, matcher: str) -> None:
        if matcher[:2] not in ("=~", "!~"):
            return
        problem = regex_problem(matcher[2:])
        if problem is not None:
            self._add(at, "HR105", f"{format_path(at)}: {problem}")

    def _unique_ids(self) -> None:
        diagnostic_ids = [d.id for d in self.runbook.diagnostics]
        remediation_ids = [r.id for r in self.runbook.remediations]
        for kind, ids in (("diagnostic", diagnostic_ids), ("remediation", remediation_ids)):
            seen: set[str] = set()
            for index, item_id in enumerate(ids):
                if item_id in seen:
                    at = (f"{kind}s", index, "id")
                    self._add(at, "HR301", f"{format_path(at)}: another {kind} already has the id '{item_id}'")
                seen.add(item_id)

    # -- diagnostics -----------------------------------------------------------------------

    def _diagnostic(self, index: int, diagnostic: Diagnostic) -> None:
        at: DocumentPath = ("diagnostics", index)
        params_type = DIAGNOSTIC_PARAMS[diagnostic.type]
        try:
            params = params_type.model_validate(diagnostic.config)
        except ValidationError as exc:
            for problem in validation_problems(exc, self.document, prefix=(*at, "config"), model=params_type):
                self.problems.append(_recode(problem, "HR306", f"({diagnostic.type}) "))
        else:
            for refusal in params.refusals():
                field_at = (*at, "config", refusal.field)
                message = f"{format_path(field_at)}: {refusal.message}"
                self._reference_problem(field_at, refusal.column, refusal.code, message)
        raw = provided_names(diagnostic)
        available = {**raw, **CONTEXT_ROOTS}
        for name, source in diagnostic.derive.items():
            derive_at = (*at, "derive", name)
            if name in raw:
                self._add(
                    derive_at,
                    "HR301",
                    f"derived fact '{name}' would hide the name {diagnostic.type} provides",
                    key=True,
                )
            elif not name.isidentifier() or name.startswith("__"):
                self._add(
                    derive_at, "HR105", f"derived fact '{name}' must be a plain name (letters, digits, _)", key=True
                )
            self._names_in(derive_at, source, available, diagnostic)
            available[name] = "derived"
        for status in ("critical", "warning", "healthy"):
            source = getattr(diagnostic.interpret, status)
            if source is not None:
                self._names_in((*at, "interpret", status), source, available, diagnostic)

    def _names_in(self, at: DocumentPath, source: str, available: Mapping[str, str], diagnostic: Diagnostic) -> None:
        expression = self._expression(at, source)
        if expression is None:
            return
        for reference in expression.references:
            root = str(reference.path[0])
            if root not in available:
                hint = did_you_mean(root, available)
                message = (
                    f"{format_path(at)}: '{root}' is not provided by {diagnostic.type} and no derive defines it{hint}"
                )
                self._reference_problem(at, reference.column, "HR202", message)

    # -- decisions -----------------------------------------------------------------------

    def _decisions(self) -> None:
        remediation_ids = [r.id for r in self.runbook.remediations]
        fallbacks = 0
        for index, decision in enumerate(self.runbook.decision_tree):
            at: DocumentPath = ("decisionTree", index)
            if decision.otherwise:
                fallbacks += 1
                if fallbacks > 1:
                    self._add((*at, "otherwise"), "HR105", "only one decision may be the `otherwise` fallback")
                if decision.condition is not None:
                    self._add(
                        (*at, "condition"),
                        "HR105",
                        "a decision is either `otherwise: true` or has a condition, not both",
                    )
            elif decision.condition is None:
                self._add(at, "HR101", f"{format_path(at)}: missing required field 'condition' (or `otherwise: true`)")
            else:
                self._condition((*at, "condition"), decision.condition)
            for position, remediation_id in enumerate(decision.then):
                if remediation_id not in remediation_ids:
                    hint = did_you_mean(remediation_id, remediation_ids)
                    message = f"decision names remediation '{remediation_id}', which is not defined{hint}"
                    self._add((*at, "then", position), "HR302", message)

    def _condition(self, at: DocumentPath, source: str) -> None:
        expression = self._expression(at, source)
        if expression is None:
            return
        diagnostics = {d.id: d for d in self.runbook.diagnostics}
        for reference in expression.references:
            path = reference.path
            root = str(path[0])
            if root in CONTEXT_ROOTS:
                continue
            if root != "diagnostics":
                message = f"{format_path(at)}: conditions read 'diagnostics.<id>.…' and 'labels.…', not '{root}'"
                self._reference_problem(at, reference.column, "HR202", message)
                continue
            if len(path) < 2:
                continue
            target = diagnostics.get(str(path[1]))
            if target is None:
                hint = did_you_mean(str(path[1]), diagnostics)
                message = f"{format_path(at)}: no diagnostic has the id '{path[1]}'{hint}"
                self._reference_problem(at, reference.column, "HR203", message)
            elif len(path) >= 3:
                fields = {**RESULT_FIELDS, **diagnostic_names(target)}
                if str(path[2]) not in fields:
                    hint = did_you_mean(str(path[2]), fields)
                    message = f"{format_path(at)}: diagnostic '{target.id}' ({target.type}) has no '{path[2]}'{hint}"
                    self._reference_problem(at, reference.column, "HR204", message)

    # -- remediations --------------------------------------------------------------------

    def _remediations(self) -> None:
        diagnostic_ids = [d.id for d in self.runbook.diagnostics]
        referenced = {rid for decision in self.runbook.decision_tree for rid in decision.then}
        for index, remediation in enumerate(self.runbook.remediations):
            at: DocumentPath = ("remediations", index)
            if remediation.type == "automated" and remediation.action is None:
                self._add(at, "HR303", f"automated remediation '{remediation.id}' has no 'action'")
            if remediation.type == "manual" and not remediation.instructions:
                self._add(at, "HR304", f"manual remediation '{remediation.id}' has no 'instructions' for the responder")
            if remediation.type != "automated":
                for name, present in _only_for_automated(
                    remediation.action, remediation.requires_approval, remediation.verify
                ):
                    if present:
                        message = f"'{name}' has no effect on a {remediation.type} remediation"
                        self._add((*at, name), "HR404", message, key=True)
            if remediation.action is not None:
                self._action((*at, "action"), remediation.action.type, remediation.action.config)
                if self.allow is not None:
                    self._allowed((*at, "action", "config"), remediation.action.type, remediation.action.config)
            if remediation.verify is not None:
                for position, diagnostic_id in enumerate(remediation.verify.diagnostics):
                    if diagnostic_id not in diagnostic_ids:
                        hint = did_you_mean(diagnostic_id, diagnostic_ids)
                        message = f"verify names diagnostic '{diagnostic_id}', which does not exist{hint}"
                        self._add((*at, "verify", "diagnostics", position), "HR307", message)
            if remediation.id not in referenced:
                message = f"remediation '{remediation.id}' is never used: no decision names it"
                self._add((*at, "id"), "HR401", message)

    def _allowed(self, at: DocumentPath, action_type: str, config: Mapping[str, object]) -> None:
        assert self.allow is not None
        refusal = self.allow.refusal(static_scope(action_type, config))
        if refusal is not None:
            self._add(at, "HR308", f"{format_path(at)}: {refusal}; the engine would refuse to run it")

    def _action(self, at: DocumentPath, action_type: str, config: Mapping[str, object]) -> None:
        params_type = ACTION_PARAMS[action_type]
        try:
            params_type.model_validate(config)
        except ValidationError as exc:
            for problem in validation_problems(exc, self.document, prefix=(*at, "config"), model=params_type):
                self.problems.append(_recode(problem, "HR305", f"({action_type}) "))


def static_scope(action_type: str, config: Mapping[str, object]) -> ActionScope:
    """What an action's config says it touches, for what can be known before templates render."""

    def plain(key: str) -> str | None:
        value = config.get(key)
        return value if isinstance(value, str) and not has_placeholders(value) else None

    def program(command: object) -> str | None:
        if isinstance(command, str):
            return "sh"
        if isinstance(command, list) and command and isinstance(command[0], str) and not has_placeholders(command[0]):
            return PurePath(command[0]).name
        return None

    if action_type in ("restart_service", "scale_up", "rollback"):
        if action_type == "restart_service" and "command" in config:
            return ActionScope(target="", command=program(config["command"]))
        return ActionScope(target="", namespace=plain("namespace") or "default")
    if action_type == "run_script":
        if "sql" in config:
            return ActionScope(target="", database=plain("database"))
        return ActionScope(target="", command="sh" if "shell" in config else program(config.get("command")))
    if action_type == "flush_cache":
        return ActionScope(target="", cache=plain("connection") or "default")
    return ActionScope(target="")


def _only_for_automated(action: object, requires_approval: bool, verify: object) -> Iterator[tuple[str, bool]]:
    yield "action", action is not None
    yield "requiresApproval", requires_approval
    yield "verify", verify is not None


def _recode(problem: Problem, code: str, prefix: str) -> Problem:
    return Problem(problem.path, problem.position, code, prefix + problem.message)


def _destination_fields(
    model: type[BaseModel], data: object, at: DocumentPath
) -> Iterator[tuple[DocumentPath, tuple[str, DestinationField]]]:
    """(path, (text, mark)) of every string in `data` that `model` marks as saying where a request goes."""
    if not isinstance(data, dict):
        return
    for name, info in model.model_fields.items():
        key = str(info.validation_alias or info.alias or name)
        if key in data:
            yield from _destination_values(info.annotation, tuple(info.metadata), data[key], (*at, key))


def _destination_values(
    annotation: Any, metadata: tuple[Any, ...], value: object, at: DocumentPath
) -> Iterator[tuple[DocumentPath, tuple[str, DestinationField]]]:
    if get_origin(annotation) is Annotated:
        annotation, *extra = get_args(annotation)
        metadata = (*metadata, *extra)
    origin, arguments = get_origin(annotation), get_args(annotation)
    mark = next((item for item in metadata if isinstance(item, DestinationField)), None)
    if mark is not None:
        if isinstance(value, str):
            yield at, (value, mark)
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield from _destination_fields(annotation, value, at)
    elif origin is list and isinstance(value, list):
        for index, item in enumerate(value):
            yield from _destination_values(arguments[0], (), item, (*at, index))
    elif origin is dict and isinstance(value, dict):
        for key, item in value.items():
            yield from _destination_values(arguments[1], (), item, (*at, key))
    elif origin not in (list, dict):  # a union: whichever member the value fits
        for argument in arguments:
            yield from _destination_values(argument, (), value, at)
