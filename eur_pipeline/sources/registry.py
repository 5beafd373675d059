"""Find source plugins through the ``eur_pipeline.sources`` entry point group."""

from __future__ import annotations

from functools import cache

from pydantic import ValidationError

from eur_pipeline.config.messages import validation_message
from eur_pipeline.config.model import SourceConfig
from eur_pipeline.errors import ConfigError
from eur_pipeline.plugins import load_plugin
from eur_pipeline.sources.base import Source

GROUP = "eur_pipeline.sources"


@cache
def source_class(kind: str) -> type[Source]:
    return load_plugin(GROUP, kind, "kind", "source kind")


def validate_source_options(config: SourceConfig) -> None:
    """Fail at start, naming the key, when a source's kind-specific options are wrong."""
    cls = source_class(config.kind)
    try:
        cls.Options.model_validate(config.options)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, cls.Options, also_known=SourceConfig.model_fields)) from None
    from eur_pipeline.formats.registry import format_class

    format_class(source_format(config))


def source_format(config: SourceConfig) -> str:
    """The format of this source's units: the configured one, else the kind's own (a database
    source's batches are always read by the format of its kind)."""
    if "format" in config.model_fields_set:
        return config.format
    return getattr(source_class(config.kind), "default_format", None) or config.format


def open_source(config: SourceConfig) -> Source:
    """A ready-to-enter source instance for this config (refused when a secret it needs is not set)."""
    config.require_env()
    return source_class(config.kind)(config)  # type: ignore[call-arg]
