"""Plain-Python pipeline steps (collect, transform) that the Dagster layer and the CLI call."""
