"""The DuckDB warehouse: connection (with lock waiting), migrations, Arrow loaders."""
