"""pandera schema for ``conversations``: the invariants a conversation row must satisfy.

Validated lazily so every failing row is reported (never silently dropped)."""

from __future__ import annotations

import duckdb
import pandas as pd
import pandera.pandas as pa


class ConversationSchema(pa.DataFrameModel):
    thread_id: str = pa.Field(unique=True, nullable=False, str_length={"min_value": 1})
    started_at: pd.DatetimeTZDtype = pa.Field(dtype_kwargs={"unit": "us", "tz": "UTC"}, nullable=False)
    ended_at: pd.DatetimeTZDtype = pa.Field(dtype_kwargs={"unit": "us", "tz": "UTC"}, nullable=False)
    duration_seconds: float = pa.Field(ge=0)
    message_count: int = pa.Field(ge=1)
    participant_count: int = pa.Field(ge=1)
    initiator: str = pa.Field(nullable=False)
    is_multiparty: bool

    class Config:
        coerce = True
        strict = False

    @pa.dataframe_check(error="ended_at must not precede started_at")
    def ordered(cls, df: pd.DataFrame) -> pd.Series:
        return df["ended_at"] >= df["started_at"]

    @pa.dataframe_check(error="duration_seconds must equal ended_at - started_at")
    def duration_matches(cls, df: pd.DataFrame) -> pd.Series:
        return ((df["ended_at"] - df["started_at"]).dt.total_seconds() - df["duration_seconds"]).abs() < 1e-3

    @pa.dataframe_check(error="participant_count must equal the number of participants")
    def count_matches(cls, df: pd.DataFrame) -> pd.Series:
        return df["participants"].map(len) == df["participant_count"]

    @pa.dataframe_check(error="is_multiparty must be participant_count > 2")
    def multiparty_rule(cls, df: pd.DataFrame) -> pd.Series:
        return df["is_multiparty"] == (df["participant_count"] > 2)

    @pa.dataframe_check(error="the initiator must be a participant")
    def initiator_participates(cls, df: pd.DataFrame) -> pd.Series:
        return pd.Series(
            [i in set(p) for i, p in zip(df["initiator"], df["participants"], strict=True)], index=df.index
        )


def validate_conversations(frame: pd.DataFrame) -> pd.DataFrame:
    """The failure cases (empty when valid): one row per failed check and offending row."""
    try:
        ConversationSchema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return exc.failure_cases
    return pd.DataFrame()


def conversations_to_check(con: duckdb.DuckDBPyConnection, full: bool = False) -> pd.DataFrame:
    """The conversations this run refreshed (still queued for billing), or all of them."""
    where = "" if full else "WHERE thread_id IN (SELECT thread_id FROM pending_threads WHERE stage = 'billing')"
    return con.execute(f"SELECT * FROM conversations {where}").df()
