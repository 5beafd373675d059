"""Entry-point plugin lookup shared by the format and source registries."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from eur_pipeline.errors import ConfigError


def load_plugin(group: str, name: str, key: str, what: str) -> Any:
    """Load only the plugin asked for, so one broken third-party plugin cannot break the others;
    an unknown name is a ConfigError naming the config ``key`` and the installed choices."""
    found = {ep.name: ep for ep in entry_points(group=group)}
    if name not in found:
        known = ", ".join(sorted(found)) or "none installed"
        raise ConfigError(f"{key}: unknown {what} {name!r} (known: {known})")
    return found[name].load()
