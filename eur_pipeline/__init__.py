"""eur-pipeline: usage reporting and chargeback for enterprise IM archives (Dagster + DuckDB)."""

__version__ = "0.1.0"
