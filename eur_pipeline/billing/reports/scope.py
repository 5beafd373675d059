"""Report scopes: the whole organisation, or one department, cost center or site (as the report labels
it, e.g. ``(no department)``). A scoped report shows only the users billed in that scope."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ScopeKind = Literal["all", "department", "cost_center", "site"]
KIND_LABEL = {"all": "all users", "department": "department", "cost_center": "cost center", "site": "site"}


@dataclass(frozen=True, slots=True, order=True)
class Scope:
    """Which users a report covers; the SQL macros ``billing_in_scope`` & co. take ``params``."""

    kind: ScopeKind = "all"
    name: str | None = None

    @property
    def is_all(self) -> bool:
        return self.kind == "all"

    @property
    def label(self) -> str:
        """How a page or a subject names the scope: ``Engineering (department)``."""
        if self.is_all:
            return "all users"
        name = self.name or ""
        return name if name.startswith("(") else f"{name} ({KIND_LABEL[self.kind]})"  # "(no site)" says it

    @property
    def slug(self) -> str:
        """A file-name-safe, readable key: ``department-engineering`` (plus a digest when lossy)."""
        if self.is_all:
            return "all"
        text = re.sub(r"[^a-z0-9]+", "-", (self.name or "").lower()).strip("-") or "unnamed"
        return f"{self.kind.replace('_', '-')}-{text}"

    @property
    def params(self) -> dict[str, str | None]:
        return {"scope_kind": self.kind, "scope_name": self.name}


ALL = Scope()
