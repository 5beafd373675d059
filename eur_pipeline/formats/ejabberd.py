"""``ejabberd``: a batch of ejabberd's mod_mam ``archive`` table (written by ``kind: ejabberd``).

The mapping is ``sql/formats/ejabberd_records.sql``: the direction comes from the stanza's ``from``,
the sender's and the recipient's copies of one message fold into one logical message, room
messages never make the room a party.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pyarrow as pa

from eur_pipeline.errors import QuarantineError
from eur_pipeline.formats.base import ParseResult
from eur_pipeline.formats.database_batch import emit, read_unit, run_mapping
from eur_pipeline.warehouse.sql_files import read_sql

TYPES = {"id": pa.int64(), "timestamp": pa.int64()}
MEMBERS = {"archive": TYPES, "context": TYPES}


class EjabberdFormat:
    name: ClassVar[str] = "ejabberd"

    def parse(self, path: Path, result: ParseResult, batch_size: int = 50_000) -> Iterator[pa.RecordBatch]:
        unit, tables = read_unit(path, "ejabberd", MEMBERS)
        host = unit.get("host")
        if tables["archive"] is None or not isinstance(host, str) or not host:
            raise QuarantineError("ejabberd batch lacks its archive member or the owners' host")
        if tables["context"] is None:
            tables["context"] = tables["archive"].slice(0, 0)
        mapped = run_mapping(
            tables,
            read_sql("formats/ejabberd_records.sql"),
            {"host": host},
            setup=read_sql("formats/xml_text_macros.sql"),
        )
        yield from emit(mapped, result, batch_size)
