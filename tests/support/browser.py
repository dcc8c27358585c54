"""Debian's real Chromium, headless, driven by Playwright's Python package; screenshots kept as artifacts."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

__all__ = ["ARTIFACTS", "CHROMIUM_ARGS", "chromium", "chromium_binary", "contrast_failures", "screenshot"]

ARTIFACTS = Path(os.environ.get("HANDRAIL_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts")) / "console"

# What a browser in CI needs: no sandbox (root in a container), no GPU, no background traffic to Google.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--metrics-recording-only",
]


def chromium_binary() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed: run `make test`, which installs Debian's chromium")
    return found


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_binary(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as `artifacts/console/<name>.png` (CI keeps the folder)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# WCAG 2.x contrast of every piece of text the browser renders under a root: the text's computed colour
# (`fill` for SVG text) over the background it actually sits on, every translucent layer composited
# down to the first opaque one (or the white canvas). Large text (24px, or 18.66px bold) needs 3:1,
# the rest 4.5:1 (AA). Disabled controls are exempt, as WCAG exempts inactive components.
_CONTRAST = """
(root) => {
  const parse = (text) => {
    const m = /rgba?\\(([^)]+)\\)/.exec(text || "");
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, bottom) => {
    const a = top[3] + bottom[3] * (1 - top[3]);
    return [0, 1, 2].map((i) => (top[i] * top[3] + bottom[i] * bottom[3] * (1 - top[3])) / a).concat([a]);
  };
  const backdrop = (element) => {
    const layers = [];
    for (let e = element; e && e.nodeType === 1; e = e.parentElement) {
      const bg = parse(getComputedStyle(e).backgroundColor);
      if (bg && bg[3] > 0) { layers.push(bg); if (bg[3] >= 1) break; }
    }
    return layers.reverse().reduce((color, layer) => over(layer, color), [255, 255, 255, 1]);
  };
  const luminance = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const failures = [];
  const checked = [];
  for (const element of document.querySelector(root).querySelectorAll("*")) {
    const tag = element.tagName.toLowerCase();
    if (["script", "style", "title", "option", "textarea", "input", "select"].includes(tag)) continue;
    const own = [...element.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join("").trim();
    if (!own || element.getClientRects().length === 0) continue;
    if (element.closest("[hidden]") || element.closest(":disabled")) continue;
    const style = getComputedStyle(element);
    if (style.visibility !== "visible") continue;
    const isSvg = element instanceof SVGElement;
    const background = backdrop(isSvg ? element.closest("svg").parentElement : element);
    const foreground = over(parse(isSvg ? style.fill : style.color) || [0, 0, 0, 1], background);
    const [light, dark] = [luminance(foreground), luminance(background)].sort((x, y) => y - x);
    const ratio = (light + 0.05) / (dark + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const needed = large ? 3 : 4.5;
    checked.push(own);
    if (ratio < needed) {
      const rgb = (c) => `rgb(${c.slice(0, 3).map(Math.round).join(",")})`;
      failures.push(`${tag}.${[...element.classList].join(".")} "${own.slice(0, 40)}": ${ratio.toFixed(2)} < ${needed}`
        + ` (${rgb(foreground)} on ${rgb(background)})`);
    }
  }
  return { failures, checked: checked.length };
}
"""


def contrast_failures(page: Page, root: str = "body") -> list[str]:
    """Every piece of text under `root` whose contrast is below WCAG AA, described; fails if nothing was checked."""
    found = page.evaluate(_CONTRAST, root)
    assert found["checked"] > 0, f"no text under {root}"
    failures: list[str] = found["failures"]
    return failures
