"""The two warehouses the suite runs on: a DuckDB file, and a DuckLake on the local PostgreSQL
(a database of its own per test, dropped after)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eur_pipeline_tests.postgres import PG, fresh_database


@contextmanager
def lake_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one lake catalog."""
    with fresh_database("eur_lake") as name:
        yield name


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
