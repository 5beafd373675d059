"""PostgreSQL for the Dagster instance tests: a fresh, uniquely named database per test module; and
``request.node.rep_call`` so a fixture sees whether its test failed (the UI tests keep a screenshot
of the page a failure left behind)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


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


def psycopg2_connect(dbname: str) -> Any:
    import psycopg2

    con = psycopg2.connect(dbname=dbname, connect_timeout=5, **PG)
    con.autocommit = True
    return con


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """PostgreSQL missing: the test fails when ``CI`` is set, else skips. Dropped after the module."""
    try:
        admin = psycopg2_connect("postgres")
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is required in CI: {exc}")
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 not reachable: {exc}")
    name = f"eur_test_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
