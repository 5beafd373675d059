"""The `eur-pipeline` command as a user runs it: a subprocess, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from eur_pipeline_tests.conftest import archive_text, chat, drop

EXE = [sys.executable, "-m", "eur_pipeline.cli"]


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*EXE, *args], cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )


def write_config(tmp_path: Path, sources: list[dict]) -> Path:
    path = tmp_path / "eur.yaml"
    path.write_text(yaml.safe_dump({"warehouse": "./wh.duckdb", "landing_dir": "./landing", "sources": sources}))
    return path


def test_run_then_query_like_a_user(tmp_path: Path, seed_sample: Path) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    drop(incoming, "seed.xml", seed_sample)
    drop(incoming, "broken.xml", "<messages><message>")
    drop(incoming, "three.xml", archive_text(chat("T3", "2024-03-01T09:00:00Z", "a@x", ["b@x", "c@x"], "hi all")))
    write_config(tmp_path, [{"name": "drop", "kind": "local", "path": "./incoming", "min_age_seconds": 0}])

    run = cli("run", cwd=tmp_path)  # ./eur.yaml is found by default
    assert run.returncode == 0, run.stderr[-2000:]
    assert "2 files parsed, 1 quarantined" in run.stdout

    out = cli(
        "sql",
        "--format",
        "json",
        "SELECT thread_id, participant_count, is_multiparty FROM conversations ORDER BY thread_id",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [
        {"thread_id": "AF86488C-2C55-47B7-DA4F3D8", "participant_count": 2, "is_multiparty": False},
        {"thread_id": "T3", "participant_count": 3, "is_multiparty": True},
    ]
    csv_out = cli("sql", "--format", "csv", "SELECT name, status FROM archive_files ORDER BY name", cwd=tmp_path)
    assert csv_out.stdout.splitlines() == [
        "name,status",
        "broken.xml,quarantined",
        "seed.xml,parsed",
        "three.xml,parsed",
    ]
    table = cli("sql", "SELECT count(*) AS n FROM messages", cwd=tmp_path)
    assert "n" in table.stdout and "3" in table.stdout and "(1 row)" in table.stdout

    again = cli("run", cwd=tmp_path)
    assert again.returncode == 0 and "2 files parsed, 1 quarantined" in again.stdout


def test_sql_is_read_only(tmp_path: Path, seed_sample: Path) -> None:
    (tmp_path / "in").mkdir()
    write_config(tmp_path, [{"name": "d", "kind": "local", "path": "./in", "min_age_seconds": 0}])
    assert cli("run", cwd=tmp_path).returncode == 0
    out = cli("sql", "DELETE FROM messages", cwd=tmp_path)
    assert out.returncode != 0 and "read-only" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_invalid_config_exits_2_with_one_line(tmp_path: Path) -> None:
    write_config(tmp_path, [{"name": "d", "kind": "local", "path": "./in", "on_success": "shred"}])
    out = cli("run", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "on_success" in out.stderr


def test_unreachable_source_fails_the_run_but_others_load(tmp_path: Path, seed_sample: Path) -> None:
    (tmp_path / "ok").mkdir()
    drop(tmp_path / "ok", "seed.xml", seed_sample)
    path = write_config(
        tmp_path,
        [
            {"name": "gone", "kind": "local", "path": "./missing", "min_age_seconds": 0},
            {"name": "fine", "kind": "local", "path": "./ok", "min_age_seconds": 0},
        ],
    )
    out = cli("run", "--config", str(path), cwd=Path("/"))
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("eur-pipeline run: source(s) failed: gone") and "does not exist" in last
    assert "1 files parsed" in out.stdout


def test_generate_writes_realistic_archives(tmp_path: Path) -> None:
    out = cli("generate", str(tmp_path / "gen"), "--conversations", "50", "--days", "3", "--seed", "7", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    files = sorted((tmp_path / "gen").glob("*.xml"))
    assert files and all(f.read_text().startswith("<?xml") for f in files)
    text = "".join(f.read_text() for f in files)
    assert 'direction="IN"' in text and 'direction="OUT"' in text
    again = tmp_path / "gen2"
    cli("generate", str(again), "--conversations", "50", "--days", "3", "--seed", "7", cwd=tmp_path)
    assert [f.read_bytes() for f in sorted(again.glob("*.xml"))] == [f.read_bytes() for f in files]


def test_demo_collects_over_embedded_sftp_and_deletes(tmp_path: Path) -> None:
    out = cli("demo", "--dir", str(tmp_path / "demo"), "--conversations", "120", "--days", "5", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "embedded SFTP server on 127.0.0.1:" in out.stderr
    assert "remote folder after collection: 0 file(s) left" in out.stdout
    assert "0 quarantined" in out.stdout and "top users:" in out.stdout
    config = tmp_path / "demo" / "eur.yaml"
    assert "password" not in config.read_text()  # no secret in the file, and no server it would be for
    count = cli(
        "sql", "--config", str(config), "--format", "csv", "SELECT count(*) AS n FROM conversations", cwd=tmp_path
    )
    assert count.stdout.splitlines() == ["n", "120"]
    # the embedded server is gone, the configuration is not: it runs again (its source is now ./incoming)
    again = cli("run", "--config", str(config), cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert (tmp_path / "demo" / "incoming").is_dir()
    count = cli(
        "sql", "--config", str(config), "--format", "csv", "SELECT count(*) AS n FROM conversations", cwd=tmp_path
    )
    assert count.stdout.splitlines() == ["n", "120"]


def test_output_for_people_version_timezone_alignment_json_numbers_and_progress(
    tmp_path: Path, seed_sample: Path
) -> None:
    version = cli("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("eur-pipeline 0.")
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    drop(incoming, "seed.xml", seed_sample)
    drop(incoming, "broken.xml", "<messages><message>")
    config = write_config(tmp_path, [{"name": "drop", "kind": "local", "path": "./incoming", "min_age_seconds": 0}])
    config.write_text(config.read_text() + "timezone: Europe/Paris\n")

    run = cli("run", cwd=tmp_path)  # not a terminal: one summary line per source, no per-file lines
    assert run.returncode == 0, run.stderr[-2000:]
    assert "drop: 1 parsed, 1 quarantined; 4 records" in run.stderr.splitlines()
    assert "seed.xml" not in run.stderr

    query = "SELECT thread_id, started_at, message_count FROM conversations"
    table = cli("sql", query, cwd=tmp_path).stdout.splitlines()
    assert table[0] == "thread_id                   started_at                 message_count"
    assert table[2] == "AF86488C-2C55-47B7-DA4F3D8  2017-06-02 16:57:28+02:00              2"  # Paris, right-aligned
    utc = cli("sql", "--utc", "--format", "csv", query, cwd=tmp_path).stdout.splitlines()
    assert utc[1] == "AF86488C-2C55-47B7-DA4F3D8,2017-06-02 14:57:28+00:00,2"

    money = "SELECT 0.0100::DECIMAL(18,4) AS cost, 12345678901234567.1234::DECIMAL(38,4) AS big, 2 AS n, [1, 2] AS l"
    out = cli("sql", "--format", "json", money, cwd=tmp_path)
    # a cost is a number; a decimal that a double would change stays an exact string
    assert json.loads(out.stdout) == [{"cost": 0.01, "big": "12345678901234567.1234", "n": 2, "l": [1, 2]}]
