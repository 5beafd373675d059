"""The Arrow allocator every process of the pipeline uses (``formats/base.py``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa

import eur_pipeline.formats.base  # noqa: F401 — importing it chooses the allocator

BACKEND = "import eur_pipeline.formats.base, pyarrow; print(pyarrow.default_memory_pool().backend_name)"


def test_arrow_buffers_come_from_the_c_library_malloc() -> None:
    """pyarrow's bundled allocator kept freed batches' pages: ~25 MB more at a large run's peak."""
    assert pa.default_memory_pool().backend_name == "system"


def backend(env: dict[str, str]) -> str:
    run = subprocess.run([sys.executable, "-c", BACKEND], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_an_allocator_chosen_in_the_environment_still_decides() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    assert backend({**env, "ARROW_DEFAULT_MEMORY_POOL": "mimalloc"}) == "mimalloc"
    assert backend(env) == "system"
