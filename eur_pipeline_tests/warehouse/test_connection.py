"""A warehouse held by another process is waited for, with a message per wait, then refused in one line."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from eur_pipeline.warehouse.connection import WarehouseLockedError, connect

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _hold(path: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_lock_held_too_long_gives_up_naming_the_file_and_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    holder = _hold(path, 30)
    waits: list[str] = []
    try:
        started = time.monotonic()
        with pytest.raises(WarehouseLockedError) as caught:
            connect(path, wait_seconds=1.0, on_wait=waits.append)
        assert 0.9 <= time.monotonic() - started < 10
    finally:
        holder.kill()
        holder.wait(timeout=10)
    message = str(caught.value)
    assert str(path) in message and f"process {holder.pid}" in message and "gave up after 1 s" in message
    assert waits and all(f"locked by process {holder.pid}" in w for w in waits)


def test_a_lock_released_while_waiting_is_then_taken(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    holder = _hold(path, 1.0)
    try:
        con = connect(path, wait_seconds=30.0, on_wait=lambda _: None)
        assert con.execute("SELECT 42").fetchone() == (42,)
        con.close()
    finally:
        holder.kill()
        holder.wait(timeout=10)
