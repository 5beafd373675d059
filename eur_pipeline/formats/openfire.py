"""``openfire``: a batch of the Openfire Monitoring plugin's archive (written by ``kind: openfire``).

The mapping is ``sql/formats/openfire_records.sql``: one record per delivery; a room message goes to
the participants present at its instant (``ofConParticipant``), a private message in a room to its
one recipient, and the room JID is never a party.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pyarrow as pa

from eur_pipeline.formats.base import ParseResult
from eur_pipeline.formats.database_batch import emit, read_unit, run_mapping
from eur_pipeline.warehouse.sql_files import read_sql

I64 = pa.int64()
MEMBERS = {
    "ofMessageArchive": {"messageid": I64, "conversationid": I64, "sentdate": I64},
    "ofConversation": {"conversationid": I64, "isexternal": I64, "startdate": I64, "lastactivity": I64},
    "ofConParticipant": {"conversationid": I64, "joineddate": I64, "leftdate": I64},
    "pmContext": {"messageid": I64, "conversationid": I64, "sentdate": I64},
}
_EMPTY_PARTICIPANTS = pa.table(
    {
        "conversationid": pa.array([], I64),
        "joineddate": pa.array([], I64),
        "leftdate": pa.array([], I64),
        "barejid": pa.array([], pa.string()),
        "jidresource": pa.array([], pa.string()),
        "nickname": pa.array([], pa.string()),
    }
)


class OpenfireFormat:
    name: ClassVar[str] = "openfire"

    def parse(self, path: Path, result: ParseResult, batch_size: int = 50_000) -> Iterator[pa.RecordBatch]:
        _, tables = read_unit(path, "openfire", MEMBERS)
        if tables["ofMessageArchive"] is None or tables["ofConversation"] is None:
            from eur_pipeline.errors import QuarantineError

            raise QuarantineError("openfire batch lacks its ofMessageArchive or ofConversation member")
        if tables["ofConParticipant"] is None:  # metadata archiving off: nobody is known present
            tables["ofConParticipant"] = _EMPTY_PARTICIPANTS
        if tables["pmContext"] is None:
            tables["pmContext"] = tables["ofMessageArchive"].slice(0, 0)
        mapped = run_mapping(tables, read_sql("formats/openfire_records.sql"), {})
        yield from emit(mapped, result, batch_size)
