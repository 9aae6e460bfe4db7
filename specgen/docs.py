"""Documentation generated from the registries, so the README cannot drift from the code.

`layer_table` renders the layer types (`specgen.layers.LAYER_TYPES`) and `codes_table`
the diagnostic codes (`specgen.diagnostics.CODES`); tests/test_docs.py and
tests/test_registry.py keep the README's copies equal to them.
"""

from __future__ import annotations

import json

from pydantic.fields import FieldInfo

from specgen.diagnostics import CODES
from specgen.layers import LAYER_TYPES

# Fields every layer type has; the README explains them once.
COMMON_FIELDS = frozenset({"type", "name", "expect", "inputs", "allow"})


def _default(info: FieldInfo) -> str:
    value = info.get_default(call_default_factory=True)
    if value is None:
        return " (optional)"
    if isinstance(value, tuple) and len(value) == 2 and value[0] == value[1]:
        value = value[0]  # written as one int in a spec
    if isinstance(value, tuple):
        value = json.loads(json.dumps(value))
    return f" ({json.dumps(value) if not isinstance(value, str) else '`' + value + '`'})"


def layer_fields(kind: str) -> str:
    """``filters``, ``kernel_size``, ``stride`` (1), ... for one layer type."""
    model = LAYER_TYPES[kind]
    parts = []
    for name, info in model.model_fields.items():
        if name in COMMON_FIELDS:
            continue
        parts.append(f"`{name}`" + ("" if info.is_required() else _default(info)))
    return ", ".join(parts) or "none"


def layer_table() -> str:
    """The README's table of layer types: type, fields with defaults, what it does."""
    rows = ["| type | fields (default) | does |", "| --- | --- | --- |"]
    for kind, model in LAYER_TYPES.items():
        paragraph = (model.__doc__ or "").strip().split("\n\n")[0]
        does = " ".join(paragraph.split()).rstrip(".")
        rows.append(f"| `{kind}` | {layer_fields(kind)} | {does} |")
    return "\n".join(rows)


def codes_table() -> str:
    rows = ["| code | meaning |", "| --- | --- |"]
    rows += [f"| `{code}` | {meaning} |" for code, meaning in CODES.items()]
    return "\n".join(rows)
