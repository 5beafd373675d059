"""``openfire``: a batch of the Openfire Monitoring plugin's archive (written by ``kind: openfire``).

The mapping is ``sql/formats/openfire_records.sql``: one record per delivery; a room message goes to
the participants present at its instant (``ofConParticipant``), a private message in a room to its
one recipient, and the room JID is never a party.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pyarrow as pa

from eur_pipeline.formats.database_batch import DatabaseBatchFormat, run_mapping
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


class OpenfireFormat(DatabaseBatchFormat):
    name: ClassVar[str] = "openfire"
    members: ClassVar[dict[str, dict[str, pa.DataType]]] = MEMBERS

    def map_members(self, unit: dict[str, Any], tables: Mapping[str, pa.Table | None]) -> pa.Table:
        """The batch's records (and rejects, with a reason) from its members: pure, so the source can
        map a batch ahead while the previous one loads."""
        tables = {name: tables.get(name) for name in MEMBERS}
        if tables["ofMessageArchive"] is None or tables["ofConversation"] is None:
            from eur_pipeline.errors import QuarantineError

            raise QuarantineError("openfire batch lacks its ofMessageArchive or ofConversation member")
        if tables["ofConParticipant"] is None:  # metadata archiving off: nobody is known present
            tables["ofConParticipant"] = _EMPTY_PARTICIPANTS
        if tables["pmContext"] is None:
            tables["pmContext"] = tables["ofMessageArchive"].slice(0, 0)
        return run_mapping(tables, read_sql("formats/openfire_records.sql"), {})
