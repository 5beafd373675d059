"""eur.yaml: the pure data model (``model``) and its loading (``loader``: files, ``${VAR}``, plugin options).

The model is importable from anywhere (sources and formats need it); the loader sits above both the
model and the plugin registries, so there is no import cycle. ``load_config`` and friends are
re-exported lazily for callers that import them from the package.
"""

from __future__ import annotations

from typing import Any

from eur_pipeline.config.model import EurConfig, SourceConfig

_LOADER_NAMES = {"find_config_path", "interpolate_env", "load_config", "parse_config"}


def __getattr__(name: str) -> Any:
    if name in _LOADER_NAMES:
        from eur_pipeline.config import loader

        return getattr(loader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["EurConfig", "SourceConfig", *sorted(_LOADER_NAMES)]
