"""The ``mail:`` block of eur.yaml: the SMTP server and who receives which scope's monthly report.

Pure pydantic, like the rest of the model. The password is a ``SecretStr`` (read from the environment
through ``${VAR}``), so it never shows in a repr, a log line or an exception.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

ScopeKind = Literal["all", "department", "cost_center", "site"]

_ADDRESS = r"^[^@\s<>,;]+@[^@\s<>,;]+$"


class MailRecipient(BaseModel):
    """One entry of ``mail.recipients``: the report of one scope, to one or more addresses."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: ScopeKind
    name: str | None = None  # the department, cost center or site (as billed); none for scope: all
    to: tuple[str, ...] = Field(min_length=1)

    @field_validator("to")
    @classmethod
    def _addresses(cls, to: tuple[str, ...]) -> tuple[str, ...]:
        for address in to:
            if not re.fullmatch(_ADDRESS, address):
                raise ValueError(f"not a mail address: {address!r}")
        return to

    @model_validator(mode="after")
    def _name_matches_scope(self) -> MailRecipient:
        if self.scope == "all" and self.name is not None:
            raise ValueError("scope: all takes no name")
        if self.scope != "all" and not self.name:
            raise ValueError(f"scope: {self.scope} needs a name (the {self.scope.replace('_', ' ')} as billed)")
        return self


class MailConfig(BaseModel):
    """SMTP settings and recipients; ``schedule`` is a cron in eur.yaml's ``timezone``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = False
    ca_file: Path | None = None  # CA bundle the server's certificate is checked against (default: the system's)
    username: str | None = None
    password: SecretStr | None = None
    sender: str = "IM chargeback <chargeback@localhost>"
    schedule: str = "0 7 2 * *"
    timeout_seconds: float = Field(default=30, gt=0, le=600)
    recipients: tuple[MailRecipient, ...] = ()

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(f"must be a 5-field cron expression such as '0 7 2 * *', not {value!r}")
        return value

    @field_validator("password", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _login_needs_password(self) -> MailConfig:
        if self.username and self.password is None:
            raise ValueError("username is set but password is empty (set it through ${EUR_SMTP_PASSWORD})")
        return self

    @property
    def server(self) -> str:
        """``host:port``: how every delivery error names the server."""
        return f"{self.smtp_host}:{self.smtp_port}"
