"""The compliance commands as a user runs them: hold, purge, export, search; exit codes and messages."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from eur_pipeline.config import EurConfig
from eur_pipeline.warehouse.connection import connect
from eur_pipeline_tests.compliance.conftest import C

CLI = [sys.executable, "-m", "eur_pipeline.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=180)


def test_hold_purge_export_and_their_audit(tmp_path: Path, loaded: Callable[..., EurConfig]) -> None:
    config = loaded(retention={"bodies_days": 30})  # every body is older than that in real time
    cfg = str(tmp_path / "eur.yaml")
    placed = run("hold", "add", "--config", cfg, "--user", C, "--from", "2024-02-01", "--to", "2024-02-29",
                 "--reason", "matter 42", "--actor", "legal-team")  # fmt: skip
    assert placed.returncode == 0, placed.stderr
    assert placed.stdout.strip() == f"hold 1 placed on {C} (2024-02-01 to 2024-02-29)"
    listed = run("hold", "list", "--config", cfg, "--format", "csv")
    rows = list(csv.DictReader(listed.stdout.splitlines()))
    assert [(r["hold_id"], r["user_jid"], r["reason"], r["created_by"]) for r in rows] == [
        ("1", C, "matter 42", "legal-team")
    ]
    purged = run("purge", "--config", cfg)
    assert purged.returncode == 0, purged.stderr
    assert "message_bodies_erased 3," in purged.stdout  # T1's two and T3's one; T2 is held
    exported = run("export", "--config", cfg, "--thread", "T2", "--out", str(tmp_path / "out"))
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.strip() == f"exported 1 conversation(s), 2 message(s) to {tmp_path / 'out'}"
    assert run("hold", "release", "--config", cfg, "1").returncode == 0
    again = run("hold", "release", "--config", cfg, "1")
    assert again.returncode == 2 and "already released" in again.stderr
    con = connect(config.warehouse, read_only=True)
    actions = [r[0] for r in con.execute('SELECT action FROM audit_log ORDER BY "at"').fetchall()]
    con.close()
    assert actions[-4:] == ["hold_add", "purge", "export", "hold_release"]


def test_usage_errors_and_refusals(tmp_path: Path, loaded: Callable[..., EurConfig]) -> None:
    loaded()
    cfg = str(tmp_path / "eur.yaml")
    both = run("export", "--config", cfg, "--thread", "T2", "--query", "x", "--out", str(tmp_path / "o"))
    assert both.returncode == 2 and "choose exactly one" in both.stderr
    raw = yaml.safe_load((tmp_path / "eur.yaml").read_text())
    (tmp_path / "eur.yaml").write_text(yaml.safe_dump({**raw, "privacy": {"bodies": "encrypt"}}))
    bad = run("search", "--config", cfg, "apollo")
    assert bad.returncode == 2 and "privacy.bodies" in bad.stderr and "'keep', 'hash' or 'drop'" in bad.stderr
    (tmp_path / "eur.yaml").write_text(yaml.safe_dump({**raw, "privacy": {"bodies": "hash"}}))
    refused = run("search", "--config", cfg, "apollo")
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "eur-pipeline search: search needs message bodies, but this warehouse stores privacy.bodies: hash "
        "(bodies are not kept); nothing to search or export"
    )
