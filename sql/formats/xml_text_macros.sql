-- Text helpers for stanzas stored as XML text (attribute values and simple element text).
CREATE MACRO unesc(s) AS replace(replace(replace(replace(replace(s, '&lt;', '<'), '&gt;', '>'), '&quot;', '"'),
                                  '&apos;', ''''), '&amp;', '&');
CREATE MACRO jid_resource(s) AS CASE WHEN strpos(s, '/') > 0 THEN nullif(substr(s, strpos(s, '/') + 1), '') END;
