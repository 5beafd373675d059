"""Find record formats through the ``eur_pipeline.formats`` entry point group."""

from __future__ import annotations

from functools import cache

from eur_pipeline.formats.base import RecordFormat
from eur_pipeline.plugins import load_plugin

GROUP = "eur_pipeline.formats"


@cache
def format_class(name: str) -> type[RecordFormat]:
    return load_plugin(GROUP, name, "format", "record format")


def get_format(name: str) -> RecordFormat:
    return format_class(name)()
