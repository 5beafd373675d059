"""SIGKILL the collector (`eur-pipeline run`, whole process group) at every stage, run it again, and
require the warehouse a clean run produces — with no source file deleted before its data committed."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from eur_pipeline.config.loader import load_config
from eur_pipeline.pipeline.integrity import check_integrity
from eur_pipeline_tests.reliability.conftest import (
    Sshd,
    assert_nothing_gone_without_data,
    landing_files,
    local_source,
    make_inputs,
    read_only,
    run_cli,
    sftp_source,
    snapshot,
    staging_leftovers,
    write_config,
)

# (EUR_FAULT_INJECT value, what is interrupted). "@2": the second time, so one file is fully done.
STAGES = [
    ("download@2", "during the download of the 2nd file (temporary .part written)"),
    ("before_commit@2", "2nd file downloaded and backed up, nothing loaded"),
    ("mid_load@2", "2nd file's first batch inserted, transaction open"),
    ("before_complete@2", "2nd file committed, remote delete not yet done"),
    ("transform:messages", "ingest committed, messages transform transaction open"),
    ("transform:conversations", "messages committed, conversations transaction open"),
]


def assert_integrity(config_path: Path) -> None:
    con = read_only(load_config(config_path).warehouse)
    try:
        assert check_integrity(con) == []
    finally:
        con.close()


@pytest.mark.slow
@pytest.mark.parametrize("fault", [s for s, _ in STAGES], ids=[s for s, _ in STAGES])
def test_kill_at_stage_then_rerun_equals_clean_run(
    tmp_path: Path, fault: str, clean_reference, warehouse_value: object
) -> None:
    """On both warehouses; the reference is a clean run on a DuckDB file, so a lake must equal it."""
    inputs = make_inputs(tmp_path / "in")
    config = write_config(tmp_path, local_source(tmp_path / "in"), warehouse=warehouse_value)

    crashed = run_cli(config, fault=fault)
    assert crashed.returncode == -9, f"the fault point {fault} was not reached: {crashed.stderr[-1500:]}"
    assert_nothing_gone_without_data(tmp_path / "in", inputs, load_config(config).warehouse)

    rerun = run_cli(config)
    print(f"\n{fault}: killed after {crashed.elapsed:.1f}s; re-run ok in {rerun.elapsed:.1f}s")
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert snapshot(config) == clean_reference(7)
    assert list((tmp_path / "in").iterdir()) == []  # every file collected and deleted
    assert landing_files(tmp_path / "landing") == sorted(f"archiver/{n}" for n in inputs)  # one backup each
    assert staging_leftovers(tmp_path / "landing") == []
    assert_integrity(config)


@pytest.mark.slow
@pytest.mark.sshd
def test_random_kills_against_real_sshd_with_delete(
    sshd: Sshd, remote_dir: Path, tmp_path: Path, clean_reference
) -> None:
    """Many files over SFTP with on_success: delete; SIGKILL at random moments of the ingest (after
    a random number of files, plus a random delay) until a run completes."""
    spec = {"conversations": 400, "days": 4, "files_per_day": 6}
    inputs = make_inputs(remote_dir, seed=11, **spec)
    expected = clean_reference(11, **spec)
    config = write_config(tmp_path, sftp_source(sshd, remote_dir))
    rng = random.Random(20240611)
    kills, started = [], time.monotonic()
    for attempt in range(8):  # bounded: at most 8 killed runs, then one that must finish
        left = sum(1 for p in remote_dir.iterdir() if p.is_file())
        if left == 0 or attempt == 7:
            break
        # kill within the first third of what is left, so a busy machine still gets killed mid-run
        after_files = rng.randrange(0, max(1, left // 3))
        delay = rng.uniform(0, 0.1)
        result = run_cli(
            config,
            kill_when=lambda lines, n=after_files: (
                sum(": parsed" in ln for ln in lines) >= n and any("archiver/" in ln for ln in lines)
            ),
            kill_delay=delay,
        )
        kills.append((after_files, round(delay, 2), result.killed, left))
        assert_nothing_gone_without_data(remote_dir, inputs, tmp_path / "wh.duckdb")
        if not result.killed:
            assert result.returncode == 0, result.stderr[-2000:]
    final = run_cli(config)
    assert final.returncode == 0, final.stderr[-2000:]
    print(
        f"\n{len(inputs)} files; kills (after_files, delay, killed, files_left): {kills}; "
        f"total {time.monotonic() - started:.1f}s"
    )
    assert sum(k[2] for k in kills) >= 3  # the faults really happened
    assert list(remote_dir.iterdir()) == []
    assert snapshot(config) == expected
    assert staging_leftovers(tmp_path / "landing") == []
    assert_integrity(config)
