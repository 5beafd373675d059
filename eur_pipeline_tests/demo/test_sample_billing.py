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
