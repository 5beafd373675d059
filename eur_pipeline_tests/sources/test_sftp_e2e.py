"""`eur-pipeline run --config` (a real subprocess, through Dagster) against a real OpenSSH sshd.

The issue's "done means" list, end to end: collect + delete after commit + backup; move; keep
without double loads; host key changed / unknown → refused, nothing touched; server down → bounded
one-line failure, then the next run collects what waited; relay reset / blackhole mid-transfer →
bounded, nothing partial, next run completes; killed between commit and delete → next run deletes
without loading twice; one source down does not stop another.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from eur_pipeline.demo.sftp_server import generate_ed25519_key
from eur_pipeline_tests.reliability.conftest import (
    SOURCE,
    landing_files,
    loaded_hashes,
    make_inputs,
    run_cli,
    sftp_source,
    snapshot,
    staging_leftovers,
    write_config,
)

from .conftest import KEY_PASSPHRASE, Sshd, free_port, write_remote

pytestmark = [pytest.mark.sshd, pytest.mark.slow]


def archive_count(warehouse: Path) -> int:
    return len(loaded_hashes(warehouse))


def reason_line(stderr: str) -> str:
    """The run's one-line reason (the last line the CLI prints on failure)."""
    lines = [ln for ln in stderr.splitlines() if ln.startswith("eur-pipeline run:")]
    assert lines, f"no one-line reason in stderr: {stderr[-1500:]}"
    return lines[-1]


def test_collect_delete_after_commit_with_backup(sshd: Sshd, remote_dir: Path, tmp_path: Path) -> None:
    inputs = make_inputs(remote_dir)
    config = write_config(tmp_path, sftp_source(sshd, remote_dir, on_success="delete"))
    result = run_cli(config)
    assert result.returncode == 0, result.stderr[-2000:]
    assert list(remote_dir.iterdir()) == []  # deleted on the server, after the commit
    assert loaded_hashes(tmp_path / "wh.duckdb") == set(inputs.values())
    assert landing_files(tmp_path / "landing") == sorted(f"{SOURCE}/{n}" for n in inputs)
    assert staging_leftovers(tmp_path / "landing") == []
    again = run_cli(config)
    assert again.returncode == 0 and archive_count(tmp_path / "wh.duckdb") == len(inputs)


def test_move_then_keep_never_loads_twice(sshd: Sshd, remote_dir: Path, tmp_path: Path) -> None:
    inputs = make_inputs(remote_dir, files_per_day=2)
    (tmp_path / "m").mkdir()
    (tmp_path / "k").mkdir()
    moved = write_config(tmp_path / "m", sftp_source(sshd, remote_dir, on_success="move", move_to="done/archive"))
    assert run_cli(moved).returncode == 0
    assert sorted(p.name for p in (remote_dir / "done" / "archive").iterdir()) == sorted(inputs)
    assert [p.name for p in remote_dir.iterdir()] == ["done"]  # the move target is a folder: never listed

    kept_dir = remote_dir / "done" / "archive"
    keep = write_config(tmp_path / "k", sftp_source(sshd, kept_dir, on_success="keep"))
    first = run_cli(keep)
    assert first.returncode == 0, first.stderr[-2000:]
    before = snapshot(keep)
    second = run_cli(keep)
    assert second.returncode == 0, second.stderr[-2000:]
    assert snapshot(keep) == before  # re-runs load nothing twice
    assert sorted(p.name for p in kept_dir.iterdir()) == sorted(inputs)


def test_changed_host_key_refused_nothing_touched(sshd: Sshd, remote_dir: Path, tmp_path: Path) -> None:
    inputs = make_inputs(remote_dir, files_per_day=1)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd.port} ssh-ed25519 {generate_ed25519_key().get_base64()}\n")
    config = write_config(tmp_path, sftp_source(sshd, remote_dir, known_hosts=str(known_hosts)))
    result = run_cli(config)
    assert result.returncode != 0
    line = reason_line(result.stderr)
    print(f"\nhost key changed: exit {result.returncode} after {result.elapsed:.1f}s: {line}")
    assert "HOST KEY CHANGED" in line
    assert sorted(p.name for p in remote_dir.iterdir()) == sorted(inputs)
    assert archive_count(tmp_path / "wh.duckdb") == 0 and landing_files(tmp_path / "landing") == []


def test_unknown_host_refused(sshd: Sshd, remote_dir: Path, tmp_path: Path) -> None:
    make_inputs(remote_dir, files_per_day=1)
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    result = run_cli(write_config(tmp_path, sftp_source(sshd, remote_dir, known_hosts=str(empty))))
    assert result.returncode != 0 and "unknown host key" in reason_line(result.stderr)


def test_wrong_key_clear_auth_error_not_retried(sshd: Sshd, remote_dir: Path, tmp_path: Path) -> None:
    make_inputs(remote_dir, files_per_day=1)
    src = sftp_source(sshd, remote_dir, private_key=str(sshd.keys["stranger"]), connect_retries=5)
    result = run_cli(write_config(tmp_path, src))
    assert result.returncode != 0
    assert "authentication failed" in reason_line(result.stderr)
    assert "retrying" not in result.stderr


