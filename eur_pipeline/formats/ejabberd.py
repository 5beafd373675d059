"""``ejabberd``: a batch of ejabberd's mod_mam ``archive`` table (written by ``kind: ejabberd``).

The mapping is ``sql/formats/ejabberd_records.sql``: the direction comes from the stanza's ``from``,
the sender's and the recipient's copies of one message fold into one logical message, room
messages never make the room a party.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pyarrow as pa

from eur_pipeline.errors import QuarantineError
from eur_pipeline.formats.database_batch import DatabaseBatchFormat, run_mapping
from eur_pipeline.warehouse.sql_files import read_sql

TYPES = {"id": pa.int64(), "timestamp": pa.int64()}
MEMBERS = {"archive": TYPES, "context": TYPES}


class EjabberdFormat(DatabaseBatchFormat):
    name: ClassVar[str] = "ejabberd"
    members: ClassVar[dict[str, dict[str, pa.DataType]]] = MEMBERS

    def map_members(self, unit: dict[str, Any], tables: Mapping[str, pa.Table | None]) -> pa.Table:
        """The batch's records (and rejects, with a reason) from its members: pure, so the source can
        map a batch ahead while the previous one loads."""
        tables = {name: tables.get(name) for name in MEMBERS}
        host = unit.get("host")
        if tables["archive"] is None or not isinstance(host, str) or not host:
            raise QuarantineError("ejabberd batch lacks its archive member or the owners' host")
        if tables["context"] is None:
            tables["context"] = tables["archive"].slice(0, 0)
        return run_mapping(
            tables,
            read_sql("formats/ejabberd_records.sql"),
            {"host": host},
            setup=read_sql("formats/xml_text_macros.sql"),
        )
