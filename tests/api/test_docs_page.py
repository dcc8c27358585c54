"""`/docs`: Swagger UI from files on this machine, under the pages' Content-Security-Policy, offline."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Route as BrowserRoute
from playwright.sync_api import expect

from support.api import api_client
from support.browser import chromium, screenshot
from support.servers import serving

EXAMPLES = Path(__file__).parents[2] / "examples" / "runbooks"


class _References(HTMLParser):
    """Every URL a page loads (scripts, styles, images, icons), and any inline script or style."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("src", "href"):
            if found.get(name) is not None and tag in ("script", "link", "img", "iframe"):
                self.urls.append(str(found[name]))
        if "style" in found or tag == "style":
            self.inline.append(f"<{tag} style>")
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data.strip()[:80])


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with api_client(tmp_path_factory.mktemp("docs"), runbooks=EXAMPLES) as client:
        yield client


def test_the_docs_page_loads_only_files_of_its_own_origin_and_no_inline_script(client: TestClient) -> None:
    answer = client.get("/docs")
    assert answer.status_code == 200
    assert "script-src 'self'" in answer.headers["content-security-policy"]  # the pages' policy, unchanged
    page = _References()
    page.feed(answer.text)
    assert page.inline == []
    loaded = [url for url in page.urls if not url.startswith("data:")]
    assert sorted(loaded) == ["/docs/docs.js", "/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"]
    for url in loaded:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].startswith("text/css" if url.endswith(".css") else "text/javascript")
        assert len(asset.content) > 100
    assert 'data-openapi-url="/openapi.json"' in answer.text


def test_the_docs_page_renders_in_a_browser_offline_without_breaking_the_policy(client: TestClient) -> None:
    elsewhere: list[str] = []
    with serving(client.app) as url, chromium() as browser:
        page = browser.new_page()

        def same_origin_only(route: BrowserRoute) -> None:
            if route.request.url.startswith(url + "/"):
                route.continue_()
            else:  # no network here, and the page must not need any
                elsewhere.append(route.request.url)
                route.abort()

        page.route("**/*", same_origin_only)
        page.add_init_script(
            "window.__violations = [];"
            "document.addEventListener('securitypolicyviolation',"
            " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
        )
        page.goto(f"{url}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Handrail", timeout=20_000)
        operation = page.locator(".opblock-summary", has_text="/api/v1/incidents/{incident_id}/approve")
        operation.first.click()
        expect(page.locator(".opblock-body").first).to_contain_text("remediation", timeout=10_000)
        screenshot(page, "api-docs")
        violations = page.evaluate("window.__violations")
    assert elsewhere == []
    assert violations == []
