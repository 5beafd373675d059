-- ejabberd mod_mam rows → message records. Members registered as tables: archive (the batch) and
-- context (earlier rows of the second before the batch, only to fold copies against). $host is the
-- XMPP domain of the archive owners.
--  * kind 'chat' (or NULL in old schemas): the owner is username@host; the stanza's from decides the
--    direction (OUT when it is the owner). sender = from, recipient = the other party. Body = txt, else
--    the stanza's <body>; thread = the stanza's <thread> (else the no-thread rule downstream).
--    Each message is stored in the sender's and in the recipient's archive: the later copy (higher id)
--    of the same sender, recipient and body — same origin_id when both have one, else instants within
--    one second — takes the earlier copy's instant, so the two fold into one logical message.
--  * MucSub copies of room messages (in a user's archive, wrapped in a mucsub event) are skipped:
--    the room's own archive has the message.
--  * kind 'groupchat': the owner (username) is the room's JID; peer is the real sender. The room JID
--    is never a party: the record goes to the sender alone (counted as sent), and the conversation
--    is one per room and UTC day: 'ejabberd-room:<room>:<YYYY-MM-DD>'.
--  * rows without a body (chat states, receipts) are skipped; rows whose xml is not XML
--    (mod_mam's compress_xml) are rejected with the reason.
-- Macros unesc / jid_resource: sql/formats/xml_text_macros.sql.
WITH src AS (
    SELECT *, false AS ctx FROM archive
    UNION ALL BY NAME
    SELECT *, true AS ctx FROM context
),
p AS (
    SELECT id, ctx, coalesce(kind, 'chat') AS kind, lower(trim(username)) AS username, "timestamp" AS ts,
           lower(trim(bare_peer)) AS bare_peer, lower(trim(peer)) AS peer, nick, txt, xml,
           starts_with(ltrim(xml), '<') AS is_xml,
           unesc(regexp_extract(xml, '^\s*<message\b[^>]*?\sfrom=["'']([^"'']*)["'']', 1)) AS from_attr,
           unesc(regexp_extract(xml, '^\s*<message\b[^>]*?\sto=["'']([^"'']*)["'']', 1)) AS to_attr,
           nullif(unesc(regexp_extract(xml, '^\s*<message\b[^>]*?\sid=["'']([^"'']*)["'']', 1)), '') AS stanza_id,
           nullif(trim(unesc(regexp_extract(xml, '<thread\b[^>]*>([^<]*)</thread>', 1))), '') AS thread,
           unesc(regexp_extract(xml, '<body\b[^>]*>([^<]*)</body>', 1)) AS stanza_body,
           regexp_matches(xml, '<body\b') AS has_body,
           lower(unesc(regexp_extract(xml, '<item\b[^>]*?\sjid=["'']([^"'']*)["'']', 1))) AS item_jid,
           xml LIKE '%urn:xmpp:mucsub:nodes:%' AS mucsub,
           nullif(origin_id, '') AS origin_id
    FROM src
),
rows AS (
    SELECT *,
           coalesce(origin_id, stanza_id) AS oid,
           CASE WHEN kind = 'groupchat' THEN CASE WHEN contains(username, '@') THEN username ELSE username || '@' || $host END END AS room,
           username || '@' || $host AS owner,
           lower(trim(split_part(from_attr, '/', 1))) AS from_bare,
           CASE WHEN nullif(txt, '') IS NOT NULL THEN txt WHEN has_body THEN stanza_body END AS body
    FROM p
    WHERE NOT mucsub
),
classified AS (
    SELECT id, ctx, kind, username, ts, oid, room, xml, txt,
           CASE WHEN kind = 'groupchat' THEN NULL WHEN from_bare = owner THEN 'OUT' ELSE 'IN' END AS direction,
           CASE WHEN kind = 'groupchat' THEN coalesce(nullif(CASE WHEN bare_peer <> room THEN bare_peer END, ''),
                                                     nullif(split_part(item_jid, '/', 1), ''))
                ELSE from_bare END AS sender,
           CASE WHEN kind = 'groupchat' THEN CASE WHEN bare_peer <> room THEN jid_resource(peer) END
                ELSE jid_resource(from_attr) END AS sender_resource,
           CASE WHEN kind = 'groupchat' THEN NULL WHEN from_bare = owner THEN bare_peer ELSE owner END AS recipient,
           CASE WHEN kind = 'groupchat' THEN NULL WHEN from_bare = owner THEN jid_resource(peer) ELSE jid_resource(to_attr) END
               AS recipient_resource,
           CASE WHEN kind = 'groupchat' THEN 'ejabberd-room:' || room || ':' || strftime(make_timestamp(ts), '%Y-%m-%d')
                ELSE thread END AS thread_id,
           body, nick,
           CASE WHEN NOT is_xml THEN 'xml is not XML (stored with mod_mam compress_xml?); cannot tell the sender'
                WHEN kind NOT IN ('chat', 'groupchat') THEN 'unknown kind ' || kind
                WHEN kind = 'chat' AND from_bare = '' THEN 'stanza has no from'
                WHEN kind = 'groupchat' AND coalesce(CASE WHEN bare_peer <> room THEN bare_peer END, nullif(item_jid, '')) IS NULL
                    THEN 'room message without a known sender'
           END AS reason
    FROM rows
    WHERE body IS NOT NULL OR NOT is_xml
),
chat AS (SELECT * FROM classified WHERE kind = 'chat' AND reason IS NULL),
pair AS (
    SELECT a.id, arg_min(b.ts, b.id) AS partner_ts
    FROM chat a JOIN chat b
      ON b.id < a.id AND b.sender = a.sender AND b.recipient = a.recipient AND b.body = a.body
     AND b.username <> a.username
     AND (CASE WHEN a.oid IS NOT NULL AND b.oid IS NOT NULL THEN a.oid = b.oid ELSE abs(a.ts - b.ts) <= 1000000 END)
    WHERE NOT a.ctx
    GROUP BY a.id
)
SELECT row_number() OVER (ORDER BY c.id) AS record_no,
       c.direction,
       coalesce(pair.partner_ts, c.ts) AS sent_us,
       c.thread_id,
       coalesce(c.sender, '') AS sender, c.sender_resource,
       coalesce(CASE WHEN c.kind = 'groupchat' THEN c.sender ELSE c.recipient END, '') AS recipient,
       c.recipient_resource,
       c.body,
       CASE WHEN c.kind = 'groupchat' THEN json_object('id', c.id, 'room', c.room, 'nick', c.nick)
            ELSE json_object('id', c.id, 'archive', c.username, 'origin_id', c.oid) END::VARCHAR AS extra,
       c.reason,
       json_object('id', c.id, 'kind', c.kind, 'archive', c.username)::VARCHAR AS raw
FROM classified c LEFT JOIN pair USING (id)
WHERE NOT c.ctx
ORDER BY c.id;
