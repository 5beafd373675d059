"""``kind: ejabberd``: ejabberd's mod_mam SQL archive (table ``archive``) on PostgreSQL.

Read by ``id`` (BIGSERIAL). Each stored message is in the sender's archive and in the recipient's,
as two rows a moment apart; so that the ``ejabberd`` format can fold a copy whose partner was
loaded by the previous batch, each batch also carries, as context, the earlier rows of the second
before its first instant (context rows are matched against, never loaded again).
"""

from __future__ import annotations

from typing import Any, ClassVar

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

    def inspect(self, con: Any) -> None:
        present = self.columns_of(con, self.table)
        # origin_id arrived with ejabberd 23.10's schema; before it the stanza id is all there is
        self.select = ", ".join(c if c in present else f"NULL AS {c}" for c in ARCHIVE_COLUMNS)

    def unit_facts(self) -> dict[str, Any]:
        return {"host": self.options.host.lower()}  # type: ignore[attr-defined]

    def batch_members(self, cur: Any, where: str, params: tuple[Any, ...]) -> list[tuple[str, bytes]]:
        rows = self.copy_csv(cur, f"SELECT {self.select} FROM archive WHERE {where} ORDER BY id", params)
        context = self.copy_csv(
            cur,
            f"SELECT {self.select} FROM archive WHERE id < (SELECT min(id) FROM archive WHERE {where}) "
            f"AND timestamp >= (SELECT min(timestamp) FROM archive WHERE {where}) - {CONTEXT_MICROS} "
            "ORDER BY id",
            params * 2,
        )
        return [("archive.csv", rows), ("context.csv", context)]
