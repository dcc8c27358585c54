"""Problems found in runbook files: a stable code, a severity and a precise place."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["CODES", "Position", "Problem", "Severity"]


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Position:
    """A 1-based line and column in a file."""

    line: int = 1
    column: int = 1


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in one file, printed the way compilers and ruff print them."""

    path: str
    position: Position
    code: str
    message: str

    @property
    def severity(self) -> Severity:
        return CODES[self.code][0]

    def __str__(self) -> str:
        where = f"{self.path}:{self.position.line}:{self.position.column}"
        prefix = "warning: " if self.severity is Severity.WARNING else ""
        return f"{where}: {self.code} {prefix}{self.message}"

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.position.line,
            "column": self.position.column,
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
        }


_E, _W = Severity.ERROR, Severity.WARNING

# The stable codes. docs/lint-codes.md documents each one (a test keeps the two in step).
CODES: dict[str, tuple[Severity, str]] = {
    # HR0xx: reading the file
    "HR001": (_E, "the file is not valid YAML or JSON"),
    "HR002": (_E, "the file is too large, too deeply nested or expands too far (hostile input)"),
    "HR003": (_E, "the same key appears twice in one mapping"),
    "HR004": (_E, "the file cannot be read (missing, not a file, not UTF-8)"),
    "HR005": (_E, "the document is empty or is not a mapping"),
    # HR1xx: the schema
    "HR101": (_E, "a required field is missing"),
    "HR102": (_E, "a field has the wrong type"),
    "HR103": (_E, "a value is not one of the allowed choices"),
    "HR104": (_E, "an unknown key"),
    "HR105": (_E, "a value breaks a rule of its field (format, range, combination)"),
    # HR2xx: expressions
    "HR201": (_E, "an expression does not parse"),
    "HR202": (_E, "an expression names something the diagnostic does not provide"),
    "HR203": (_E, "a condition names a diagnostic that does not exist"),
    "HR204": (_E, "a condition reads a field a diagnostic result does not have"),
    # HR3xx: references and meaning
    "HR301": (_E, "two things share one id"),
    "HR302": (_E, "a decision names a remediation that does not exist"),
    "HR303": (_E, "an automated remediation has no action"),
    "HR304": (_E, "a manual remediation has no instructions"),
    "HR305": (_E, "an action's config does not fit its action type"),
    "HR306": (_E, "a diagnostic's config does not fit its diagnostic type"),
    "HR307": (_E, "a verify step names a diagnostic that does not exist"),
    "HR308": (_E, "an automated action touches something the settings' allow-lists do not name"),
    "HR310": (_E, "a database_query is not exactly one statement"),
    "HR311": (_E, "a database_query controls the transaction or the session (BEGIN, COMMIT, SET, ...)"),
    "HR312": (_E, "a database_query writes files or runs programs on the server (COPY, INTO OUTFILE)"),
    "HR313": (_E, "a database_query does not start with a reading keyword (SELECT, WITH, SHOW, ...)"),
    "HR320": (_E, "a placeholder in a URL's scheme, userinfo, host or port: an alert label would choose where it goes"),
    # HR4xx: warnings
    "HR401": (_W, "a remediation that no decision references"),
    "HR402": (_W, "no decision can fire when every diagnostic errors"),
    "HR403": (_W, "a status that can never be reached: an earlier one always holds first"),
    "HR404": (_W, "a field that has no effect for this type"),
    # HR5xx: the catalog as a whole
    "HR501": (_E, "`shadowOf` names no runbook in the catalog"),
    "HR502": (_E, "`shadowOf` names a runbook that is itself a shadow (a chain of shadows)"),
    "HR503": (_E, "`shadowOf` names the runbook itself"),
    # HR6xx: `handrail check`, the runbook against the live systems (HR65x: warnings)
    "HR601": (_E, "a metric the query names has no series on its Prometheus"),
    "HR602": (_E, "a label a matcher names is on no series of its metric"),
    "HR603": (_E, "the server refuses the query (PromQL, LogQL)"),
    "HR604": (_E, "no alerting rule loaded on Prometheus defines the trigger's alert name"),
    "HR605": (_E, "the SQL does not plan on its database (a missing table, column or function)"),
    "HR606": (_E, "a system the runbook needs cannot be reached"),
    "HR607": (_E, "the runbook names a connection the settings do not define"),
    "HR608": (_E, "a program the runbook runs is not on this machine"),
    "HR609": (_E, "a log file the runbook reads is missing or unreadable"),
    "HR610": (_E, "a host the runbook connects to does not resolve"),
    "HR611": (_E, "a Kubernetes workload the runbook acts on cannot be read"),
    "HR650": (_W, "no alerting rule of that name can give an alert labels the trigger's matchers take"),
    # HR7xx: the team's policy (settings' `policy`, lint/policy.py)
    "HR701": (_E, "an action the policy's requireApproval names runs without `requiresApproval: true`"),
    "HR702": (_E, "no `otherwise` decision that escalates or reaches a person, and the policy's requireFallback asks"),
    "HR703": (_E, "escalateAfterMinutes is longer than the policy's maxEscalateAfterMinutes for the severity"),
    "HR704": (_E, "an escalation or notify target the policy's allowedTargets does not name"),
}
