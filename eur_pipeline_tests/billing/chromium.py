"""Open a page in real headless Chromium over the DevTools protocol and report what went wrong.

Why CDP rather than ``--dump-dom``: only the protocol reliably surfaces uncaught exceptions,
``console.error`` calls, CSP violations and attempted network requests, and lets us read the DOM
after the page's scripts ran and take a full-page screenshot in the same session.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--window-size=1280,900",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
]


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


@dataclass
class PageResult:
    errors: list[str] = field(default_factory=list)  # exceptions, console.error, error log entries
    external_requests: list[str] = field(default_factory=list)  # anything not file:/data:
    value: Any = None  # the probe expression's result
    screenshot: bytes | None = None


class _Cdp:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 30.0) -> dict[str, Any]:
        for event in self.events:
            if event["method"] == method:
                return event
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == method:
                    return msg

    def drain(self, seconds: float) -> None:
        """Collect late events (e.g. errors from timers) for a moment."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = json.loads(self.ws.recv(timeout=left))
            except TimeoutError:
                return
            if "method" in msg:
                self.events.append(msg)


def open_page(path: Path, probe: str, tmp_dir: Path, screenshot: bool = False) -> PageResult:
    """Load ``path`` (file://) in fresh headless Chromium, evaluate ``probe`` after load, collect problems."""
    binary = chromium_or_skip()
    profile = tmp_dir / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    found: list[str] = []
    ready = threading.Event()

    def pump() -> None:  # keep reading so Chromium never blocks on a full stderr pipe
        assert proc.stderr is not None
        for line in proc.stderr:
            match = re.search(r"DevTools listening on (ws://\S+)", line)
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    result = PageResult()
    try:
        if not ready.wait(60) or not found:
            raise RuntimeError("chromium did not start its DevTools endpoint")
        port = re.search(r":(\d+)/", found[0]).group(1)  # type: ignore[union-attr]
        deadline = time.monotonic() + 20
        page_ws = None
        while page_ws is None and time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as resp:
                pages = [t for t in json.load(resp) if t.get("type") == "page"]
            page_ws = pages[0]["webSocketDebuggerUrl"] if pages else None
            if page_ws is None:
                time.sleep(0.2)
        if page_ws is None:
            raise RuntimeError("chromium opened no page target")
        from websockets.sync.client import connect

        with connect(page_ws, max_size=None, open_timeout=15) as ws:
            cdp = _Cdp(ws)
            for domain in ("Runtime", "Log", "Page", "Network"):
                cdp.call(f"{domain}.enable")
            cdp.call("Page.navigate", url=path.resolve().as_uri())
            cdp.wait_for("Page.loadEventFired")
            cdp.drain(0.5)
            evaluated = cdp.call("Runtime.evaluate", expression=probe, returnByValue=True)
            result.value = evaluated.get("result", {}).get("value")
            if screenshot:
                metrics = cdp.call("Page.getLayoutMetrics")
                size = metrics["cssContentSize"]
                shot = cdp.call(
                    "Page.captureScreenshot",
                    format="png",
                    captureBeyondViewport=True,
                    clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
                )
                result.screenshot = base64.b64decode(shot["data"])
            cdp.drain(0.2)
        for event in cdp.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                text = details.get("exception", {}).get("description") or details.get("text")
                result.errors.append(f"exception: {text}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                args = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                result.errors.append(f"console.{params['type']}: {args}")
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                result.errors.append(f"log: {params['entry'].get('text')}")
            elif method == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if not url.startswith(("file:", "data:", "about:")):
                    result.external_requests.append(url)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return result
