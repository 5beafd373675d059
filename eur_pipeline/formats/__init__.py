"""Pluggable archive record formats (entry point group ``eur_pipeline.formats``)."""
