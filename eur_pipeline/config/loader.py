"""Loading eur.yaml: find the file, read ``${VAR}`` from the environment, resolve relative paths,
validate the model and every source's plugin options — all before anything is collected.

Lookup order for the file: explicit path, then ``$EUR_CONFIG``, then ``./eur.yaml``.
Relative paths in the file are resolved against the file's own folder.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from eur_pipeline.config.model import EurConfig
from eur_pipeline.errors import ConfigError
from eur_pipeline.sources.registry import validate_source_options
from eur_pipeline.warehouse.target import LakeConfig

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


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
    for i, source in enumerate(config.sources):
        try:
            validate_source_options(source)
        except ConfigError as exc:
            raise ConfigError(f"{path}: sources[{i}] ({source.name}): {exc}") from None
    return config


def load_config(explicit: str | os.PathLike[str] | None = None) -> EurConfig:
    """The configuration, validated once per process for a given file content and environment.

    A run's steps, its sensors and the CLI all call this: the file is re-read (cheap) but parsed and
    validated only when its text or a ``${VAR}`` it names changed."""
    path = find_config_path(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the configuration: {exc}") from None
    env = tuple((name, os.environ.get(name)) for name in sorted({m.group(1) for m in _VAR.finditer(text)}))
    return _parse_once(str(path.resolve()), text, env)


@functools.cache
def _parse_once(resolved: str, text: str, _env: tuple[tuple[str, str | None], ...]) -> EurConfig:
    path = Path(resolved)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_config(raw, path)


__all__ = ["find_config_path", "interpolate_env", "load_config", "parse_config"]
