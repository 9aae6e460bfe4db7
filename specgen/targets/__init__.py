"""Targets: one lowering per framework, each with its own template folder.

Nothing here imports a framework; the emitted source does. `TARGETS` is the registry
the CLI's ``--target`` choices derive from.
"""

from __future__ import annotations

from specgen.diagnostics import Diagnostic, Severity
from specgen.graph import Graph
from specgen.targets.base import Lowered, Target, render
from specgen.targets.guard import UnsafeSource, check_source
from specgen.targets.keras import KerasTarget
from specgen.targets.pytorch import PyTorchTarget

TARGETS: dict[str, type[Target]] = {"keras": KerasTarget, "pytorch": PyTorchTarget}


def lower(graph: Graph, target: str, spec_file: str = "spec", spec_bytes: bytes = b"") -> Lowered:
    return TARGETS[target](graph, spec_file, spec_bytes).lower()


def target_findings(graph: Graph, target: str) -> list[Diagnostic]:
    """What `target` cannot express exactly, without rendering anything."""
    return lower(graph, target).findings


def emit_source(
    graph: Graph, target: str, spec_file: str, spec_bytes: bytes
) -> tuple[str | None, list[Diagnostic]]:
    """The module source for `target` and its warnings, or None with the findings
    that prevent it.

    The source is checked against the target's allow-list (`check_source`) before it is
    returned, so before anything prints or writes it; `UnsafeSource` is a bug in specgen.
    """
    lowered = lower(graph, target, spec_file, spec_bytes)
    if any(d.severity is Severity.ERROR for d in lowered.findings):
        return None, lowered.findings
    source = render(target, lowered, TARGETS[target].template)
    check_source(source, target)
    return source, lowered.findings  # warnings only


__all__ = [
    "TARGETS",
    "Lowered",
    "Target",
    "UnsafeSource",
    "check_source",
    "emit_source",
    "lower",
    "target_findings",
]
