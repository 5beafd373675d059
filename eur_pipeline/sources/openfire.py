"""``kind: openfire``: the Openfire Monitoring plugin's archive (``ofMessageArchive``) on PostgreSQL.

Read by ``messageID`` (rows without one, written before the plugin numbered messages, cannot be
read incrementally and are left alone). Each batch also carries the ``ofConversation`` rows of its
conversations (which are rooms) and their ``ofConParticipant`` rows (who was in the room when), in
the same snapshot: the ``openfire`` format needs them to address room messages.
"""

from __future__ import annotations

from typing import Any, ClassVar

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

    def inspect(self, con: Any) -> None:
        present = self.columns_of(con, self.table)
        self.columns_of(con, "ofConversation")
        self.has_participants = "ofconparticipant" in {t.lower() for t in self._tables(con)}
        # isPMforJID came with monitoring schema 8; older archives have no private-message marker
        self.select = ", ".join(c if c.lower() in present else f"NULL AS {c}" for c in MESSAGE_COLUMNS)
        self.has_pm = "ispmforjid" in present

    def _tables(self, con: Any) -> list[str]:
        with con.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = ANY(current_schemas(false))")
            names = [r[0] for r in cur.fetchall()]
        con.rollback()
        return names

    def batch_members(self, cur: Any, where: str, params: tuple[Any, ...]) -> list[tuple[str, bytes]]:
        messages = self.copy_csv(
            cur, f"SELECT {self.select} FROM ofMessageArchive WHERE {where} ORDER BY messageID", params
        )
        conversations_of_batch = f"SELECT DISTINCT conversationID FROM ofMessageArchive WHERE {where}"
        conversations = self.copy_csv(
            cur,
            "SELECT conversationID, room, isExternal, startDate, lastActivity FROM ofConversation "
            f"WHERE conversationID IN ({conversations_of_batch}) ORDER BY conversationID",
            params,
        )
        # room PMs at the instants of this batch's rows, wherever their batch: the personal-archive
        # copy of a PM (PMinPersonalArchive) is dropped against them even when the two straddle batches
        pm_context = self.copy_csv(
            cur,
            f"SELECT {self.select} FROM ofMessageArchive WHERE isPMforJID IS NOT NULL AND sentDate IN "
            f"(SELECT sentDate FROM ofMessageArchive WHERE {where}) ORDER BY messageID",
            params,
        ) if self.has_pm else None
        members = [("ofMessageArchive.csv", messages), ("ofConversation.csv", conversations)]
        if pm_context is not None:
            members.append(("pmContext.csv", pm_context))
        if self.has_participants:
            participants = self.copy_csv(
                cur,
                "SELECT conversationID, joinedDate, leftDate, bareJID, jidResource, nickname FROM ofConParticipant "
                f"WHERE conversationID IN ({conversations_of_batch}) "
                "ORDER BY conversationID, joinedDate, bareJID, jidResource, leftDate",
                params,
            )
            members.append(("ofConParticipant.csv", participants))
        return members
