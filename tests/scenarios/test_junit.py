"""The JUnit XML is well-formed, in the testsuites/testsuite/testcase/failure shape, and counts right."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from handrail.scenarios import junit_xml, run_suite

from .support import FIXTURES, INVALID, TINY


async def test_junit_has_a_suite_per_runbook_a_case_per_scenario_and_failures_with_details(tmp_path: Path) -> None:
    shutil.copy(TINY, tmp_path / "tiny.yaml")
    text = (FIXTURES / "tiny.test.yaml").read_text()
    text = text.replace("escalates: true", "escalates: false").replace(
        "name: the service is slow", 'name: "slow \\a bell"'
    )
    (tmp_path / "tiny.test.yaml").write_text(text)
    shutil.copy(INVALID / "bad-status.yaml", tmp_path / "ghost.test.yaml")
    report = await run_suite([tmp_path])

    root = ET.fromstring(junit_xml(report))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "2", "0")
    tiny, ghost = root.findall("testsuite")
    assert (tiny.get("name"), tiny.get("tests"), tiny.get("failures")) == ("tiny", "3", "1")
    properties = {p.get("name"): p.get("value") for p in tiny.iter("property")}
    assert properties == {"coverage": "100.0", "coverage.decisions": "100.0", "coverage.statuses": "100.0"}
    cases = tiny.findall("testcase")
    assert [c.get("name") for c in cases] == ["the service is down", "slow \ufffd bell", "nothing can be measured"]
    assert {c.get("classname") for c in cases} == {"tiny"}
    assert cases[0].find("failure") is None
    failure = cases[2].find("failure")
    assert failure is not None
    assert failure.get("message") == "escalates: expected false, got true"
    assert failure.text == "escalates: expected false, got true"
    assert cases[2].get("file") == str(tmp_path / "tiny.test.yaml")
    assert int(cases[2].get("line", "0")) > 1
    assert float(cases[2].get("time", "-1")) >= 0

    (lint,) = ghost.findall("testcase")
    assert lint.get("name") == "lint"
    lint_failure = lint.find("failure")
    assert lint_failure is not None
    assert lint_failure.text is not None
    assert "HR004 no runbook beside this scenario file" in lint_failure.text
    assert "HR103" in lint_failure.text
