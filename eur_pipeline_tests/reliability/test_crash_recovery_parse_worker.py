"""The crash contract with parsing in three processes (EUR_PARSE_WORKER_MIN_MB=0 and EUR_PARSE_PARTS=3
split every file: the collector parses the first part, a child each of the other two): a SIGKILL of
the collector — alone or with its process group — leaves no parser and no scratch file behind, and
the re-run equals a clean run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from eur_pipeline_tests.reliability.conftest import (
    assert_nothing_gone_without_data,
    landing_files,
    local_source,
    make_inputs,
    run_cli,
    snapshot,
    staging_leftovers,
    write_config,
)
from eur_pipeline_tests.reliability.test_crash_recovery import assert_integrity

CHILD = {"EUR_PARSE_WORKERS": "1", "EUR_PARSE_WORKER_MIN_MB": "0", "EUR_PARSE_PARTS": "3"}


def parsers_alive(marker: Path) -> list[str]:
    """Command lines of live parse-worker processes working on files under ``marker``."""
    alive = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = next(ln for ln in (proc / "status").read_text().splitlines() if ln.startswith("State:"))
        except (OSError, StopIteration):
            continue
        if "parse_worker" in cmd and str(marker) in cmd and "Z" not in state.split()[1]:
            alive.append(cmd)
    return alive


def no_parser_left(marker: Path) -> None:
    deadline = time.monotonic() + 10
    while parsers_alive(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert parsers_alive(marker) == []


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["before_commit@2", "mid_load@2", "before_complete@2"])
def test_kill_with_child_parser_then_rerun_equals_clean_run(tmp_path: Path, fault: str, clean_reference) -> None:
    inputs = make_inputs(tmp_path / "in")
    config = write_config(tmp_path, local_source(tmp_path / "in"))

    crashed = run_cli(config, fault=fault, env=CHILD)  # SIGKILL of the collector alone (os.kill(getpid))
    assert crashed.returncode == -9, f"the fault point {fault} was not reached: {crashed.stderr[-1500:]}"
    no_parser_left(tmp_path)
    assert_nothing_gone_without_data(tmp_path / "in", inputs, tmp_path / "wh.duckdb")

    rerun = run_cli(config, env=CHILD)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "parsing in 3 processes" in rerun.stderr
    assert snapshot(config) == clean_reference(7)
    assert list((tmp_path / "in").iterdir()) == []
    assert landing_files(tmp_path / "landing") == sorted(f"archiver/{n}" for n in inputs)
    assert staging_leftovers(tmp_path / "landing") == []
    assert_integrity(config)
    no_parser_left(tmp_path)


@pytest.mark.slow
def test_group_kill_while_parsing_in_child(tmp_path: Path, clean_reference) -> None:
    inputs = make_inputs(tmp_path / "in")
    config = write_config(tmp_path, local_source(tmp_path / "in"))
    crashed = run_cli(config, env=CHILD, kill_when=lambda lines: any(": parsed" in ln for ln in lines))
    no_parser_left(tmp_path)
    assert_nothing_gone_without_data(tmp_path / "in", inputs, tmp_path / "wh.duckdb")
    rerun = run_cli(config, env=CHILD)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert snapshot(config) == clean_reference(7)
    assert_integrity(config)
    assert crashed.killed or crashed.returncode == 0