def test_server_down_bounded_then_next_run_collects(sshd: Sshd, remote_dir: Path, tmp_path: Path) -> None:
    inputs = make_inputs(remote_dir)
    down = sftp_source(sshd, remote_dir, port=free_port(), connect_retries=3, retry_max_seconds=10)
    result = run_cli(write_config(tmp_path, down))
    line = reason_line(result.stderr)
    print(f"\nserver down: exit {result.returncode} after {result.elapsed:.1f}s: {line}")
    assert result.returncode != 0 and "connection refused" in line
    assert result.elapsed < 60
    assert sorted(p.name for p in remote_dir.iterdir()) == sorted(inputs)
    back = run_cli(write_config(tmp_path, sftp_source(sshd, remote_dir)))  # server reachable again
    assert back.returncode == 0, back.stderr[-2000:]
    assert loaded_hashes(tmp_path / "wh.duckdb") == set(inputs.values())
    assert list(remote_dir.iterdir()) == []


@pytest.mark.parametrize("mode", ["reset", "blackhole"])
def test_lan_failure_mid_transfer_then_resume(
    sshd: Sshd, remote_dir: Path, tmp_path: Path, tcp_relay, mode: str
) -> None:
    """A big archive among small ones; the relay breaks the connection while it downloads."""
    inputs = make_inputs(remote_dir, files_per_day=1)
    big = b"<messages>" + b"<!-- padding -->" * (16 * 1024 * 1024 // 16) + b"</messages>"
    write_remote(remote_dir, "zz_big.xml", big)  # sorts last by name; its mtime is the oldest
    relay = tcp_relay(sshd.port, mode=mode, after_bytes=6 * 1024 * 1024)
    via_relay = sftp_source(
        sshd,
        remote_dir,
        port=relay.port,
        known_hosts=None,
        host_key_fingerprint=sshd.fingerprint(),
        timeout_seconds=3,
        connect_retries=2,
        retry_max_seconds=3,
    )
    config = write_config(tmp_path, via_relay)
    result = run_cli(config, timeout=120)
    print(f"\n{mode} mid-transfer run: exit {result.returncode} after {result.elapsed:.1f}s")
    assert relay.tripped.is_set()
    assert "1 failed" in result.stdout + result.stderr  # the broken download is reported, not loaded
    assert result.returncode == 1 and "1 file(s) not collected, retried next run: " in result.stderr
    assert result.elapsed < 60
    assert (remote_dir / "zz_big.xml").read_bytes() == big  # remote intact
    assert staging_leftovers(tmp_path / "landing") == []  # no partial download left
    loaded = loaded_hashes(tmp_path / "wh.duckdb")
    assert all(sha in set(inputs.values()) for sha in loaded)  # nothing partial loaded
    relay.close()
    resumed = run_cli(write_config(tmp_path, sftp_source(sshd, remote_dir)))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert list(remote_dir.iterdir()) == []
    assert len(loaded_hashes(tmp_path / "wh.duckdb")) == len(inputs) + 1


def test_killed_between_commit_and_delete_next_run_deletes_without_reloading(
    sshd: Sshd, remote_dir: Path, tmp_path: Path
) -> None:
    inputs = make_inputs(remote_dir, files_per_day=2)
    config = write_config(tmp_path, sftp_source(sshd, remote_dir, on_success="delete"))
    killed = run_cli(config, fault="before_complete@2")  # SIGKILL after the 2nd file's commit
    assert killed.returncode != 0
    on_server = sorted(p.name for p in remote_dir.iterdir())
    committed = loaded_hashes(tmp_path / "wh.duckdb")
    assert len(committed) == 2 and len(on_server) == len(inputs) - 1  # 2nd file committed, not deleted
    before = archive_count(tmp_path / "wh.duckdb")
    rerun = run_cli(config)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert list(remote_dir.iterdir()) == []
    assert archive_count(tmp_path / "wh.duckdb") == len(inputs) >= before
    assert landing_files(tmp_path / "landing") == sorted(f"{SOURCE}/{n}" for n in inputs)  # one backup each


def test_one_source_down_does_not_stop_the_other(sshd: Sshd, remote_dir: Path, tmp_path: Path) -> None:
    inputs = make_inputs(remote_dir / "up", files_per_day=1)
    up = {"name": "up", **sftp_source(sshd, remote_dir / "up")}
    down = {"name": "down", **sftp_source(sshd, remote_dir / "up", port=free_port(), retry_max_seconds=2)}
    config = write_config(tmp_path, up)
    raw = yaml.safe_load(config.read_text())
    raw["sources"] = [{"site": "S", "min_age_seconds": 0, **up}, {"site": "S", "min_age_seconds": 0, **down}]
    config.write_text(yaml.safe_dump(raw))
    result = run_cli(config)
    assert result.returncode != 0
    assert "down" in reason_line(result.stderr)
    assert loaded_hashes(tmp_path / "wh.duckdb") == set(inputs.values())
    assert list((remote_dir / "up").iterdir()) == []


def test_encrypted_key_passphrase_from_environment(sshd: Sshd, remote_dir: Path, tmp_path: Path) -> None:
    inputs = make_inputs(remote_dir, files_per_day=1)
    src = sftp_source(
        sshd,
        remote_dir,
        private_key=str(sshd.keys["ed25519_encrypted"]),
        private_key_passphrase="${EUR_TEST_KEY_PASSPHRASE}",
    )
    result = run_cli(write_config(tmp_path, src), env={"EUR_TEST_KEY_PASSPHRASE": KEY_PASSPHRASE})
    assert result.returncode == 0, result.stderr[-2000:]
    assert loaded_hashes(tmp_path / "wh.duckdb") == set(inputs.values())
    assert KEY_PASSPHRASE not in result.stderr + result.stdout
