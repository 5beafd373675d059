"""How a configuration error reads: one path style everywhere (``sources[0].host``), one line, and a
"did you mean" for a misspelt key. Pure: the model, the loader and the plugin registries all use it."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError


def key_path(loc: Iterable[str | int], prefix: str = "") -> str:
    """``("sources", 0, "host")`` → ``sources[0].host`` (after ``prefix``, itself a path)."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean 'warehouse'?)`` when a known key is close to ``word``, else ''."""
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, typing.Union, types.UnionType, Sequence, dict):
        for arg in typing.get_args(annotation):
            if (found := _model_in(arg)) is not None:
                return found
    return None


def _keys_at(model: type[BaseModel] | None, loc: Sequence[str | int]) -> set[str]:
    """The keys the model accepts at ``loc`` (the location of the unknown key's parent)."""
    for part in loc:
        if model is None:
            return set()
        if isinstance(part, str):
            field = model.model_fields.get(part)
            model = _model_in(field.annotation) if field else None
    return set(model.model_fields) if model else set()


def validation_message(
    exc: ValidationError, model: type[BaseModel] | None = None, prefix: str = "", also_known: Iterable[str] = ()
) -> str:
    """The first error of ``exc`` as ``path: reason`` (+ how many more); an unknown key gets a
    suggestion from the keys ``model`` accepts there (and ``also_known``)."""
    # a misspelt key also makes the key it meant "missing": name the misspelling first
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    loc = list(err["loc"])
    reason = str(err["msg"])
    if err["type"] == "extra_forbidden" and loc:
        known = _keys_at(model, loc[:-1]) | set(also_known)
        reason = "unknown key" + did_you_mean(str(loc[-1]), known)
    elif reason.startswith("Value error, "):
        reason = reason.removeprefix("Value error, ")
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{key_path(loc, prefix)}: {reason[:1].lower() + reason[1:]}{more}"
