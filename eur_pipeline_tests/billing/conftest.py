"""Fixtures: a migrated, empty warehouse per test (the lead's open_warehouse: 001_init + views)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eur_pipeline.warehouse.migrations import open_warehouse

from .helpers import Warehouse


@pytest.fixture
def warehouse(warehouse_target: Path) -> Iterator[Warehouse]:
    con = open_warehouse(warehouse_target)
    try:
        yield Warehouse(con)
    finally:
        con.close()
