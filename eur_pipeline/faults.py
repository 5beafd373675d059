"""Crash-test hook: ``EUR_FAULT_INJECT=point[@N]`` SIGKILLs this process the N-th time (default 1st)
it reaches the named point. Inert (one dict lookup) unless the variable is set; used only by the
reliability tests to kill the collector at exact stages.

Points: ``download`` (first block written to the temporary file), ``before_commit`` (file
downloaded and backed up, nothing loaded yet), ``mid_load`` (first batch inserted, transaction
open), ``before_complete`` (committed, remote delete/move not yet done), ``transform:<stage>``
(a transform's SQL ran, its transaction not committed).
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "EUR_FAULT_INJECT"
_hits: dict[str, int] = {}


def fault_point(name: str) -> None:
    """SIGKILL the process when ``$EUR_FAULT_INJECT`` names this point (and its hit count)."""
    spec = os.environ.get(ENV_VAR)
    if not spec:
        return
    point, _, nth = spec.partition("@")
    if point != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
