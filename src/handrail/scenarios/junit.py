"""The results of `handrail test` as JUnit XML, the shape CI systems read.

<testsuites>                      every runbook tested
  <testsuite name="runbook-id">   one per runbook (or per scenario file without a runbook)
    <properties/>                 coverage: decisions, statuses, total
    <testcase name="lint"/>       present when the runbook or its scenario files have problems
    <testcase name="scenario"/>   one per scenario; <failure> lists what differed
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from xml.etree.ElementTree import Element, SubElement, tostring

from handrail.runbook.problem import Problem, Severity
from handrail.scenarios.suite import RunbookReport, SuiteReport

__all__ = ["junit_xml"]

# XML 1.0 allows tab, newline, carriage return and printable characters only; a probe's error
# text or a scenario name could hold anything else, and ElementTree would write it as it is.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def junit_xml(report: SuiteReport) -> bytes:
    """The report as a JUnit XML document (UTF-8, with its declaration)."""
    root = Element("testsuites", name="handrail test")
    tests = failures = 0
    for runbook in report.runbooks:
        suite = _runbook_suite(root, runbook)
        tests += int(suite.get("tests", "0"))
        failures += int(suite.get("failures", "0"))
    for orphan in report.orphans:
        suite = SubElement(root, "testsuite", name=_text(orphan.path), file=_text(orphan.path), time="0")
        _lint_case(suite, orphan.path, orphan.problems)
        _count(suite, 1, 1, 0.0)
        tests, failures = tests + 1, failures + 1
    root.set("tests", str(tests))
    root.set("failures", str(failures))
    root.set("errors", "0")
    root.set("time", _seconds(report.duration_ms))
    document: bytes = tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def _runbook_suite(root: Element, report: RunbookReport) -> Element:
    name = report.runbook.id if report.runbook is not None else report.path
    suite = SubElement(root, "testsuite", name=_text(name), file=_text(report.path))
    if report.coverage is not None:
        properties = SubElement(suite, "properties")
        for key, tally in (
            ("coverage", report.coverage.tally),
            ("coverage.decisions", report.coverage.decision_tally),
            ("coverage.statuses", report.coverage.status_tally),
        ):
            SubElement(properties, "property", name=key, value=f"{tally.percent:.1f}")
    tests = failures = 0
    errors = [p for p in report.problems if p.severity is Severity.ERROR]
    if errors:
        _lint_case(suite, name, errors)
        tests, failures = 1, 1
    elapsed = 0.0
    for outcome in report.outcomes:
        scenario = outcome.scenario
        case = SubElement(
            suite,
            "testcase",
            classname=_text(name),
            name=_text(scenario.name),
            file=_text(scenario.path),
            line=str(scenario.line),
            time=_seconds(outcome.duration_ms),
        )
        elapsed += outcome.duration_ms
        tests += 1
        if not outcome.passed:
            failures += 1
            count = len(outcome.differences)
            message = str(outcome.differences[0]) if count == 1 else f"{count} expectations differ"
            failure = SubElement(case, "failure", message=_text(message), type="ScenarioFailure")
            failure.text = _text("\n".join(str(d) for d in outcome.differences))
    _count(suite, tests, failures, elapsed)
    return suite


def _lint_case(suite: Element, classname: str, problems: Sequence[Problem]) -> None:
    case = SubElement(suite, "testcase", classname=_text(classname), name="lint", time="0")
    noun = "problem" if len(problems) == 1 else "problems"
    failure = SubElement(case, "failure", message=f"{len(problems)} {noun}", type="LintError")
    failure.text = _text("\n".join(str(p) for p in problems))


def _count(suite: Element, tests: int, failures: int, elapsed_ms: float) -> None:
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", "0")
    suite.set("time", _seconds(elapsed_ms))


def _seconds(milliseconds: float) -> str:
    return f"{milliseconds / 1000:.6f}"


def _text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)
