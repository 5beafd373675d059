"""Helpers for plugin authors: run them from your own tests (they need only pytest-free Python)."""
