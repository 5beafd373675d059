"""A warehouse held by another process is waited for, with a message per wait, then refused in one line."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from eur_pipeline.warehouse.connection import WarehouseLockedError, connect, sharing_cores

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


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda p: p.mkdir(), "is a folder, not a DuckDB file: set `warehouse` in eur.yaml"),
        (lambda p: p.write_bytes(b"not a database at all" * 400), "exists but is not a DuckDB database"),
    ],
)
def test_a_warehouse_that_cannot_be_ours_is_one_line_naming_it(tmp_path: Path, make, says: str) -> None:
    from eur_pipeline.errors import WarehouseError

    path = tmp_path / "warehouse.duckdb"
    make(path)
    with pytest.raises(WarehouseError) as caught:
        connect(path, wait_seconds=1)
    message = str(caught.value)
    assert message.startswith(f"warehouse {path} ") and says in message and "\n" not in message


def test_eur_pipeline_run_on_a_folder_warehouse_exits_2_with_that_line_and_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "wh").mkdir()
    (tmp_path / "in").mkdir()
    (tmp_path / "eur.yaml").write_text(
        "warehouse: ./wh\nsources:\n  - {name: drop, kind: local, path: ./in, min_age_seconds: 0}\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "eur_pipeline.cli", "run"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"eur-pipeline run: warehouse {tmp_path / 'wh'} is a folder, not a DuckDB file: set `warehouse` in eur.yaml "
        "to a file path such as ./data/warehouse.duckdb"
    ]


def _threads(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("SELECT current_setting('threads')").fetchone()[0])  # type: ignore[index]


def test_a_load_with_helpers_leaves_them_their_cores_and_gives_them_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    con = duckdb.connect(":memory:", config={"threads": 4})
    with sharing_cores(con, helpers=1):
        assert _threads(con) == 3
    assert _threads(con) == 4
    with pytest.raises(RuntimeError), sharing_cores(con, helpers=8):
        assert _threads(con) == 1  # never fewer than one
        raise RuntimeError("a failed load")
    assert _threads(con) == 4
    con.execute("SET threads = 2")
    with sharing_cores(con, helpers=1):
        assert _threads(con) == 2  # already below what the helpers leave: unchanged
