"""The demo's sample directory and rates load cleanly and cover both matching paths."""

from __future__ import annotations

from pathlib import Path

from eur_pipeline.billing.directory import load_directory
from eur_pipeline.billing.rates import load_rates
from eur_pipeline.demo.sample_billing import write_sample_billing_inputs


def test_sample_inputs_are_valid(tmp_path: Path) -> None:
    users = [f"{28800 + i}@presence.example.com" for i in range(150)]
    directory_path, rates_path = write_sample_billing_inputs(tmp_path, users)
    directory = load_directory(directory_path, 5)
    assert 120 <= len(directory.entries) < 150  # some users are left to the source-site fallback
    assert any(e.is_extension for e in directory.entries) and any(not e.is_extension for e in directory.entries)
    assert load_rates(rates_path).configured
    again = tmp_path / "again"
    write_sample_billing_inputs(again, list(reversed(users)))
    assert (again / "directory.csv").read_text() == directory_path.read_text()  # deterministic


def test_sample_directory_never_repeats_a_name(tmp_path: Path) -> None:
    """Two different people called "Ben Haddad" in one top 10 read as one person counted twice."""
    import csv

    users = [f"{28800 + i}@presence.example.com" for i in range(400)]
    directory_path, _ = write_sample_billing_inputs(tmp_path, users)
    names = [row["name"] for row in csv.DictReader(directory_path.open(encoding="utf-8"))]
    assert len(names) > 300 and len(set(names)) == len(names)


def test_demo_top_users_are_ranked_by_sent_plus_received(tmp_path: Path) -> None:
    """As the report's top 10 and the top_talkers view: messages sent + received, not sent alone."""
    from eur_pipeline.demo.run import top_users
    from eur_pipeline.warehouse.migrations import open_warehouse

    con = open_warehouse(tmp_path / "w.duckdb")
    con.execute(
        "INSERT INTO billing (period, user_jid, messages_sent, messages_received, conversations, "
        "conversations_started, usage_cost, fee, markup, tax, total_cost, currency) VALUES "
        "(DATE '2026-10-01', 'talker@x', 10, 1, 1, 1, 0, 0, 0, 0, 0, 'EUR'), "
        "(DATE '2026-10-01', 'listener@x', 2, 30, 1, 0, 0, 0, 0, 0, 0, 'EUR')"
    )
    con.close()
    assert [row[0] for row in top_users(tmp_path / "w.duckdb")] == ["listener@x", "talker@x"]
