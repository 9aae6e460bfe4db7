"""The Python API: what the commands do, as typed functions.

    >>> import specgen
    >>> net = specgen.load_spec("specs/lenet5.yaml")          # doctest: +SKIP
    >>> net.graph.total_params                            # doctest: +SKIP
    61706

`load_spec` (a file) and `load_spec_text` (text) check a spec as `specgen validate` does
and return a
`Spec`: its findings and, when it has no error, its shape-annotated graph. The other
functions take a valid `Spec` and give what the matching command prints: `summarize`
(summary), `expand_blocks` (expand), `generate` (emit) and `draw` (diagram); their names
differ from the commands' (and from `load`) because `specgen.expand`, `.emit`, `.diagram`
and `.load` are modules.
They raise `SpecError` (with the findings) for a spec with errors, and `ValueError` for
an unknown format or target. None of them imports a
framework; the emitted code does, and `keras_to_torch` / `torch_to_keras` move weights
between the two models built from one spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from specgen.check import FileResult, acknowledge, check_bytes, check_file, check_target, locate
from specgen.diagnostics import Diagnostic, Severity
from specgen.graph import Graph
from specgen.limits import DEFAULT_LIMITS, Limits
from specgen.load import SUFFIXES

Syntax = Literal["json", "yaml"]


class SpecError(Exception):
    """A spec with errors was asked for something only a valid spec has."""

    def __init__(self, path: str, diagnostics: tuple[Diagnostic, ...]) -> None:
        errors = [d for d in diagnostics if d.severity is Severity.ERROR]
        first = f": {errors[0].code} {errors[0].message}" if errors else ""
        super().__init__(f"{path}: {len(errors)} error(s){first}")
        self.path = path
        self.diagnostics = diagnostics


@dataclass(frozen=True, slots=True)
class Spec:
    """A checked spec: its findings (errors and warnings, located in the file) and, when
    it has no error, its graph with every layer's shapes, parameters and MACs."""

    path: str
    diagnostics: tuple[Diagnostic, ...]
    graph: Graph | None
    _result: FileResult

    @property
    def errors(self) -> list[Diagnostic]:
        return self._result.report.errors

    @property
    def warnings(self) -> list[Diagnostic]:
        """Warnings the spec does not acknowledge with `allow`."""
        return self._result.report.warnings

    def valid(self, *, strict: bool = False) -> bool:
        """No error (and, with `strict`, no unacknowledged warning): `validate`'s exit 0."""
        return not self._result.report.failed(strict=strict)

    def graph_or_raise(self) -> Graph:
        if self.graph is None or self.errors:
            raise SpecError(self.path, self.diagnostics)
        return self.graph


def _spec(result: FileResult, target: str | None) -> Spec:
    if target is not None:
        check_target(result, target)
    graph = result.graph if not result.report.errors else None
    return Spec(result.path, tuple(result.report.diagnostics), graph, result)


def load_spec(
    path: str | Path, *, target: str | None = None, limits: Limits = DEFAULT_LIMITS
) -> Spec:
    """Check the spec file at `path` (`.json`, `.yaml` or `.yml`); with `target` ('keras'
    or 'pytorch'), also what that target cannot express or warns about. A path that cannot
    be read raises `specgen.check.UsageProblem`."""
    _check_target(target)
    return _spec(check_file(Path(path), limits), target)


def load_spec_text(
    text: str | bytes,
    *,
    name: str = "spec.yaml",
    syntax: Syntax | None = None,
    target: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Spec:
    """Check a spec given as text; `name` is used in messages, and its extension chooses
    the syntax unless `syntax` says it (YAML without either)."""
    _check_target(target)
    raw = text.encode("utf-8") if isinstance(text, str) else text
    chosen = syntax or SUFFIXES.get(Path(name).suffix.lower(), "yaml")
    if chosen not in ("json", "yaml"):
        raise ValueError(f"syntax must be 'json' or 'yaml', not {chosen!r}")
    return _spec(check_bytes(raw, name, chosen, limits), target)


def summarize(spec: Spec, format: Literal["text", "json", "markdown"] = "text") -> str:
    """What `specgen summary` prints: the per-layer table, JSON, or Markdown."""
    from specgen.report import SUMMARY_RENDERERS

    if format not in SUMMARY_RENDERERS:
        raise ValueError(f"format must be one of {sorted(SUMMARY_RENDERERS)}, not {format!r}")
    return SUMMARY_RENDERERS[format](spec.graph_or_raise(), spec.path)


def expand_blocks(spec: Spec, format: Syntax = "yaml") -> str:
    """What `specgen expand` prints: the spec with every block written out as layers."""
    from specgen.expand import flat_json, flat_yaml

    spec.graph_or_raise()
    document = spec._result.document
    assert document is not None
    if format not in ("json", "yaml"):
        raise ValueError(f"format must be 'json' or 'yaml', not {format!r}")
    return (flat_json if format == "json" else flat_yaml)(document.data)


def generate(spec: Spec, target: str) -> str:
    """What `specgen emit --target TARGET` prints: the model's source. What the target
    cannot express raises `SpecError` with those findings (SG401); its warnings (SG303,
    SG304) do not stop it and are in `load_spec(..., target=TARGET).diagnostics`."""
    from specgen.targets import emit_source

    _check_target(target)
    graph = spec.graph_or_raise()
    document = spec._result.document
    assert document is not None
    source, findings = emit_source(graph, target, spec.path, document.raw)
    if source is None:
        shown = locate(acknowledge(findings, graph, spec._result.allow), spec._result)
        raise SpecError(spec.path, tuple(shown))
    return source


def draw(spec: Spec, format: Literal["mermaid", "dot"] = "mermaid") -> str:
    """What `specgen diagram` prints: a Mermaid flowchart or Graphviz DOT."""
    from specgen.diagram import DIAGRAM_WRITERS

    if format not in DIAGRAM_WRITERS:
        raise ValueError(f"format must be one of {sorted(DIAGRAM_WRITERS)}, not {format!r}")
    return DIAGRAM_WRITERS[format](spec.graph_or_raise())


def _check_target(target: str | None) -> None:
    if target is not None and target not in ("keras", "pytorch"):
        raise ValueError(f"target must be 'keras' or 'pytorch', not {target!r}")
