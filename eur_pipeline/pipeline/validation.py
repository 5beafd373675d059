"""Validate ``conversations`` against the pandera ``ConversationSchema``.

Validated lazily (pandera's ``lazy=True``) so every failing row is reported, never silently dropped."""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    import pandas as pd


def validate_conversations(frame: pd.DataFrame) -> pd.DataFrame:
    """The failure cases (empty when valid): one row per failed check and offending row."""
    import pandas as pd
    import pandera.pandas as pa

    from eur_pipeline.pipeline.conversation_schema import ConversationSchema

    try:
        ConversationSchema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return exc.failure_cases
    return pd.DataFrame()


def conversations_to_check(con: duckdb.DuckDBPyConnection, full: bool = False) -> pd.DataFrame:
    """The conversations this run refreshed (still queued for billing), or all of them."""
    where = "" if full else "WHERE thread_id IN (SELECT thread_id FROM pending_threads WHERE stage = 'billing')"
    return con.execute(f"SELECT * FROM conversations {where}").df()
