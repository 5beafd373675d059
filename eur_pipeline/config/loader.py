"""Loading eur.yaml: find the file, read ``${VAR}`` from the environment, resolve relative paths,
validate the model, every source's plugin options, the directory CSV, the rates file and every file a
source names (private_key, known_hosts) — all before any source is listed, so a configuration error
is found at start (exit 2), never half-way through a run.

Secrets are checked lazily: a ``${VAR}`` in a secret key of a source (password, passphrase, token, dsn...)
that is not set is recorded on that source (``SourceConfig.unset_env``) and refused only when something
connects to it (:func:`require_source_secrets`, ``open_source``), so read-only commands (``sql``, reports,
``rebuild``) run without source secrets.

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

from eur_pipeline.config.messages import key_path, validation_message
from eur_pipeline.config.model import EurConfig
from eur_pipeline.errors import ConfigError
from eur_pipeline.sources.registry import validate_source_options
from eur_pipeline.warehouse.target import LakeConfig

# keys of a source whose ${VAR} may stay unset until something connects to that source (secrets)
_LAZY_KEY = re.compile(r"pass|secret|token|credential|dsn", re.IGNORECASE)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def find_config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config file to use: explicit, then $EUR_CONFIG, then ./eur.yaml."""
    candidate = explicit or os.environ.get("EUR_CONFIG") or "eur.yaml"
    path = Path(candidate).expanduser()
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found (use --config FILE or set EUR_CONFIG)")
    return path


def interpolate_env(value: Any, where: str = "", unset: list[tuple[str, str]] | None = None) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string; a missing variable names its key
    (or, when ``unset`` is given and the key holds a secret, is left as written and noted there)."""
    if isinstance(value, dict):
        return {k: interpolate_env(v, f"{where}.{k}" if where else str(k), unset) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate_env(v, f"{where}[{i}]", unset) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        if unset is not None and _LAZY_KEY.search(where.rsplit(".", 1)[-1]):
            unset.append((where, name))
            return match.group(0)
        raise ConfigError(f"{where}: environment variable {name} is not set")

    return _VAR.sub(substitute, value)


_PATH_KEYS = ("warehouse", "landing_dir", "reports_dir", "directory", "rates", "search_index")
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
    mail = out.get("mail")
    if isinstance(mail, dict) and mail.get("ca_file"):
        out["mail"] = {**mail, "ca_file": resolve(mail["ca_file"])}
    sources = out.get("sources")
    if isinstance(sources, list):
        out["sources"] = [
            {k: (resolve(v) if k in _SOURCE_PATH_KEYS else v) for k, v in s.items()} if isinstance(s, dict) else s
            for s in sources
        ]
    return out


def parse_config(raw: Any, path: Path, base: Path | None = None) -> EurConfig:
    """Validate an already-loaded mapping; errors name the file, the key and the reason."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    try:
        raw = _interpolate(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    raw = _resolve_paths(raw, base if base is not None else path.parent)
    try:
        config = EurConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {validation_message(exc, EurConfig)}") from None
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
            raise ConfigError(f"{path}: {key_path([i], 'sources')}.{exc}") from None  # "key: reason" from the plugin
        for key in _SOURCE_FILE_KEYS:
            value = source.options.get(key)
            if isinstance(value, str) and value and "${" not in value and not Path(value).is_file():
                raise ConfigError(f"{path}: {key_path([i], 'sources')}.{key}: file {value} does not exist")
    return config


_SOURCE_FILE_KEYS = ("private_key", "known_hosts")


def _interpolate(raw: dict[str, Any]) -> dict[str, Any]:
    """``${VAR}`` everywhere; unset ones under a source are noted on it (lazy secrets), not refused."""
    out = {k: (interpolate_env(v, str(k)) if k != "sources" else v) for k, v in raw.items()}
    sources = raw.get("sources")
    if isinstance(sources, list):
        resolved = []
        for i, source in enumerate(sources):
            unset: list[tuple[str, str]] = []
            value = interpolate_env(source, f"sources[{i}]", unset)
            if unset and isinstance(value, dict):
                value["unset_env"] = [f"{key.split('.', 1)[-1]}: environment variable {var}" for key, var in unset]
            resolved.append(value)
        out["sources"] = resolved
    return out


def require_source_secrets(config: EurConfig) -> None:
    """Refuse (ConfigError, exit 2) when a source's ``${VAR}`` is not set: before anything connects."""
    for source in config.sources:
        source.require_env()


def validate_billing_inputs(config: EurConfig) -> None:
    """The directory CSV and rates file must be valid now, not at the billing step after collection."""
    _billing_inputs_ok(_stamp(config.directory), _stamp(config.rates), config.extension_length)


def _stamp(path: Path | None) -> tuple[str, int, int] | None:
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return (str(path), -1, -1)  # the loaders below say what is wrong
    return (str(path), st.st_mtime_ns, st.st_size)


@functools.cache
def _billing_inputs_ok(directory: tuple[str, int, int] | None, rates: tuple[str, int, int] | None, length: int) -> bool:
    from eur_pipeline.billing.directory import load_directory
    from eur_pipeline.billing.rates import load_rates

    load_directory(Path(directory[0]) if directory else None, length)
    load_rates(Path(rates[0]) if rates else None)
    return True


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
    config = _parse_once(str(path.resolve()), text, env)
    validate_billing_inputs(config)
    return config


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


__all__ = [
    "find_config_path",
    "interpolate_env",
    "load_config",
    "parse_config",
    "require_source_secrets",
    "validate_billing_inputs",
]
