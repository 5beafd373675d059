"""Local file-system faults while collecting: disk full (a 1 MiB tmpfs), a read-only folder, permission
denied. Each: the run fails with one line naming the path and the operating system's cause (never
"network error"), nothing is deleted at the source without its data committed, and the next run,
once the fault is fixed, collects everything.

tmpfs and read-only mounts need root (skipped otherwise); as root, "permission denied" runs the
collector without CAP_DAC_OVERRIDE (``setpriv``), so the folder's mode bits apply to it as to anyone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import (
    assert_nothing_gone_without_data,
    loaded_hashes,
    local_source,
    make_inputs,
    run_cli,
    write_config,
)

IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="mounting a tmpfs needs root")


@pytest.fixture
def mount_point(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "landing"
    folder.mkdir()
    yield folder
    subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)


def _mount(folder: Path, options: str) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True, timeout=30)


def _remount(folder: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True, timeout=30)


def _inputs(tmp_path: Path, conversations: int = 40) -> tuple[Path, dict[str, str], Path]:
    incoming = tmp_path / "in"
    inputs = make_inputs(incoming, conversations=conversations, files_per_day=3)
    return incoming, inputs, write_config(tmp_path, local_source(incoming, on_success="delete"))


def _assert_one_line_naming(run_stderr: str, path: Path, cause: str) -> None:
    last = run_stderr.strip().splitlines()[-1]
    assert last.startswith("eur-pipeline run: source(s) failed: archiver (cannot "), last
    assert str(path) in last and last.endswith(f": {cause})"), last
    assert "Traceback" not in run_stderr and "network error" not in run_stderr


def _assert_recovers(config: Path, incoming: Path, inputs: dict[str, str]) -> None:
    rerun = run_cli(config)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert loaded_hashes(config.parent / "wh.duckdb") == set(inputs.values())  # every file, once
    assert list(incoming.iterdir()) == []


@needs_root
def test_disk_full_names_the_path_loses_nothing_and_the_next_run_recovers(mount_point: Path, tmp_path: Path) -> None:
    incoming, inputs, config = _inputs(tmp_path, conversations=900)
    assert sum(p.stat().st_size for p in incoming.iterdir()) > 2 * 1024 * 1024  # more than the disk holds
    _mount(mount_point, "size=1m,mode=0700")
    run = run_cli(config)
    assert run.returncode == 1
    _assert_one_line_naming(run.stderr, mount_point, "No space left on device")
    assert_nothing_gone_without_data(incoming, inputs, tmp_path / "wh.duckdb")
    assert 0 < len(list(incoming.iterdir())) < len(inputs)  # some collected before the disk filled
    assert not [p for p in (mount_point / ".incoming").rglob("*") if p.is_file()]  # no half-written file
    _remount(mount_point, "size=64m")
    _assert_recovers(config, incoming, inputs)


@needs_root
def test_a_read_only_landing_folder_names_the_path_and_the_next_run_recovers(mount_point: Path, tmp_path: Path) -> None:
    incoming, inputs, config = _inputs(tmp_path)
    _mount(mount_point, "size=16m,ro")
    run = run_cli(config)
    assert run.returncode == 1
    _assert_one_line_naming(run.stderr, mount_point / ".incoming", "Read-only file system")
    assert sorted(p.name for p in incoming.iterdir()) == sorted(inputs)  # nothing moved at the source
    _remount(mount_point, "rw")
    _assert_recovers(config, incoming, inputs)


def test_permission_denied_names_the_path_and_the_next_run_recovers(tmp_path: Path) -> None:
    incoming, inputs, config = _inputs(tmp_path)
    landing = tmp_path / "landing" / "archiver"  # the source's backup folder
    landing.mkdir(parents=True)
    landing.chmod(0o500)
    if IS_ROOT and shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to drop CAP_DAC_OVERRIDE as root")
    try:
        run = _run_unprivileged(config) if IS_ROOT else run_cli(config)
        assert run.returncode == 1
        _assert_one_line_naming(run.stderr, landing, "Permission denied")
        assert sorted(p.name for p in incoming.iterdir()) == sorted(inputs)
    finally:
        landing.chmod(0o700)
    _assert_recovers(config, incoming, inputs)


def _run_unprivileged(config: Path) -> subprocess.CompletedProcess:
    """``eur-pipeline run`` as root without the capabilities that bypass file modes."""
    caps = "-dac_override,-dac_read_search"
    cmd = ["setpriv", "--bounding-set", caps, "--inh-caps", caps, sys.executable, "-m", "eur_pipeline.cli"]
    return subprocess.run([*cmd, "run", "--config", str(config)], capture_output=True, text=True, timeout=180)
