"""Real headless Chromium for tests, driven by Playwright (Debian's ``chromium``, no browser download).

``open_page`` loads a page and reports what went wrong in it: uncaught exceptions, ``console.error``
calls and every request that left ``file:``/``data:``; the Dagster UI tests use ``browser_page``
directly. Screenshots are kept in ``test-artifacts/`` (git-ignored) at the repository root.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from eur_pipeline.billing.reports.pdf import OFFLINE_FLAGS

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
FLAGS = [
    *OFFLINE_FLAGS,
    "--disable-quic",
    "--disable-extensions",
    "--hide-scrollbars",
]
TIMEOUT_MS = 30_000  # every wait, click and navigation is bounded


def chromium_or_skip() -> str:
    """The Chromium binary; missing → fail under CI (``make system-deps`` installs it), else skip."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    if found is None:
        message = "chromium is not installed (make system-deps installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@contextmanager
def browser_page(width: int = 1400, height: int = 950) -> Iterator[Any]:
    """A fresh page in a fresh headless Chromium; closed (and the browser ended) on exit."""
    from playwright.sync_api import sync_playwright

    binary = chromium_or_skip()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=binary, args=FLAGS, timeout=TIMEOUT_MS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            context.set_default_timeout(TIMEOUT_MS)
            yield context.new_page()
        finally:
            browser.close()


def screenshot(page: Any, name: str, full_page: bool = True) -> Path:
    """Keep a screenshot as a test artifact: ``test-artifacts/<name>.png``."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")  # no half-faded dialogs
    assert path.read_bytes().startswith(b"\x89PNG")
    return path


@dataclass
class PageResult:
    errors: list[str] = field(default_factory=list)  # exceptions and console.error calls
    external_requests: list[str] = field(default_factory=list)  # anything not file:/data:/about:
    value: Any = None  # the probe expression's result
    screenshot: Path | None = None


def open_page(path: Path, probe: str, screenshot_name: str | None = None) -> PageResult:
    """Load ``path`` (file://), evaluate ``probe`` once the page loaded, collect what went wrong."""
    result = PageResult()
    with browser_page(1280, 900) as page:
        page.on("pageerror", lambda exc: result.errors.append(f"exception: {exc}"))
        page.on(
            "console",
            lambda msg: (
                result.errors.append(f"console.{msg.type}: {msg.text}") if msg.type in ("error", "assert") else None
            ),
        )
        page.on(
            "request",
            lambda req: (
                None if req.url.startswith(("file:", "data:", "about:")) else result.external_requests.append(req.url)
            ),
        )
        page.goto(path.resolve().as_uri(), wait_until="load")
        page.wait_for_timeout(300)  # late errors from timers scheduled on load
        result.value = page.evaluate(probe)
        if screenshot_name:
            result.screenshot = screenshot(page, screenshot_name)
    return result
