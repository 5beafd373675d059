"""Reading the warehouse the way a user checks a run: rows of the contract tables."""

from __future__ import annotations

from typing import Any

from eur_pipeline.warehouse.connection import connect
from eur_pipeline.warehouse.target import WarehouseTarget


def rows(warehouse: WarehouseTarget, sql: str) -> list[tuple[Any, ...]]:
    con = connect(warehouse, read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql).fetchall()
    finally:
        con.close()


def billing(warehouse: WarehouseTarget) -> dict[str, tuple[Any, ...]]:
    """user → (messages_sent, messages_received, conversations, conversations_started, total_cost as str)."""
    found = rows(
        warehouse,
        "SELECT user_jid, messages_sent, messages_received, conversations, conversations_started, "
        "total_cost::VARCHAR FROM billing ORDER BY user_jid",
    )
    return {r[0]: tuple(r[1:]) for r in found}


def conversations(warehouse: WarehouseTarget) -> dict[str, tuple[Any, ...]]:
    """thread → (message_count, participants, initiator, is_multiparty)."""
    found = rows(
        warehouse,
        "SELECT thread_id, message_count, participants, initiator, is_multiparty FROM conversations ORDER BY thread_id",
    )
    return {r[0]: tuple(r[1:]) for r in found}
