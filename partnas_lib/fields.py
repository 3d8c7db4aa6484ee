"""Nested dataclasses as config trees: read one from JSON, address a field by its dotted
name, and turn command-line text into a field's type.

Generic helpers (nothing here knows partnas's config); :mod:`partnas_lib.config` builds
``Config.from_dict`` and ``apply_overrides`` (``--set section.field=value``) on them.  Every
error names the field and what was expected.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any


def get_path(cfg: Any, dotted: str) -> Any:
    """``cfg.a.b.c`` for ``dotted="a.b.c"``."""
    obj = cfg
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def coerce_text(value: str, annotation: Any, name: str) -> Any:
    """Turn the text of ``--set name=value`` into the field's type."""
    origin = typing.get_origin(annotation)
    try:
        if annotation is bool:
            low = value.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if annotation is int:
            return int(value)
        if annotation is float:
            return float(value)
        if annotation is str:
            return value
        if origin is list:
            parsed = json.loads(value) if value.strip().startswith("[") else [
                v for v in value.split(",") if v.strip()]
            inner = typing.get_args(annotation)[0]
            return [coerce_text(str(v), inner, name) for v in parsed]
        # Any: JSON if it parses (dicts for custom part groupings), else the raw string
        try:
            parsed = json.loads(value)
            return parsed if isinstance(parsed, (dict, list)) else value
        except json.JSONDecodeError:
            return value
    except (ValueError, json.JSONDecodeError):
        raise ValueError(f"--set {name}={value!r}: cannot read {value!r} as {annotation}") from None


def from_dict(cls: type, data: Any, where: str) -> Any:
    """An instance of dataclass ``cls`` from a JSON object, nested dataclasses recursively;
    unknown fields are an error naming ``where`` (the file and the path inside it)."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a JSON object for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown} in {cls.__name__}; known: {sorted(names)}")
    kwargs = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = from_dict(hint, value, f"{where}.{key}")
        else:
            kwargs[key] = value
    return cls(**kwargs)
