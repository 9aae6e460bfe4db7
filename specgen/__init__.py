"""specgen: CNN architectures as checked, declarative specs.

Public API (typed; see the README's "Python API"): `load_spec` / `load_spec_text` check a
spec and give
a `Spec` (findings and shape-annotated graph); `summarize`, `expand_blocks`, `generate`
and `draw` give what the summary, expand, emit and diagram commands print;
`keras_to_torch` / `torch_to_keras` copy weights between the two models emitted from one
spec. `check_file` is the lower-level check behind `load_spec`.
"""

from __future__ import annotations

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

__version__ = "0.1.0"

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
