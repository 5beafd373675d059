"""``kind: openfire``: the Openfire Monitoring plugin's archive (``ofMessageArchive``) on PostgreSQL.

Read by ``messageID`` (rows without one, written before the plugin numbered messages, cannot be
read incrementally and are left alone). Each batch also carries the ``ofConversation`` rows of its
conversations (which are rooms) and their ``ofConParticipant`` rows (who was in the room when), in
the same snapshot: the ``openfire`` format needs them to address room messages.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from eur_pipeline.sources.database import DatabaseSource

MESSAGE_COLUMNS = (
    "messageID",
    "conversationID",
    "fromJID",
    "fromJIDResource",
    "toJID",
    "toJIDResource",
    "sentDate",
    "body",
    "isPMforJID",
)


class OpenfireSource(DatabaseSource):
    kind: ClassVar[str] = "openfire"
    default_format: ClassVar[str] = "openfire"
    table: ClassVar[str] = "ofMessageArchive"
    id_column: ClassVar[str] = "messageID"
    int_columns: ClassVar[frozenset[str]] = frozenset(
        {"messageid", "conversationid", "sentdate", "isexternal", "startdate", "lastactivity", "joineddate", "leftdate"}
    )

    def inspect(self, con: Any) -> None:
        present = self.columns_of(con, self.table)
        self.columns_of(con, "ofConversation")
        self.has_participants = "ofconparticipant" in {t.lower() for t in self._tables(con)}
        # isPMforJID came with monitoring schema 8; older archives have no private-message marker
        self.select = ", ".join(c if c.lower() in present else f"NULL AS {c}" for c in MESSAGE_COLUMNS)
        self.has_pm = "ispmforjid" in present

    def _tables(self, con: Any) -> list[str]:
        with con.cursor() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ANY(current_schemas(false))"
            )
            names = [r[0] for r in cur.fetchall()]
        con.rollback()
        return names

    def batch_members(self, cur: Any, where: str, params: tuple[Any, ...]) -> list[tuple[str, pa.Table | bytes]]:
        # One pass over ofMessageArchive (no index on messageID upstream: each pass is a scan); the
        # other members are found by the batch's own conversation ids and instants (indexed).
        messages = self.copy_table(
            cur, f"SELECT {self.select} FROM ofMessageArchive WHERE {where} ORDER BY messageID", params
        )
        keys = messages
        conversation_ids = pc.unique(keys.column("conversationid")).to_pylist()
        conversations = self.copy_table(
            cur,
            "SELECT conversationID, room, isExternal, startDate, lastActivity FROM ofConversation "
            "WHERE conversationID = ANY(%s) ORDER BY conversationID",
            (conversation_ids,),
        )
        members = [("ofMessageArchive", messages), ("ofConversation", conversations)]
        if self.has_participants:
            participants = self.copy_table(
                cur,
                "SELECT conversationID, joinedDate, leftDate, bareJID, jidResource, nickname FROM ofConParticipant "
                "WHERE conversationID = ANY(%s) ORDER BY conversationID, joinedDate, bareJID, jidResource, leftDate",
                (conversation_ids,),
            )
            members.append(("ofConParticipant", participants))
        if self.has_pm:
            # room PMs at the instants of this batch's rows, wherever their batch: the personal-archive
            # copy of a PM (PMinPersonalArchive) is dropped against them even when the two straddle batches
            instants = pc.unique(keys.column("sentdate")).to_pylist()
            pm_context = self.copy_table(
                cur,
                f"SELECT {self.select} FROM ofMessageArchive WHERE isPMforJID IS NOT NULL AND sentDate = ANY(%s) "
                "ORDER BY messageID",
                (instants,),
            )
            members.append(("pmContext", pm_context))
        return members
