"""The ``privacy:`` and ``retention:`` blocks of eur.yaml (pure pydantic, no I/O)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

BodyMode = Literal["keep", "hash", "drop"]


class PrivacyConfig(BaseModel):
    """What the warehouse stores of a message body: the text (``keep``), ``sha256:<hex>`` (``hash``)
    or nothing (``drop``). Billing is the same in every mode."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bodies: BodyMode = "keep"


class RetentionConfig(BaseModel):
    """Days to keep each kind of data (0 = forever); a legal hold exempts what it covers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bodies_days: int = Field(default=0, ge=0)
    records_days: int = Field(default=0, ge=0)
    landing_days: int = Field(default=0, ge=0)
