"""Dagster's own project tooling works from the repository root: `dg check defs`, `dg list defs`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DG = Path(sys.executable).with_name("dg")


def _dg(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    if not DG.exists() and not shutil.which("dg"):
        pytest.fail("dg is not installed (dagster-dg-cli is a dependency of the package)")
    env = {**os.environ, "EUR_CONFIG": str(config)}
    env.pop("DAGSTER_HOME", None)
    return subprocess.run(
        [str(DG if DG.exists() else "dg"), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "incoming").mkdir()
    path = tmp_path / "eur.yaml"
    source = {"name": "drop", "kind": "local", "path": "./incoming", "schedule": "0 * * * *", "freshness_hours": 6}
    mail = {"recipients": [{"scope": "all", "to": ["finance@example.com"]}]}
    path.write_text(yaml.safe_dump({"warehouse": "./wh.duckdb", "sources": [source], "mail": mail}))
    return path


def test_dg_check_defs_passes(config: Path) -> None:
    result = _dg("check", "defs", config=config)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_dg_list_defs_shows_every_asset_check_sensor_and_schedule(config: Path) -> None:
    result = _dg("list", "defs", "--json", config=config)
    assert result.returncode == 0, result.stderr[-2000:]
    listed = json.loads(result.stdout)
    assets = {a["asset_key"] for a in listed["assets"]}
    assert assets == {
        "archive_files", "message_records", "messages", "conversations", "billing", "reports", "search_index",
        "budget_alerts",
    }  # fmt: skip
    checks = {c["name"] for c in listed["asset_checks"]}
    assert {
        "conversations_schema",
        "billing_reconciles",
        "ledger_matches_loaded_rows",
        "records_match_messages",
        "messages_match_conversations",
        "integrity_full_sweep",
        "rejected_share",
        "no_quarantined_files",
        "freshness_drop",
        "budget_within_limits",
    } <= checks
    assert {s["name"] for s in listed["sensors"]} >= {"ingest_drop", "eur_automation"}
    assert {s["name"] for s in listed["schedules"]} >= {"collect_drop", "eur_purge_daily", "mail_reports_monthly"}
    assert {j["name"] for j in listed["jobs"]} >= {"eur_pipeline_job", "eur_purge_job", "mail_reports_job"}
