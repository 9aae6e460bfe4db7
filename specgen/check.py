"""One file through the front half of the compiler: load -> expand -> spec -> graph.

A failure at any stage is a value in the returned `FileResult`, so one bad file never
stops the others. Only I/O problems (missing file, unreadable path) raise `OSError`:
the CLI reports those as usage errors.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from specgen.collector import collector_paused
from specgen.diagnostics import Diagnostic, Report, Severity
from specgen.expand import Expansion, expand
from specgen.graph import Graph, build_graph
from specgen.limits import DEFAULT_LIMITS, Limits
from specgen.load import SUFFIXES, Document, parse_bytes
from specgen.spec import Spec, parse_spec


class UsageProblem(Exception):
    """A path that cannot be checked at all: exit code 2, not a finding."""


@dataclass(slots=True)
class FileResult:
    path: str
    report: Report
    spec: Spec | None = None
    graph: Graph | None = None
    document: Document | None = None  # the flat (expanded) document
    expansion: Expansion | None = None
    # Warning codes the project config allows in every file (SPEC.md section 6).
    allow: frozenset[str] = frozenset()


def display_path(path: Path) -> str:
    """The path as the user gave it, escaped if it holds characters that could forge output."""
    text = str(path)
    return text if text.isprintable() else repr(text)[1:-1]


STDIN = "-"


def check_file(
    path: Path,
    limits: Limits = DEFAULT_LIMITS,
    *,
    stdin_name: str | None = None,
    allow: frozenset[str] = frozenset(),
) -> FileResult:
    """Check one spec file; `-` reads standard input, named `stdin_name` in messages
    (its extension chooses JSON or YAML; YAML without one). `allow`: the warning codes
    the project config acknowledges."""
    if str(path) == STDIN:
        name = stdin_name or "<stdin>"
        raw = _read_at_most(sys.stdin.buffer, limits.bytes + 1)
        syntax = SUFFIXES.get(Path(name).suffix.lower(), "yaml")
        return check_bytes(raw, display_path(Path(name)), syntax, limits, allow)
    shown = display_path(path)
    try:
        folder = path.is_dir()
    except OSError as error:
        raise UsageProblem(f"{shown}: cannot read: {error.strerror or error}") from None
    if folder:
        raise UsageProblem(f"{shown}: is a directory (give the spec files, e.g. {shown}/*.yaml)")
    if path.suffix.lower() not in SUFFIXES:
        raise UsageProblem(f"{shown}: not a spec file (expected .json, .yaml or .yml)")
    try:
        with path.open("rb") as handle:
            raw = _read_at_most(handle, limits.bytes + 1)
    except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop
        reason = error.strerror if isinstance(error, OSError) else None
        raise UsageProblem(f"{shown}: cannot read: {reason or error}") from None
    return check_bytes(raw, shown, SUFFIXES[path.suffix.lower()], limits, allow)


READ_CHUNK = 1 << 20


def _read_at_most(stream: BinaryIO, size: int) -> bytes:
    """Up to `size` bytes, read in chunks: a raised `bytes` limit must not make Python
    set aside a buffer of that size before reading a 2 KiB spec."""
    chunks: list[bytes] = []
    left = size
    while left > 0:
        chunk = stream.read(min(left, READ_CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def check_bytes(
    raw: bytes,
    shown: str,
    syntax: str,
    limits: Limits = DEFAULT_LIMITS,
    allow: frozenset[str] = frozenset(),
) -> FileResult:
    """Check a spec given as bytes; `shown` names it in messages, `syntax` is json|yaml."""
    with collector_paused():
        return _check_bytes(raw, shown, syntax, limits, allow)


def _check_bytes(
    raw: bytes, shown: str, syntax: str, limits: Limits, allow: frozenset[str]
) -> FileResult:
    document, problem = parse_bytes(raw, syntax, limits)
    result = FileResult(shown, Report(shown), allow=allow)
    if document is None:
        assert problem is not None
        result.report.add(problem)
    elif (over := _too_many_layers(document, limits)) is not None:
        result.document = document
        result.report.add(replace(over, position=document.locate(over.json_path)))
    else:
        expansion = expand(document, shown, limits)
        result.report.extend(expansion.diagnostics)
        result.expansion = expansion
        flat = expansion.document
        if flat is not None:
            result.document = flat
            parsed = parse_spec(flat, expansion.holes)
            found = parsed.diagnostics
            if parsed.layers:
                graph, more = build_graph(parsed, flat, expansion.origins, limits)
                found = acknowledge([*found, *more], graph, allow)
                if parsed.spec is not None:
                    result.spec, result.graph = parsed.spec, graph
            result.report.extend(locate(found, result))
    # In file order, as a compiler reports; findings without a position come first.
    # The project's `allow` also covers what belongs to no layer (SG302).
    result.report.diagnostics = sorted(
        _fold_instances(
            [replace(d, file=shown) for d in acknowledge(result.report.diagnostics, None, allow)]
        ),
        key=lambda d: (d.position.line, d.position.column) if d.position else (0, 0),
    )
    return result


def _too_many_layers(flat: Document, limits: Limits) -> Diagnostic | None:
    """SG211 before block expansion, the schema and the shape pass for a spec that lists
    more layers than `limits.layers` (each item is at least one layer; what blocks add is
    counted by the expansion, SG114): checking them all first would make the limit's own
    cost unbounded. Nothing else in the file is reported."""
    data = flat.data
    layers = data.get("layers") if isinstance(data, dict) else None
    if not isinstance(layers, list) or len(layers) <= limits.layers:
        return None
    return Diagnostic(
        "SG211",
        f"the spec has {len(layers):,} layers, over the limit of {limits.layers:,} "
        "(nothing else in the file was checked)",
        hint="if the network is meant to be this large, raise the limit: --limit layers=N",
        json_path=("layers", limits.layers),
    )


def _fold_instances(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """One finding per place in the file: a mistake inside a block used ten times is
    reported once, at the block, with a note counting the other instances."""
    first: dict[tuple[object, ...], int] = {}
    extra: dict[int, int] = {}
    out: list[Diagnostic] = []
    for d in diagnostics:
        if not d.notes:
            out.append(d)
            continue
        key = (d.code, d.severity, d.position, d.json_path)
        if key in first:
            extra[first[key]] = extra.get(first[key], 0) + 1
            continue
        first[key] = len(out)
        out.append(d)
    for index, count in extra.items():
        d = out[index]
        more = f"the same in {count} more instance{'s' if count > 1 else ''}"
        out[index] = replace(d, notes=(*d.notes, more))
    return out


def check_target(result: FileResult, target: str) -> None:
    """Add what `target` cannot express to the result's findings (imports no framework)."""
    if result.graph is None or result.document is None:
        return
    from specgen.targets import target_findings

    found = acknowledge(target_findings(result.graph, target), result.graph, result.allow)
    result.report.extend(locate(found, result))


