"""``python -m bench.stages CONFIG``: one pipeline pass without Dagster, timing each stage.

Separates the pipeline's own work from Dagster's fixed start-up, which would otherwise hide the
incremental cost. On a DuckDB file each stage ends with a checkpoint, counted in its time: a writer
checkpoints when its connection closes, and in a Dagster run every step has its own connection.
Prints one JSON object of seconds per stage (and ``total``) as its last line.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

from eur_pipeline.billing.compute import refresh_billing
from eur_pipeline.compliance.search_index import sync
from eur_pipeline.config.loader import load_config
from eur_pipeline.pipeline.collect import collect_source
from eur_pipeline.pipeline.transforms import refresh_conversations, refresh_messages
from eur_pipeline.pipeline.validation import check_conversations
from eur_pipeline.warehouse.migrations import open_warehouse
from eur_pipeline.warehouse.target import LakeConfig


def main() -> None:
    config = load_config(sys.argv[1])
    timings: dict[str, float] = {}
    start = time.perf_counter()
    con = open_warehouse(config.warehouse)
    steps: list[tuple[str, Callable[[], object]]] = [
        ("collect", lambda: [collect_source(con, config, source) for source in config.sources]),
        ("messages", lambda: refresh_messages(con)),
        ("conversations", lambda: refresh_conversations(con)),
        ("search_index", lambda: sync(con, config.resolved_search_index)),
        ("check", lambda: check_conversations(con)),
        ("billing", lambda: refresh_billing(con, config)),
    ]
    lake = isinstance(config.warehouse, LakeConfig)
    for name, step in steps:
        began = time.perf_counter()
        step()
        if not lake:  # as each Dagster step's connection does when it closes (a lake's CHECKPOINT is maintenance)
            con.execute("CHECKPOINT")
        timings[name] = time.perf_counter() - began
    con.close()
    timings["total"] = time.perf_counter() - start
    print(json.dumps(timings))


if __name__ == "__main__":
    main()
