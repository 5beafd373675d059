"""The eur.yaml model: validated at start, `${VAR}` read from the environment, secrets kept secret.

Lookup order for the file: explicit path, then ``$EUR_CONFIG``, then ``./eur.yaml``.
Relative paths in the file are resolved against the file's own folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from eur_pipeline.errors import ConfigError
from eur_pipeline.warehouse.target import LakeConfig

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_KEY = re.compile(r"pass|secret|token|credential", re.IGNORECASE)


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

    @model_validator(mode="after")
    def _move_needs_target(self) -> SourceConfig:
        if self.on_success == "move" and not self.move_to:
            raise ValueError("on_success: move needs move_to")
        return self

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

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        raise ConfigError(f"no source named {name!r} in the configuration")


def find_config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config file to use: explicit, then $EUR_CONFIG, then ./eur.yaml."""
    candidate = explicit or os.environ.get("EUR_CONFIG") or "eur.yaml"
    path = Path(candidate).expanduser()
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found (use --config FILE or set EUR_CONFIG)")
    return path


def interpolate_env(value: Any, where: str = "") -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string; a missing variable names its key."""
    if isinstance(value, dict):
        return {k: interpolate_env(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate_env(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{where}: environment variable {name} is not set")

    return _VAR.sub(substitute, value)


_PATH_KEYS = ("warehouse", "landing_dir", "reports_dir", "directory", "rates")
_SOURCE_PATH_KEYS = ("path", "private_key", "known_hosts")


def _resolve_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    def resolve(value: Any) -> Any:
        if not isinstance(value, str) or not value:
            return value
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else (base / path))

    defaults = {"warehouse": "./data/warehouse.duckdb", "landing_dir": "./data/landing"}
    out = {k: (resolve(v) if k in _PATH_KEYS else v) for k, v in {**defaults, **raw}.items()}
    lake = out.get("warehouse")
    if isinstance(lake, dict) and isinstance(lake.get("data_path"), str) and "://" not in lake["data_path"]:
        out["warehouse"] = {**lake, "data_path": resolve(lake["data_path"]).rstrip("/") + "/"}
    sources = out.get("sources")
    if isinstance(sources, list):
        out["sources"] = [
            {k: (resolve(v) if k in _SOURCE_PATH_KEYS else v) for k, v in s.items()} if isinstance(s, dict) else s
            for s in sources
        ]
    return out


def _format_validation_error(path: Path, exc: ValidationError) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "(top level)"
    more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{path}: {key}: {err['msg'].removeprefix('Value error, ')}{more}"


def parse_config(raw: Any, path: Path, base: Path | None = None) -> EurConfig:
    """Validate an already-loaded mapping; errors name the file, the key and the reason."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    try:
        raw = interpolate_env(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    raw = _resolve_paths(raw, base if base is not None else path.parent)
    try:
        config = EurConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(path, exc)) from None
    if isinstance(config.warehouse, LakeConfig):
        from eur_pipeline.warehouse.lake import check_extensions

        try:
            check_extensions()
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    from eur_pipeline.sources.registry import validate_source_options

    for i, source in enumerate(config.sources):
        try:
            validate_source_options(source)
        except ConfigError as exc:
            raise ConfigError(f"{path}: sources[{i}] ({source.name}): {exc}") from None
    return config


def load_config(explicit: str | os.PathLike[str] | None = None) -> EurConfig:
    path = find_config_path(explicit)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_config(raw, path)


__all__ = ["EurConfig", "SourceConfig", "find_config_path", "load_config", "parse_config"]
