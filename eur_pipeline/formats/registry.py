"""Find record formats through the ``eur_pipeline.formats`` entry point group."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from eur_pipeline.errors import ConfigError
from eur_pipeline.formats.base import RecordFormat

GROUP = "eur_pipeline.formats"


@cache
def format_class(name: str) -> type[RecordFormat]:
    """Load only the plugin asked for, so one broken third-party plugin cannot break the others."""
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    if name not in found:
        known = ", ".join(sorted(found)) or "none installed"
        raise ConfigError(f"format: unknown record format {name!r} (known: {known})")
    return found[name].load()


def get_format(name: str) -> RecordFormat:
    return format_class(name)()
