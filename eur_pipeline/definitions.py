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
from eur_pipeline.defs.compliance import COMPLIANCE_ASSETS, PURGE_SCHEDULE, eur_purge_job
from eur_pipeline.defs.jobs import JOBS
from eur_pipeline.defs.mail import budget_alerts, budget_within_limits, build_mail_schedules, mail_reports_job
from eur_pipeline.defs.maintenance import MAINTENANCE_JOBS, build_maintenance_schedules
from eur_pipeline.defs.recovery import RECOVERY_JOBS
from eur_pipeline.defs.resources import EurResource
from eur_pipeline.defs.sensors import build_schedules, build_sensors
from eur_pipeline.errors import ConfigError

PIPELINE_JOB = dg.define_asset_job(
    "eur_pipeline_job",
    # the daily full integrity sweep is the automation sensor's, not every run's
    selection=dg.AssetSelection.all() - dg.AssetSelection.checks(dg.AssetCheckKey(dg.AssetKey("billing"), FULL_SWEEP)),
    description="Collect every ready file (or a sensor's batch) and refresh messages, conversations, billing "
    "and reports in the same run; integrity checks look at what changed.",
)


def _config_or_none(config_path: str | None) -> tuple[str | None, EurConfig | None]:
    try:
        path = str(find_config_path(config_path))
        return path, load_config(path)
    except ConfigError as exc:
        logging.getLogger(__name__).warning("no source sensors: %s", exc)
        return config_path, None


def build_definitions(config_path: str | None = None, loggers: dict | None = None) -> dg.Definitions:
    """The definitions for one configuration (``config_path``, else ``$EUR_CONFIG``, else ``./eur.yaml``);
    ``loggers``: extra logger definitions (``eur-pipeline run`` adds its terminal logger)."""
    path, config = _config_or_none(config_path)
    return dg.Definitions(
        assets=[*ALL_ASSETS, *COMPLIANCE_ASSETS, budget_alerts],
        asset_checks=[*build_checks(config), budget_within_limits],
        jobs=[PIPELINE_JOB, *JOBS, eur_purge_job, mail_reports_job, *RECOVERY_JOBS, *MAINTENANCE_JOBS],
        schedules=[
            *build_schedules(config, PIPELINE_JOB),
            PURGE_SCHEDULE,
            *build_mail_schedules(config),
            *build_maintenance_schedules(config),
        ],
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
        loggers=loggers,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by `dagster dev`, `dg`, the webserver and the daemon, with ``$EUR_CONFIG`` or ``./eur.yaml``."""
    return build_definitions()
