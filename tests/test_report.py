"""The post-incident report, rendered as a reader's Markdown renderer renders it.

Labels, annotations, notes and outputs are attacker-controlled. Each test renders the report with
markdown-it-py's CommonMark preset with raw HTML on (as GitHub-like renderers do), with GitHub's
tables and without them, and reads the HTML back: the only elements are the report's own, no
attribute at all, and every outside text is exactly the text content of its cell or block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from xml.etree import ElementTree

import pytest
from hypothesis import example, given
from markdown_it import MarkdownIt

from handrail.console.charts import report_files
from handrail.report import incident_report
from support.fuzzing import fuzz_settings, hostile_text
from support.records import action, chart, note, record, verification

GITHUB = MarkdownIt("commonmark", {"html": True}).enable("table")
COMMONMARK = MarkdownIt("commonmark", {"html": True})
OWN_ELEMENTS = {"h1", "h2", "h3", "p", "ul", "li", "code", "pre", "table", "thead", "tbody", "tr", "th", "td"}
HEADINGS = ["Summary", "Alert", "Evidence", "Decisions", "Actions", "Timeline"]

PAYLOADS = [
    "x\r# Pwned\r![x](https://evil.example/x.png)\r<script>alert(1)</script>",
    "x\r\n## Pwned\r\n<img src=x onerror=alert(1)>",
    "```\n# Pwned\n<img src=x onerror=alert(1)>\n```",
    "````\r<script>alert(1)</script>\r````",
    "a | b | <img src=x onerror=alert(1)> |",
    "\\| <img src=x onerror=alert(1)>",
    "<!-- x --><iframe src=https://evil.example>",
    "[click](javascript:alert(1)) <https://evil.example> *bold* _em_ ~~del~~ `code` $x$",
    "&lt;script&gt; &#60;script&#62; &amp;",
    "    indented\n\ttabbed\n- item\n1. item\n> quote\n---\n===",
    "[x]: https://evil.example\n[x]",
    " \u00a0\u2028\ufeff\x1b[31mred\x1b[0m\x00\x85 ",
]

# What a report cannot carry: control characters (a terminal would obey them) and lone surrogates
# become U+FFFD.
CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def visible(text: str) -> str:
    return CONTROL.sub("\ufffd", text)


def in_block(text: str) -> str:
    """A code block's text content: CommonMark reads CR and CRLF as LF, and a block ends its last line."""
    text = re.sub(r"\r\n?", "\n", visible(text))
    return text if not text or text.endswith("\n") else text + "\n"


@dataclass
class Page:
    """What a renderer made of the report: elements, table rows, headings and code blocks as text."""

    elements: list[tuple[str, list[tuple[str, str | None]]]] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    headings: list[tuple[str, str]] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._open: list[str] = []
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.page.elements.append((tag, attrs))
        if tag == "tr":
            self.page.rows.append([])
        if tag in ("td", "th", "h1", "h2", "h3", "p", "li") or (tag == "code" and self._open[-1:] == ["pre"]):
            self._text = []
        self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self._open.pop()
        text = "".join(self._text)
        if tag in ("td", "th"):
            self.page.rows[-1].append(text)
        elif tag in ("h1", "h2", "h3"):
            self.page.headings.append((tag, text))
        elif tag == "code" and self._open[-1:] == ["pre"]:
            self.page.blocks.append(text)
        elif tag == "p":
            self.page.paragraphs.append(text)
        elif tag == "li":
            self.page.items.append(text)

    def handle_data(self, data: str) -> None:
        self._text.append(data)


def read(html: str) -> Page:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.page


def hostile_report(text: str) -> str:
    """A report where `text` is everywhere outside text can be."""
    return incident_report(
        record(
            title=text,
            labels={"alertname": "HighErrorRate", "service": text},
            annotations={"summary": text},
            assessment={
                "diagnosticResults": [{"name": "errors", "status": "critical", "message": text}],
                "decisions": [{"description": text, "condition": text, "matched": True}],
            },
        ),
        [note(text, actor=text)],
        [action(message=text, description=text, output=text)],
    )


