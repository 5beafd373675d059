"""The local PostgreSQL (127.0.0.1:5432, trust auth) for tests: a fresh, uniquely named database,
dropped afterwards. Missing PostgreSQL fails the test when ``CI`` is set, else skips it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def psycopg2_connect(dbname: str) -> Any:
    import psycopg2

    con = psycopg2.connect(dbname=dbname, connect_timeout=5, **PG)
    con.autocommit = True
    return con


@contextmanager
def fresh_database(prefix: str = "eur_test") -> Iterator[str]:
    try:
        admin = psycopg2_connect("postgres")
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is required in CI: {exc}")
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 not reachable: {exc}")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
