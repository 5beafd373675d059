"""Find record formats through the ``eur_pipeline.formats`` entry point group."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from eur_pipeline.errors import ConfigError
from eur_pipeline.formats.base import RecordFormat

GROUP = "eur_pipeline.formats"


@cache
def format_classes() -> dict[str, type[RecordFormat]]:
    return {ep.name: ep.load() for ep in entry_points(group=GROUP)}


def format_class(name: str) -> type[RecordFormat]:
    classes = format_classes()
    if name not in classes:
        known = ", ".join(sorted(classes)) or "none installed"
        raise ConfigError(f"format: unknown record format {name!r} (known: {known})")
    return classes[name]


def get_format(name: str) -> RecordFormat:
    return format_class(name)()
