"""The two warehouses the suite runs on: a DuckDB file, and a DuckLake on the local PostgreSQL
(a database of its own per test, dropped after)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def _admin() -> Any:
    import psycopg2

    try:
        con = psycopg2.connect(dbname="postgres", connect_timeout=5, **PG)
    except psycopg2.Error as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is required in CI: {exc}")
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 not reachable: {exc}")
    con.autocommit = True
    return con


@contextmanager
def lake_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one lake catalog."""
    admin = _admin()
    name = f"eur_lake_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def lake_spec(dbname: str, data_path: Path | str) -> dict[str, str]:
    """The eur.yaml ``warehouse:`` mapping of a lake in ``dbname``."""
    conninfo = f"dbname={dbname} host={PG['host']} port={PG['port']} user={PG['user']}"
    return {"ducklake": f"postgres:{conninfo}", "data_path": str(data_path)}


def lake_config(dbname: str, data_path: Path) -> Any:
    from eur_pipeline.warehouse.target import LakeConfig

    return LakeConfig(**lake_spec(dbname, f"{data_path}/"))


@contextmanager
def warehouse_spec(backend: str, base: Path) -> Iterator[Any]:
    """The ``warehouse:`` value of ``backend`` for a test in ``base``: a path, or a lake mapping."""
    if backend == "file":
        yield str(base / "wh.duckdb")
        return
    with lake_database() as name:
        yield lake_spec(name, str(base / "lake") + "/")
