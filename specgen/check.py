"""One file through the front half of the compiler: load -> spec -> graph.

A failure at any stage is a value in the returned `FileResult`, so one bad file never
stops the others. Only I/O problems (missing file, unreadable path) raise `OSError`:
the CLI reports those as usage errors.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from specgen.diagnostics import Diagnostic, Report
from specgen.graph import Graph, build_graph
from specgen.load import SUFFIXES, Document, load_document
from specgen.spec import Spec, parse_spec


class UsageProblem(Exception):
    """A path that cannot be checked at all: exit code 2, not a finding."""


@dataclass(slots=True)
class FileResult:
    path: str
    report: Report
    spec: Spec | None = None
    graph: Graph | None = None
    document: Document | None = None


def display_path(path: Path) -> str:
    """The path as the user gave it, escaped if it holds characters that could forge output."""
    text = str(path)
    return text if text.isprintable() else repr(text)[1:-1]


def check_file(path: Path) -> FileResult:
    shown = display_path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise UsageProblem(f"{shown}: not a spec file (expected .json, .yaml or .yml)")
    if path.is_dir():
        raise UsageProblem(f"{shown}: is a directory")
    try:
        document, problem = load_document(path)
    except OSError as error:
        raise UsageProblem(f"{shown}: cannot read: {error.strerror or error}") from None
    result = FileResult(shown, Report(shown))
    if document is None:
        assert problem is not None
        result.report.add(problem)
    else:
        result.document = document
        parsed = parse_spec(document)
        result.report.extend(parsed.diagnostics)
        if parsed.layers:
            graph, found = build_graph(parsed, document)
            result.report.extend(found)
            if parsed.spec is not None:
                result.spec, result.graph = parsed.spec, graph
    # In file order, as a compiler reports; findings without a position come first.
    result.report.diagnostics = sorted(
        (replace(d, file=shown) for d in result.report.diagnostics),
        key=lambda d: (d.position.line, d.position.column) if d.position else (0, 0),
    )
    return result


def check_target(result: FileResult, target: str) -> None:
    """Add what `target` cannot express to the result's findings (imports no framework)."""
    if result.graph is None or result.document is None:
        return
    from specgen.targets import target_findings

    result.report.extend(locate(target_findings(result.graph, target), result))


def locate(diagnostics: list[Diagnostic], result: FileResult) -> list[Diagnostic]:
    """Give target findings the file and position of the layer they name."""
    document = result.document
    return [
        replace(
            d,
            file=result.path,
            position=document.locate(d.json_path) if document is not None else None,
        )
        for d in diagnostics
    ]
