"""Writing Avaya Presence Services archives (for ``generate``, the demo and tests): the inverse of
``formats.avaya_presence``, kept apart from the product's parser plugin."""

from __future__ import annotations


def cdata(text: str) -> str:
    """Body text as CDATA that parses back exactly: ``]]>`` split across sections, CR as ``&#13;``
    (XML parsers normalise a literal CR to LF)."""
    pieces = []
    for i, part in enumerate(text.split("\r")):
        if i:
            pieces.append("&#13;")
        if part:
            pieces.append("<![CDATA[" + part.replace("]]>", "]]]]><![CDATA[>") + "]]>")
    return "".join(pieces)


def render_record(direction: str, timestamp: str, thread_id: str, sender: str, recipient: str, body: str) -> str:
    """One ``<message>`` element as Presence Services writes it (JIDs and ids are plain text)."""
    return (
        f'  <message direction="{direction}">\n'
        f"    <timestamp>{timestamp}</timestamp>\n"
        f"    <threadId>{_escape(thread_id)}</threadId>\n"
        f"    <sender>{_escape(sender)}</sender>\n"
        f"    <recipient>{_escape(recipient)}</recipient>\n"
        f"    <body>{cdata(body)}</body>\n"
        f"  </message>\n"
    )


ARCHIVE_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<messages>\n'
ARCHIVE_TAIL = "</messages>\n"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
