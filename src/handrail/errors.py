"""Every error Handrail raises on purpose.

The tree:

    HandrailError
    ├── ExpressionError                 an expression could not be parsed or evaluated
    │   ├── ExpressionSyntaxError       the text is not a valid expression (or breaks a limit)
    │   └── ExpressionEvaluationError   a valid expression failed on the data it was given
    ├── TemplateError                   a `{{ ... }}` in a config string cannot be rendered safely
    ├── ProbeError                      a diagnostic could not collect its evidence (becomes status `error`)
    ├── ActionError                     a remediation action could not be run (or described)
    ├── NotifyError                     a notification could not be delivered (it is retried)
    │   └── notify.slack._Gone          the Slack message to update is gone (handled inside notify/slack.py)
    ├── IncidentError                   an incident command does not fit the incident (unknown id, wrong state)
    │   ├── IncidentNotFoundError       no incident has that id (API 404)
    │   ├── IncidentConflictError       the command does not fit the incident's state or runbook (API 409)
    │   ├── IncidentForbiddenError      this person may not do this to this incident (API 403)
    │   │   └── FourEyesError           under `api.fourEyes`, whoever opened an incident tried to approve its actions
    │   └── InputLimitError             a label, annotation, note or reason is larger than `api.limits` allows
    ├── RunbookError                    a runbook file has problems (each one with a code and a place)
    ├── CatalogError                    a runbook id or path names nothing that can be loaded
    ├── SettingsError                   handrail.yaml is missing a value or holds a wrong one
    ├── HistoryError                    an incident history file (`handrail replay --history`) has a bad line
    ├── SlackSignatureError             a request does not carry a valid, fresh Slack signature
    └── DemoError                       a piece of the demo world could not be set up, started or reached

Raised on purpose but defined beside the code that raises and catches them, and not `HandrailError`s:
each is translated into one of the errors above, a result or an answer before it leaves its layer, or
it belongs to the web framework (which `errors.py`, the base of every layer, may not import):

    Exception
    ├── process.ProcessError                   a subprocess could not be run to its end (the caller translates it)
    │   ├── process.ProcessStartError          the program could not be started
    │   └── process.ProcessTimeoutError        the program ran past its timeout; its process group was killed
    ├── sql.DatabaseSetupError                 no engine for a connection (becomes a ProbeError or ActionError)
    ├── actions.kubernetes.KubernetesRequestError  a Kubernetes API call failed (becomes a result with ok=False)
    ├── check.base.Unreachable                 a live system could not be asked (becomes an HR606 finding)
    ├── runbook.source._Hostile                a document breaks a parsing limit (becomes a Problem)
    ├── api.errors.ApiError                    an HTTP error with a status, a code and the field at fault
    ├── api.errors.BodyTooLarge                a body went past its limit (a Starlette HTTPException, 413)
    ├── console.pages.LoginRequired            no valid session: the browser goes to the login page
    └── console.pages.ConsoleError             a page or action that cannot be done: an HTML page with the status

`tests/test_errors.py` fails when an exception class defined anywhere in `handrail` is missing here.

Errors shown to runbook authors carry a stable code and a place (`path:line:col: HR201 ...`);
see `handrail.runbook.problem` for the codes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from handrail.runbook.problem import Problem

__all__ = [
    "ActionError",
    "CatalogError",
    "DemoError",
    "ExpressionError",
    "ExpressionEvaluationError",
    "ExpressionSyntaxError",
    "FourEyesError",
    "HandrailError",
    "HistoryError",
    "IncidentConflictError",
    "IncidentError",
    "IncidentForbiddenError",
    "IncidentNotFoundError",
    "InputLimitError",
    "NotifyError",
    "ProbeError",
    "RunbookError",
    "SettingsError",
    "SlackSignatureError",
    "TemplateError",
]


class HandrailError(Exception):
    """Base class of every error Handrail raises on purpose."""


class ExpressionError(HandrailError):
    """An expression could not be parsed or evaluated."""

    def __init__(self, message: str, *, column: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.column = column

    def __str__(self) -> str:
        return f"column {self.column}: {self.message}"


class ExpressionSyntaxError(ExpressionError):
    """The text is not a valid expression, or it breaks one of the language's limits."""


class ExpressionEvaluationError(ExpressionError):
    """A valid expression failed on the data it was given (wrong types, division by zero)."""


class TemplateError(HandrailError):
    """A `{{ ... }}` in a config string cannot be rendered safely where it lands."""


class ProbeError(HandrailError):
    """A diagnostic could not collect its evidence; the assessment records status `error`."""


class ActionError(HandrailError):
    """A remediation action could not be run or described; the message says why, without secrets."""


class NotifyError(HandrailError):
    """A notification could not be delivered; the engine retries it with backoff."""


class IncidentError(HandrailError):
    """An incident command does not fit: unknown incident, unknown remediation, or the wrong state."""


class IncidentNotFoundError(IncidentError):
    """No incident has the id a command named."""


class IncidentConflictError(IncidentError):
    """The command does not fit the incident: its state, its runbook, its plan or an earlier decision."""


class IncidentForbiddenError(IncidentError):
    """The person may not do this to this incident, whatever their role."""


class InputLimitError(IncidentError):
    """Something from outside is larger than its documented limit (`api.limits`); `field` says which."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class FourEyesError(IncidentForbiddenError):
    """Under `api.fourEyes`, the person who opened an incident tried to approve or reject its actions."""


class RunbookError(HandrailError):
    """A runbook file has problems; `problems` lists every one with its code and place."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


class CatalogError(HandrailError):
    """A runbook id or path names nothing that can be loaded."""

    def __init__(self, message: str, *, public: str | None = None, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.public = public or message
        """The message without server paths, for answers over HTTP."""
        self.problems = tuple(problems)
        """When the id names a file with errors: those errors (`handrail lint`'s lines)."""


class SettingsError(HandrailError):
    """handrail.yaml is missing a value or holds a wrong one."""


class HistoryError(HandrailError):
    """An incident history file cannot be read: the message names the file, the line and the field."""


class SlackSignatureError(HandrailError):
    """A request does not carry a valid, fresh Slack signature; `reason` says which check failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DemoError(HandrailError):
    """A piece of the demo world could not be set up, started or reached."""
