"""pandera schema for ``conversations``: the invariants a conversation row must satisfy.

Its own module so that pandas and pandera (~70 MB) are imported only when a check runs, not while
the collector and its parse child hold their batches (``pipeline/validation.py`` imports it lazily)."""

from __future__ import annotations

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
