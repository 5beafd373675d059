"""PostgreSQL for the Dagster instance tests: a fresh, uniquely named database per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from eur_pipeline_tests.postgres import PG, fresh_database, psycopg2_connect

__all__ = ["PG", "pg_database", "psycopg2_connect"]


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """PostgreSQL missing: the test fails when ``CI`` is set, else skips. Dropped after the module."""
    with fresh_database() as name:
        yield name