def assert_only_the_reports_own_markup(page: Page) -> None:
    assert {tag for tag, _ in page.elements} <= OWN_ELEMENTS
    assert [attrs for _, attrs in page.elements if attrs] == []
    assert [tag for tag, _ in page.elements].count("h1") == 1
    assert [text for tag, text in page.headings if tag == "h2"] == HEADINGS


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_hostile_text_adds_no_element_or_attribute_to_the_rendered_report(payload: str) -> None:
    markdown = hostile_report(payload)
    for renderer in (GITHUB, COMMONMARK):
        html = renderer.render(markdown)
        page = read(html)
        assert_only_the_reports_own_markup(page)  # no <script>, <img>, onerror=, heading of the payload's
        assert [text for tag, text in page.headings if tag == "h3"] == ["restart — succeeded"]
        assert "<script" not in html
        assert "<img" not in html


@given(text=hostile_text(60))
@example(text="")
@example(text=" ")
@example(text="`")
@fuzz_settings(300)
def test_any_text_renders_back_as_exactly_that_text_in_its_cell_block_heading_or_paragraph(text: str) -> None:
    markdown = hostile_report(text)
    assert_only_the_reports_own_markup(read(COMMONMARK.render(markdown)))
    page = read(GITHUB.render(markdown))
    assert_only_the_reports_own_markup(page)
    shown = visible(text)
    assert page.headings[0] == ("h1", f"Post-incident report: {shown} (INC-1)")
    assert ["label", "service", shown] in page.rows
    assert ["annotation", "summary", shown] in page.rows
    assert ["errors", "critical", shown] in page.rows
    assert ["2026-03-01 09:00:00", "note", shown, shown] in page.rows
    condition = re.sub(r"\r\n?|\n", " ", shown) or "otherwise"  # a code span shows line endings as spaces
    assert page.items == [f"{shown} ({condition})" if shown else f"({condition})"]
    output = ["Output:"] if text else []  # an action with no output shows none
    assert page.paragraphs[page.paragraphs.index("Plan: restart") + 1 :] == [*([shown] if shown else []), *output]
    assert page.blocks == [in_block(text), *([in_block(text.rstrip())] if text else [])]


def test_a_fence_is_longer_than_any_run_of_backticks_in_its_block() -> None:
    markdown = incident_report(record(), [], [action(output="```\n````` x\n````````")])
    assert "`````````\n```\n````` x\n````````\n`````````" in markdown


def test_the_report_reads_well_as_plain_text() -> None:
    markdown = incident_report(record(labels={"service": "payments-api"}), [note("fix approved by alice: safe")], [])
    assert "| label | service | payments-api |" in markdown
    assert "| 2026-03-01 09:00:00 | note | alice | fix approved by alice: safe |" in markdown


def test_the_report_with_charts_links_each_chart_file_and_each_file_is_an_svg() -> None:
    history = chart("busy", name="Busy [pods](javascript:alert(1))")
    checked = verification(history)
    files = report_files(record(assessment={"diagnosticResults": [], "history": [history]}), [checked], [])
    assert set(files) == {"report.md", "charts/diagnosis-busy.svg", "charts/verification-1-busy.svg"}
    html = COMMONMARK.render(files["report.md"])
    images = re.findall(r'<img src="([^"]+)" alt="([^"]*)"', html)
    assert images == [
        ("charts/diagnosis-busy.svg", "Busy [pods](javascript:alert(1)) at diagnosis"),
        ("charts/verification-1-busy.svg", "Busy [pods](javascript:alert(1)) at verification 1 (healthy)"),
    ]
    for path, _ in images:
        assert ElementTree.fromstring(files[path]).tag == "{http://www.w3.org/2000/svg}svg"


def test_the_report_without_recorded_charts_links_none() -> None:
    files = report_files(record(), [], [])
    assert list(files) == ["report.md"]
    assert "Charts" not in files["report.md"]
    assert files["report.md"] == incident_report(record(), [], [])
