"""Tests of the Dagster layer: sensors, assets and checks, definitions, and the production instance."""
