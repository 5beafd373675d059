"""PostgreSQL for the Dagster instance tests: a fresh, uniquely named database per test module; and
``request.node.rep_call`` so a fixture sees whether its test failed (the UI tests keep a screenshot
of the page a failure left behind)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eur_pipeline_tests.postgres import PG, fresh_database, psycopg2_connect


def instance_env(home: Path, pg_database: str, config: Path) -> dict[str, str]:
    """The environment deploy/dagster.yaml and the definitions read (this machine's PostgreSQL)."""
    return {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": PG["host"],
        "DAGSTER_PG_PORT": str(PG["port"]),
        "DAGSTER_PG_USER": PG["user"],
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": pg_database,
        "EUR_CONFIG": str(config),
    }


__all__ = ["PG", "instance_env", "pg_database", "psycopg2_connect"]


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """PostgreSQL missing: the test fails when ``CI`` is set, else skips. Dropped after the module."""
    with fresh_database() as name:
        yield name


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
