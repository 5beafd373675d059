"""The thin Dagster layer: assets, checks, sensors and resources that call the plain-Python core."""
