"""specgen: CNN architectures as checked, declarative specs.

Public API (typed; see the README's "Python API"): `load_spec` / `load_spec_text` check a
spec and give
a `Spec` (findings and shape-annotated graph); `summarize`, `expand_blocks`, `generate`
and `draw` give what the summary, expand, emit and diagram commands print;
`keras_to_torch` / `torch_to_keras` copy weights between the two models emitted from one
spec. `check_file` is the lower-level check behind `load_spec`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# The public names and the module each lives in. They are imported on first use, so
# that `specgen validate` (which needs neither the typed API nor weight transfer) does
# not pay for them at start-up.
_EXPORTS = {
    "Diagnostic": "specgen.diagnostics",
    "FileResult": "specgen.check",
    "Limits": "specgen.limits",
    "Severity": "specgen.diagnostics",
    "Spec": "specgen.api",
    "SpecError": "specgen.api",
    "TransferError": "specgen.transfer",
    "check_file": "specgen.check",
    "draw": "specgen.api",
    "expand_blocks": "specgen.api",
    "generate": "specgen.api",
    "keras_to_torch": "specgen.transfer",
    "load_spec": "specgen.api",
    "load_spec_text": "specgen.api",
    "summarize": "specgen.api",
    "torch_to_keras": "specgen.transfer",
}

if TYPE_CHECKING:
    from specgen.api import (
        Spec,
        SpecError,
        draw,
        expand_blocks,
        generate,
        load_spec,
        load_spec_text,
        summarize,
    )
    from specgen.check import FileResult, check_file
    from specgen.diagnostics import Diagnostic, Severity
    from specgen.limits import Limits
    from specgen.transfer import TransferError, keras_to_torch, torch_to_keras


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'specgen' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = [
    "Diagnostic",
    "FileResult",
    "Limits",
    "Severity",
    "Spec",
    "SpecError",
    "TransferError",
    "__version__",
    "check_file",
    "draw",
    "expand_blocks",
    "generate",
    "keras_to_torch",
    "load_spec",
    "load_spec_text",
    "summarize",
    "torch_to_keras",
]
