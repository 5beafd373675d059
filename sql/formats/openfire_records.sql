-- Openfire Monitoring plugin rows → message records (one per delivery). Members registered as
-- tables: ofMessageArchive, ofConversation, ofConParticipant (absent without metadata archiving).
--  * 1:1 conversation (no room): fromJID → toJID.
--  * room message (room set, isPMforJID NULL): to every participant present at sentDate (joined at or
--    before, not yet left), minus the sender; nobody known present → a record to the sender alone
--    (the message counts as sent, with no recipient). The room JID is never a party.
--  * private message in a room (isPMforJID set): to that JID alone.
--  * the personal-archive copy of a room PM (PMinPersonalArchive: same parties, instant and body
--    in a 1:1 conversation) is the same message and is dropped.
-- thread_id = 'openfire:<conversationID>'; sentDate is epoch milliseconds.
WITH conv AS (
    SELECT conversationid, nullif(trim(room), '') AS room FROM ofConversation
),
msg AS MATERIALIZED (
    SELECT m.messageid, m.conversationid,
           lower(trim(split_part(m.fromjid, '/', 1))) AS sender, m.fromjidresource AS sender_resource,
           lower(trim(split_part(m.tojid, '/', 1))) AS to_bare, m.tojidresource,
           m.sentdate, m.body, lower(trim(nullif(m.ispmforjid, ''))) AS pm_for,
           c.conversationid IS NULL AS unknown_conversation, lower(c.room) AS room
    FROM ofMessageArchive m LEFT JOIN conv c USING (conversationid)
),
present AS MATERIALIZED (
    SELECT m.messageid, lower(trim(p.barejid)) AS recipient, min(nullif(p.jidresource, ' ')) AS recipient_resource
    FROM msg m JOIN ofConParticipant p
      ON p.conversationid = m.conversationid AND p.joineddate <= m.sentdate
     AND (p.leftdate IS NULL OR p.leftdate > m.sentdate)
    WHERE m.room IS NOT NULL AND m.pm_for IS NULL AND lower(trim(p.barejid)) <> m.sender
    GROUP BY m.messageid, lower(trim(p.barejid))
),
room_pm AS (
    SELECT sender, pm_for, sentdate, body FROM msg WHERE room IS NOT NULL AND pm_for IS NOT NULL
    UNION ALL
    SELECT lower(trim(split_part(fromjid, '/', 1))), lower(trim(ispmforjid)), sentdate, body FROM pmContext
),
delivery AS (
    -- 1:1 chats, minus personal-archive copies of room PMs
    SELECT m.*, m.to_bare AS recipient, m.tojidresource AS recipient_resource, NULL::VARCHAR AS reason
    FROM msg m
    WHERE NOT m.unknown_conversation AND m.room IS NULL
      AND NOT EXISTS (SELECT 1 FROM room_pm r WHERE r.sentdate = m.sentdate AND r.body IS NOT DISTINCT FROM m.body
                      AND ((r.sender = m.sender AND r.pm_for = m.to_bare) OR (r.sender = m.to_bare AND r.pm_for = m.sender)))
    UNION ALL
    -- private messages in rooms
    SELECT m.*, m.pm_for, NULL, NULL FROM msg m WHERE m.room IS NOT NULL AND m.pm_for IS NOT NULL
    UNION ALL
    -- room messages to those present
    SELECT m.*, p.recipient, p.recipient_resource, NULL
    FROM msg m JOIN present p USING (messageid)
    UNION ALL
    SELECT m.*, m.sender, NULL, NULL
    FROM msg m
    WHERE m.room IS NOT NULL AND m.pm_for IS NULL AND NOT EXISTS (SELECT 1 FROM present p WHERE p.messageid = m.messageid)
    UNION ALL
    SELECT m.*, m.to_bare, m.tojidresource,
           CASE WHEN m.unknown_conversation THEN 'conversation ' || m.conversationid || ' is not in ofConversation' END
    FROM msg m WHERE m.unknown_conversation
)
SELECT row_number() OVER (ORDER BY messageid, recipient) AS record_no,
       NULL::VARCHAR AS direction,
       sentdate * 1000 AS sent_us,
       'openfire:' || conversationid AS thread_id,
       sender, nullif(sender_resource, '') AS sender_resource,
       recipient, nullif(recipient_resource, '') AS recipient_resource,
       body,
       CASE WHEN room IS NULL THEN '{"messageID":' || messageid || '}'
            ELSE '{"messageID":' || messageid || ',"room":' || to_json(room) || ',"nickname":' || coalesce(to_json(tojidresource)::VARCHAR, 'null') || '}'
       END AS extra,
       CASE WHEN reason IS NOT NULL THEN reason
            WHEN coalesce(sender, '') = '' THEN 'missing fromJID'
            WHEN coalesce(recipient, '') = '' THEN 'missing toJID' END AS reason,
       '{"messageID":' || messageid || ',"conversationID":' || conversationid || '}' AS raw
FROM delivery
ORDER BY record_no;