def acknowledge(
    diagnostics: list[Diagnostic], graph: Graph | None, project: frozenset[str] = frozenset()
) -> list[Diagnostic]:
    """Mark as allowed the warnings a layer acknowledges with `allow`, and those whose
    code the project config allows everywhere (SPEC section 6). Paths are the flat
    spec's: a warning belongs to the layer at ``('layers', i)``."""
    allows = {
        node.path: frozenset(node.layer.allow)
        for node in (graph.layers() if graph is not None else ())
        if node.layer is not None and node.layer.allow
    }
    if not allows and not project:
        return diagnostics
    return [
        replace(d, allowed=True)
        if d.severity is Severity.WARNING
        and not d.allowed
        and (d.code in project or d.code in allows.get(tuple(d.json_path[:2]), ()))
        else d
        for d in diagnostics
    ]


def locate(diagnostics: list[Diagnostic], result: FileResult) -> list[Diagnostic]:
    """Point findings made on the flat spec at the file: its position, its JSON path, and
    for layers expanded from blocks a note per enclosing block use."""
    document, expansion = result.document, result.expansion
    out = []
    for d in diagnostics:
        position = d.position
        if position is None and document is not None:
            position = document.locate(d.json_path)
        notes = d.notes
        path = d.json_path
        if expansion is not None:
            origin = expansion.origin_of(path)
            if origin is not None and origin.uses:
                notes = (*notes, *origin.notes(result.path))
            path = expansion.source_path(path)
        out.append(replace(d, file=result.path, position=position, json_path=path, notes=notes))
    return out
