"""The canonical batch file of a database source: a unit that is not of the format's kind is a
quarantine reason, the same whether read from the landed copy or mapped ahead by the source."""

from __future__ import annotations

from pathlib import Path

import pytest

from eur_pipeline.errors import QuarantineError
from eur_pipeline.formats.base import ParseResult
from eur_pipeline.formats.openfire import OpenfireFormat
from eur_pipeline.sources.database import UNIT_MEMBER, canonical_zip


@pytest.mark.parametrize(
    ("unit", "shown"), [(b'{"kind": "ejabberd"}', "'ejabberd'"), (b'["openfire"]', "None")], ids=["other", "a-list"]
)
def test_a_unit_of_another_kind_is_quarantined_from_the_file_and_ahead(tmp_path: Path, unit: bytes, shown: str) -> None:
    path = tmp_path / "batch"
    path.write_bytes(canonical_zip([(UNIT_MEMBER, unit)]))
    reason = f"not a openfire batch (unit kind {shown})"
    with pytest.raises(QuarantineError) as from_file:
        list(OpenfireFormat().parse(path, ParseResult()))
    assert str(from_file.value) == reason
    if unit.startswith(b"{"):
        with pytest.raises(QuarantineError) as ahead:
            OpenfireFormat().map_batch({"kind": "ejabberd"}, {})
        assert str(ahead.value) == reason
