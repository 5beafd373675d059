"""Pluggable file sources (entry point group ``eur_pipeline.sources``)."""
