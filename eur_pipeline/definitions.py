"""The one Definitions object, built lazily (``@dg.definitions``): `dagster dev`, `dg`, workspace.yaml
and the daemon call :func:`defs` when they load the code location; ``eur-pipeline run`` calls
:func:`build_definitions` with its ``--config``. Nothing is read or built at import time.

Sensors, schedules and freshness checks are built per configured source; without a configuration
the definitions still load, without them. Every sensor and schedule defaults to RUNNING: a
deployment ingests with no action in the UI.
"""

from __future__ import annotations

import logging

import dagster as dg

from eur_pipeline.config import EurConfig
from eur_pipeline.config.loader import find_config_path, load_config
from eur_pipeline.defs.assets import ALL_ASSETS
from eur_pipeline.defs.checks import FULL_SWEEP, build_checks
from eur_pipeline.defs.maintenance import MAINTENANCE_JOBS, build_maintenance_schedules
from eur_pipeline.defs.resources import EurResource
from eur_pipeline.defs.sensors import build_schedules, build_sensors
from eur_pipeline.errors import ConfigError

PIPELINE_JOB = dg.define_asset_job(
    "eur_pipeline_job",
    # the daily full integrity sweep is the automation sensor's, not every run's
    selection=dg.AssetSelection.all() - dg.AssetSelection.checks(dg.AssetCheckKey(dg.AssetKey("billing"), FULL_SWEEP)),
    description="Collect files (a partition range from a sensor, or every ready file when unpartitioned) and "
    "refresh messages, conversations and billing in the same run (integrity checks scoped to the change).",
)


def _config_or_none(config_path: str | None) -> tuple[str | None, EurConfig | None]:
    try:
        path = str(find_config_path(config_path))
        return path, load_config(path)
    except ConfigError as exc:
        logging.getLogger(__name__).warning("no source sensors: %s", exc)
        return config_path, None


def build_definitions(config_path: str | None = None) -> dg.Definitions:
    """The definitions for one configuration (``config_path``, else ``$EUR_CONFIG``, else ``./eur.yaml``)."""
    path, config = _config_or_none(config_path)
    return dg.Definitions(
        assets=ALL_ASSETS,
        asset_checks=build_checks(config),
        jobs=[PIPELINE_JOB, *MAINTENANCE_JOBS],
        schedules=[*build_schedules(config, PIPELINE_JOB), *build_maintenance_schedules(config)],
        sensors=[
            *build_sensors(config, PIPELINE_JOB),
            dg.AutomationConditionSensorDefinition(
                "eur_automation",
                target=dg.AssetSelection.all(),
                default_status=dg.DefaultSensorStatus.RUNNING,
                description="Declarative automation: eager downstream refresh and the hourly freshness checks.",
            ),
        ],
        # the steps read the very file the definitions were built from (loaded once per process)
        resources={"eur": EurResource(config_path=path)},
        # every step opens the one DuckDB file and the pool runs them one at a time anyway: a process
        # per step (the multiprocess default) would only add ~5 s of start-up to each
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by `dagster dev`, `dg`, the webserver and the daemon, with ``$EUR_CONFIG`` or ``./eur.yaml``."""
    return build_definitions()
