"""Opening the warehouse under the privacy rules: owner-only files, and the configured body mode in force.

Every writer goes through :func:`open_private_warehouse` (the Dagster resource and the compliance
commands), so a change of ``privacy.bodies`` in eur.yaml takes effect, audited, at the next open.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import duckdb

from eur_pipeline.compliance.at_rest import make_private_dir, owner_only_umask, restrict
from eur_pipeline.compliance.compact import compact_warehouse
from eur_pipeline.compliance.privacy import enforce_mode
from eur_pipeline.compliance.retention import PurgeReport, apply_retention
from eur_pipeline.compliance.search_index import SyncReport
from eur_pipeline.config import EurConfig
from eur_pipeline.warehouse.migrations import open_warehouse
from eur_pipeline.warehouse.target import LakeConfig


def _erase_history(config: EurConfig, wait_seconds: float, on_wait: Callable[[str], None] | None) -> None:
    """After an erasure, with no connection open: a DuckDB file is rewritten; a lake's snapshots and
    files that still hold the erased values are deleted (``warehouse.maintenance.erase_history``)."""
    if isinstance(config.warehouse, LakeConfig):
        from eur_pipeline.warehouse.maintenance import erase_history

        con = open_warehouse(config.warehouse, wait_seconds=wait_seconds, on_wait=on_wait)
        try:
            erase_history(con)
        finally:
            con.close()
    else:
        compact_warehouse(config.warehouse)


def open_private_warehouse(
    config: EurConfig,
    wait_seconds: float = 600.0,
    on_wait: Callable[[str], None] | None = None,
    actor: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """A migrated read-write connection; the warehouse (and its WAL), landing folder and index are
    owner-only, and the warehouse stores bodies as ``config.privacy.bodies`` says."""
    owner_only_umask()
    lake = isinstance(config.warehouse, LakeConfig)
    if not lake and not config.warehouse.parent.exists():  # an existing folder (e.g. a home) is the user's to set
        make_private_dir(config.warehouse.parent)
    con = open_warehouse(config.warehouse, wait_seconds=wait_seconds, on_wait=on_wait)
    try:
        if isinstance(config.warehouse, LakeConfig):  # a local data path is created 0700 by the lake
            if config.warehouse.is_local:
                restrict(Path(config.warehouse.data_path))
        else:
            for path in (config.warehouse, config.warehouse.with_name(config.warehouse.name + ".wal")):
                restrict(path)
        if config.landing_dir.exists():
            with contextlib.suppress(OSError):  # a read-only landing folder is reported, with its path, by collection
                restrict(config.landing_dir)
        change = enforce_mode(con, config.privacy.bodies, config.resolved_search_index, actor)
    except BaseException:
        con.close()
        raise
    if change is not None and change.records + change.messages + change.rejects:
        con.close()  # the old bodies are still in the file's freed blocks (a lake's older snapshots)
        _erase_history(config, wait_seconds, on_wait)
        con = open_warehouse(config.warehouse, wait_seconds=wait_seconds, on_wait=on_wait)
    return con


def run_purge(
    config: EurConfig,
    wait_seconds: float = 600.0,
    on_wait: Callable[[str], None] | None = None,
    actor: str | None = None,
) -> tuple[PurgeReport, SyncReport]:
    """``eur-pipeline purge`` and the daily schedule: retention applied, the index in step, and the
    warehouse file rewritten when anything was erased (so the erased text is gone from the disk too)."""
    con = open_private_warehouse(config, wait_seconds, on_wait, actor)
    try:
        report, synced = apply_retention(con, config, actor=actor)
    finally:
        con.close()
    if report.erased_anything:
        _erase_history(config, wait_seconds, on_wait)
    return report, synced
