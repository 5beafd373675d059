"""Helpers for tests that start real Dagster processes: the webserver and daemon on a free loopback
port, bounded polling, stopping a process group the test started, and a GraphQL call."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import yaml

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    what: str, predicate: Callable[[], Any], timeout: float, every: float = 1.0, explain: Callable[[], str] = str
) -> Any:
    """Poll ``predicate`` until it returns something truthy; bounded by ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{explain()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process this test started, and its children (it leads its own session)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def graphql(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        data = json.loads(response.read())
    assert "errors" not in data, data
    return data["data"]


LOCATION = "eur_pipeline"


@contextmanager
def dagster_services(root: Path, env: dict[str, str], timeout: float = 300) -> Iterator[str]:
    """``workspace.yaml`` in ``root``, then ``dagster-daemon`` and ``dagster-webserver`` (free loopback
    port, logs in ``root/*.log``) with ``env``; yields the webserver's URL once it answers; stops both."""
    (root / "workspace.yaml").write_text(
        yaml.safe_dump(
            {
                "load_from": [
                    {
                        "python_module": {
                            "module_name": "eur_pipeline.definitions",
                            "location_name": LOCATION,
                            "working_directory": str(root),
                        }
                    }
                ]
            }
        )
    )
    # create the instance's storage once, before the two services race to create it (a fresh SQLite
    # home: one of them died on "table asset_daemon_asset_evaluations already exists")
    subprocess.run(
        [str(BIN / "dagster"), "instance", "migrate"], cwd=root, env=env, check=True, capture_output=True, timeout=180
    )
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    with ExitStack() as stack:
        for name, cmd in (
            ("daemon", [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"]),
            ("webserver", [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"]),
        ):
            log = stack.enter_context(open(root / f"{name}.log", "wb"))
            proc = subprocess.Popen(
                cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            stack.callback(stop, proc)
            procs.append(proc)
        url = f"http://127.0.0.1:{port}"

        def answering() -> bool:
            for proc in procs:
                assert proc.poll() is None, f"{proc.args[0]} exited; see {root}/*.log"
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=5) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for("dagster-webserver", answering, timeout)
        yield url
