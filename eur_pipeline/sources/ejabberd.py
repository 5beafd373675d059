"""``kind: ejabberd``: ejabberd's mod_mam SQL archive (table ``archive``) on PostgreSQL.

Read by ``id`` (BIGSERIAL). Each stored message is in the sender's archive and in the recipient's,
as two rows a moment apart; so that the ``ejabberd`` format can fold a copy whose partner was
loaded by the previous batch, each batch also carries, as context, the earlier rows of the second
before its first instant (context rows are matched against, never loaded again).
"""

from __future__ import annotations

from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from eur_pipeline.sources.database import DatabaseOptions, DatabaseSource

ARCHIVE_COLUMNS = ("id", "username", "timestamp", "peer", "bare_peer", "xml", "txt", "kind", "nick", "origin_id")
CONTEXT_MICROS = 1_000_000  # the two copies of one message are stored within this of each other


class EjabberdOptions(DatabaseOptions):
    host: str = Field(
        pattern=r"^[^@/\s]+$",
        description="XMPP domain of the archive owners (`username` holds the local part)",
    )


class EjabberdSource(DatabaseSource):
    kind: ClassVar[str] = "ejabberd"
    default_format: ClassVar[str] = "ejabberd"
    Options = EjabberdOptions
    table: ClassVar[str] = "archive"
    id_column: ClassVar[str] = "id"
    int_columns: ClassVar[frozenset[str]] = frozenset({"id", "timestamp"})

    def inspect(self, con: Any) -> None:
        present = self.columns_of(con, self.table)
        # origin_id arrived with ejabberd 23.10's schema; before it the stanza id is all there is
        self.select = ", ".join(c if c in present else f"NULL AS {c}" for c in ARCHIVE_COLUMNS)

    def unit_facts(self) -> dict[str, Any]:
        return {"host": self.options.host.lower()}  # type: ignore[attr-defined]

    def batch_members(self, cur: Any, where: str, params: tuple[Any, ...]) -> list[tuple[str, pa.Table | bytes]]:
        # `id` has no index upstream (a BIGSERIAL without a key): one pass for the batch; the context
        # is found through the batch's first id and instant (i_timestamp).
        rows = self.copy_table(cur, f"SELECT {self.select} FROM archive WHERE {where} ORDER BY id", params)
        keys = rows
        if keys.num_rows == 0:
            return [("archive", rows)]
        first_id, first_ts = pc.min(keys.column("id")).as_py(), pc.min(keys.column("timestamp")).as_py()
        context = self.copy_table(
            cur,
            f"SELECT {self.select} FROM archive WHERE timestamp >= %s AND id < %s ORDER BY id",
            (first_ts - CONTEXT_MICROS, first_id),
        )
        return [("archive", rows), ("context", context)]
