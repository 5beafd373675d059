"""The eur.yaml data model (pure pydantic): what a valid configuration holds.

It knows nothing of files, the environment or plugins, so any layer (sources, formats, billing)
can import it; reading eur.yaml and validating plugin options is ``eur_pipeline.config.loader``'s job.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from eur_pipeline.compliance.settings import PrivacyConfig, RetentionConfig
from eur_pipeline.config.mail import MailConfig
from eur_pipeline.errors import ConfigError
from eur_pipeline.warehouse.target import LakeConfig

_SECRET_KEY = re.compile(r"pass|secret|token|credential|dsn", re.IGNORECASE)


class SourceConfig(BaseModel):
    """Settings every source kind shares; kind-specific keys are validated by the source plugin."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    kind: str = "local"
    format: str = "avaya_presence_xml"
    site: str = "Default"
    pattern: str = "*.xml"
    on_success: Literal["delete", "move", "keep"] = "keep"
    move_to: str | None = None
    min_age_seconds: float = Field(default=60, ge=0)
    schedule: str | None = None  # optional cron: collect on a schedule instead of (or besides) the sensor
    freshness_hours: float | None = Field(default=None, gt=0)
    # "<key>: environment variable <VAR>" for each ${VAR} of this source not set at load time: refused
    # only when something connects to the source (require_env), so read-only commands need no secrets
    unset_env: tuple[str, ...] = Field(default=(), exclude=True, repr=False)

    @model_validator(mode="after")
    def _move_needs_target(self) -> SourceConfig:
        if self.on_success == "move" and not self.move_to:
            raise ValueError("on_success: move needs move_to")
        return self

    def require_env(self) -> None:
        """ConfigError naming the key and variable when a ${VAR} this source needs is not set."""
        if self.unset_env:
            more = f" (+{len(self.unset_env) - 1} more)" if len(self.unset_env) > 1 else ""
            raise ConfigError(f"source {self.name}: {self.unset_env[0]} is not set{more}")

    @property
    def options(self) -> dict[str, Any]:
        """The kind-specific keys (host, path, ...), for the source plugin to validate."""
        return dict(self.model_extra or {})

    def __repr_args__(self) -> Any:
        """repr/str never show a secret (password, passphrase, ...): they end up in logs and tracebacks."""
        for key, value in super().__repr_args__():
            if key and _SECRET_KEY.search(key) and value is not None:
                value = "**********"
            yield key, value


class EurConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    warehouse: Path | LakeConfig = Path("./data/warehouse.duckdb")  # a DuckDB file, or a DuckLake mapping
    landing_dir: Path = Path("./data/landing")
    reports_dir: Path | None = None
    extension_length: int = Field(default=5, ge=5, le=10)
    timezone: str = "UTC"
    directory: Path | None = None
    rates: Path | None = None
    rejected_share_threshold: float = Field(default=0.05, ge=0, le=1)
    report_pdf: bool = False  # also print each report to PDF (needs a Chromium on PATH or $EUR_CHROMIUM)
    mail: MailConfig | None = None
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    search_index: Path | None = None  # full-text index folder (default: beside the warehouse)
    sources: list[SourceConfig] = Field(default_factory=list)

    @field_validator("warehouse", mode="before")
    @classmethod
    def _warehouse_form(cls, value: Any) -> Any:
        """A mapping is a lake: report its own first problem (not the union's of both forms)."""
        if isinstance(value, dict):
            try:
                return LakeConfig.model_validate(value)
            except ValidationError as exc:
                err = exc.errors()[0]
                key = ".".join(str(p) for p in err["loc"])
                raise ValueError(f"{key}: {err['msg'].removeprefix('Value error, ')}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        seen: set[str] = set()
        for source in sources:
            if source.name in seen:
                raise ValueError(f"duplicate source name {source.name!r}")
            seen.add(source.name)
        return sources

    @property
    def resolved_reports_dir(self) -> Path:
        beside = self.warehouse.parent if isinstance(self.warehouse, Path) else self.landing_dir.parent
        return self.reports_dir or beside / "reports"

    @property
    def resolved_search_index(self) -> Path:
        beside = self.warehouse.parent if isinstance(self.warehouse, Path) else self.landing_dir.parent
        return self.search_index or beside / "search-index"

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        raise ConfigError(f"no source named {name!r} in the configuration")
