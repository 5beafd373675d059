"""Resources: the eur.yaml configuration and the DuckDB warehouse behind it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

from eur_pipeline.compliance.store import open_private_warehouse
from eur_pipeline.config import EurConfig
from eur_pipeline.config.loader import load_config
from eur_pipeline.errors import ConfigError, WarehouseError
from eur_pipeline.warehouse.connection import WarehouseLockedError


class EurResource(dg.ConfigurableResource):
    """The eur.yaml configuration (config_path, else $EUR_CONFIG, else ./eur.yaml), validated once per process and shared by every step, and the warehouse it names."""  # noqa: E501 - one line: the UI shows it as written

    config_path: str | None = None
    lock_wait_seconds: float = 600.0

    def load(self) -> EurConfig:
        """The validated configuration; an invalid one fails the step at once, without retries
        (no retry can fix a configuration file)."""
        try:
            return load_config(self.config_path)
        except ConfigError as exc:
            raise dg.Failure(description=f"configuration error: {exc}", allow_retries=False) from None

    @contextmanager
    def warehouse(
        self, config: EurConfig | None = None, on_wait: Callable[[str], None] | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A migrated read-write connection; waits (with backoff, reporting via ``on_wait``) while
        another process — e.g. an analyst's SQL session — holds the DuckDB lock. Owner-only files and
        the configured ``privacy.bodies`` mode are enforced on open."""
        config = config or self.load()
        try:
            con = open_private_warehouse(config, wait_seconds=self.lock_wait_seconds, on_wait=on_wait)
        except (ConfigError, WarehouseError, WarehouseLockedError) as exc:
            # retrying cannot help (the lock was already waited for): fail the step with the one-line cause
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        try:
            yield con
        finally:
            con.close()
