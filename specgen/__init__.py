"""specgen: CNN architectures as checked, declarative specs.

Public API: `check_file` (load, validate and shape-annotate a spec file),
`emit_source` (model source for a target), and `keras_to_torch` / `torch_to_keras`
(copy weights between the two models emitted from one spec).
"""

from __future__ import annotations

from specgen.check import FileResult, check_file
from specgen.transfer import TransferError, keras_to_torch, torch_to_keras

__version__ = "0.1.0"

__all__ = [
    "FileResult",
    "TransferError",
    "__version__",
    "check_file",
    "keras_to_torch",
    "torch_to_keras",
]
