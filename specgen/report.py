"""Reporters: turn findings and graphs into text, JSON or GitHub annotations.

Reporters are chosen by name from `VALIDATE_REPORTERS`; the CLI's ``--format``
choices derive from that dict. Diagnostics go to stderr, data to stdout.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any, TextIO

from specgen.diagnostics import Diagnostic, Severity, format_json_path
from specgen.graph import Graph, Node

JSON_FORMAT_VERSION = 1


# ANSI styles for a terminal: the severity label, and the hint and note prefixes.
_STYLE = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m", "hint": "\x1b[36m", "note": "\x1b[2m"}
_RESET = "\x1b[0m"


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, never with ``NO_COLOR`` set (no-color.org) or a dumb
    terminal; ``FORCE_COLOR`` (non-empty) asks for it anywhere."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


def format_diagnostic(d: Diagnostic, *, colour: bool = False) -> str:
    """Compiler style: ``path:line:col: error[SG201]: message [$.json.path]`` + hint line.
    With `colour`, the severity, hint and note labels carry ANSI styles (the text is the
    same; only escape codes are added)."""

    def style(label: str, key: str) -> str:
        return f"{_STYLE[key]}{label}{_RESET}" if colour else label

    where = d.file
    if d.position is not None:
        where += f":{d.position.line}:{d.position.column}"
    severity = d.severity.value
    line = f"{where}: {style(f'{severity}[{d.code}]', severity)}: {d.message}"
    if d.json_path:
        line += f" [{format_json_path(d.json_path)}]"
    if d.hint:
        line += f"\n  {style('hint:', 'hint')} {d.hint}"
    for note in d.notes:
        line += f"\n  {style('note:', 'note')} {note}"
    return line


def diagnostic_json(d: Diagnostic) -> dict[str, Any]:
    return {
        "path": d.file,
        "line": d.position.line if d.position else None,
        "column": d.position.column if d.position else None,
        "json_path": format_json_path(d.json_path),
        "code": d.code,
        "severity": d.severity.value,
        "message": d.message,
        "hint": d.hint,
        "notes": list(d.notes),
        "allowed": d.allowed,
    }


class FileOutcome:
    """What a reporter needs per file: its path and findings."""

    def __init__(self, path: str, diagnostics: Sequence[Diagnostic], failed: bool) -> None:
        self.path = path
        self.diagnostics = diagnostics
        self.failed = failed


def _counts(files: Sequence[FileOutcome]) -> tuple[int, int, int]:
    """Errors, warnings and acknowledged (allowed) warnings."""
    diags = [d for f in files for d in f.diagnostics]
    errors = sum(d.severity is Severity.ERROR for d in diags)
    allowed = sum(d.allowed for d in diags)
    return errors, len(diags) - errors - allowed, allowed


def closing_line(files: Sequence[FileOutcome]) -> str:
    errors, warnings, allowed = _counts(files)
    failed = sum(f.failed for f in files)
    noun = "file" if len(files) == 1 else "files"
    return (
        f"specgen: {len(files)} {noun} checked, {failed} failed: "
        f"{errors} error(s), {warnings} warning(s)" + (f", {allowed} allowed" if allowed else "")
    )


def _shown(f: FileOutcome) -> list[Diagnostic]:
    return [d for d in f.diagnostics if not d.allowed]


def report_text(files: Sequence[FileOutcome], out: TextIO, err: TextIO) -> None:
    colour = use_colour(err)
    for f in files:
        for d in _shown(f):
            print(format_diagnostic(d, colour=colour), file=err)
    print(closing_line(files), file=err)


def report_json(files: Sequence[FileOutcome], out: TextIO, err: TextIO) -> None:
    errors, warnings, allowed = _counts(files)
    payload = {
        "version": JSON_FORMAT_VERSION,
        "files": [
            {
                "path": f.path,
                "valid": not f.failed,
                "diagnostics": [diagnostic_json(d) for d in f.diagnostics],
            }
            for f in files
        ],
        "errors": errors,
        "warnings": warnings,
        "allowed": allowed,
    }
    print(dumps(payload, records_at=3), file=out)  # a finding a line


def _gh_escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def report_github(files: Sequence[FileOutcome], out: TextIO, err: TextIO) -> None:
    """GitHub Actions workflow commands; they must go to stdout to be picked up."""
    for f in files:
        for d in _shown(f):
            props = [f"file={_gh_escape(d.file, prop=True)}"]
            if d.position is not None:
                props += [f"line={d.position.line}", f"col={d.position.column}"]
            props.append(f"title={_gh_escape(f'specgen {d.code}', prop=True)}")
            body = d.message + (f"\nhint: {d.hint}" if d.hint else "")
            body += "".join(f"\nnote: {note}" for note in d.notes)
            print(f"::{d.severity.value} {','.join(props)}::{_gh_escape(body)}", file=out)
    print(closing_line(files), file=err)


Reporter = Callable[[Sequence[FileOutcome], TextIO, TextIO], None]
VALIDATE_REPORTERS: dict[str, Reporter] = {
    "text": report_text,
    "json": report_json,
    "github": report_github,
}


# --- summary -------------------------------------------------------------------------------


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(v) for v in shape) + "]"


def _pair(values: tuple[Any, Any]) -> str:
    a, b = (_exact(v) for v in values)
    return a if a == b else f"{a}x{b}"


def _exact(value: int | Fraction) -> str:
    """An int or a half-integer, written out in full: `3`, `-1.5`, never `1e+20`."""
    if isinstance(value, int) or value.denominator == 1:
        return str(int(value))
    whole = abs(value.numerator) // 2
    return f"{'-' if value < 0 else ''}{whole}.5"


def _json_number(value: Fraction) -> float | int:
    """A receptive-field start for JSON: a float (as ever) while one holds it exactly,
    else the integer part, so that `summary --format json` never writes `Infinity`."""
    return float(value) if abs(value) < 2**52 else int(value)


def _padding(node: Node) -> str:
    if node.padding is None:
        return "-"
    (t, b), (left, right) = node.padding
    return f"{t},{b},{left},{right}"


def node_json(node: Node) -> dict[str, Any]:
    rf = node.receptive_field
    uses = node.origin.uses if node.origin is not None else ()
    return {
        "name": node.name,
        "type": node.kind,
        "block": [{"block": u.block, "instance": u.instance} for u in uses],
        "inputs": node.inputs,
        "input_shapes": [list(s) for s in node.input_shapes],
        "output_shape": list(node.output),
        "params": node.total_params,
        "trainable_params": node.params,
        "non_trainable_params": node.non_trainable,
        "macs": node.macs,
        "padding": [list(p) for p in node.padding] if node.padding else None,
        "receptive_field": None
        if rf is None
        else {
            "size": list(rf.size),
            "jump": list(rf.jump),
            "start": [_json_number(s) for s in rf.start],
        },
    }


def summary_json(graph: Graph, path: str) -> str:
    payload = {
        "version": JSON_FORMAT_VERSION,
        "path": path,
        "name": graph.name,
        "input_shape": list(graph.input_shape),
        "layers": [node_json(n) for n in graph],
        "outputs": [n.name for n in graph.outputs],
        "total_params": graph.total_params,
        "trainable_params": graph.params,
        "non_trainable_params": graph.non_trainable,
        "total_macs": graph.macs,
    }
    return dumps(payload, records_at=1)  # a layer a line


# One record (a finding, a layer) per line, by the C encoder: `indent` would send the whole
# payload through the pure-Python encoder, ~40 us a record (thousands of findings).
_RECORD = json.JSONEncoder(allow_nan=False, separators=(", ", ": ")).encode


def dumps(payload: dict[str, Any], level: int = 0, *, records_at: int) -> str:
    """`payload` as indented JSON down to nesting level `records_at`, each value deeper
    than that on one line (a finding, a layer). NaN and infinities are refused
    (ValueError), as everywhere in specgen's JSON."""
    pad, inner = "  " * level, "  " * (level + 1)
    lines = []
    for key, value in payload.items():
        lines.append(f"{inner}{_RECORD(key)}: {_value(value, level + 1, records_at)}")
    return "{\n" + ",\n".join(lines) + f"\n{pad}}}" if lines else "{}"


def _value(value: Any, level: int, records_at: int) -> str:
    if level > records_at:
        return _RECORD(value)
    if isinstance(value, dict):
        return dumps(value, level, records_at=records_at)
    if isinstance(value, list) and value and isinstance(value[0], dict | list):
        pad, inner = "  " * level, "  " * (level + 1)
        items = [inner + _value(item, level + 1, records_at) for item in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return _RECORD(value)


SUMMARY_COLUMNS = (
    "Layer (type)",
    "Output shape",
    "Params",
    "MACs",
    "RF",
    "Jump",
    "Start",
    "Pad t,b,l,r",
)


def _rows(graph: Graph) -> list[tuple[str, str, Node | None]]:
    """(label, inputs, node) per row: block instances get a header row and their layers
    are indented under it with their local names; inputs are shown where they are not
    simply the row above."""
    rows: list[tuple[str, str, Node | None]] = []
    open_uses: tuple[Any, ...] = ()
    previous = ""
    for n in graph:
        uses = n.origin.uses if n.origin is not None else ()
        common = 0
        while common < min(len(uses), len(open_uses)) and uses[common] == open_uses[common]:
            common += 1
        for depth in range(common, len(uses)):
            use = uses[depth]
            shown = use.instance if depth == 0 else use.local  # nested: local, like layers
            rows.append((f"{'  ' * depth}{shown} (block {use.block})", "", None))
        open_uses = uses
        name = n.origin.local if uses and n.origin is not None and n.origin.local else n.name
        shown = "" if n.inputs == [previous] or not n.inputs else ", ".join(n.inputs)
        rows.append((f"{'  ' * len(uses)}{name} ({n.kind})", shown, n))
        previous = n.name
    return rows


# The Inputs column is at most this wide: a longer list goes on over the lines below, so
# that a merge of a thousand inputs does not widen every row of the table.
INPUTS_WIDTH = 60


def _wrap(text: str, width: int = INPUTS_WIDTH) -> list[str]:
    """A comma-separated list of names as lines of at most `width` characters (a single
    longer name keeps its own line).

    >>> _wrap("conv_a, conv_b, conv_c", 16)
    ['conv_a, conv_b,', 'conv_c']
    """
    if len(text) <= width:
        return [text]
    lines: list[str] = []
    line = ""
    for name in text.split(", "):
        joined = f"{line}, {name}" if line else name
        if line and len(joined) + 1 > width:  # + 1: the comma that ends the line
            lines.append(line + ",")
            line = name
        else:
            line = joined
    return [*lines, line]


def _figures(n: Node) -> list[str]:
    """A layer's cells from Output shape to Pad, as the text and Markdown tables show them."""
    rf = n.receptive_field
    return [
        _shape(n.output),
        f"{n.total_params:,}",
        f"{n.macs:,}",
        _pair(rf.size) if rf else "-",
        _pair(rf.jump) if rf else "-",
        _pair(rf.start) if rf else "-",
        _padding(n),
    ]


def summary_text(graph: Graph, path: str) -> str:
    graph_columns = not graph.is_chain()
    columns = (
        (SUMMARY_COLUMNS[0], "Inputs", *SUMMARY_COLUMNS[1:]) if graph_columns else (SUMMARY_COLUMNS)
    )
    rows = []
    for label, inputs, n in _rows(graph):
        if n is None:
            rows.append((label, *[""] * (len(columns) - 1)))
            continue
        wrapped = _wrap(inputs) if graph_columns else [inputs]
        rows.append((label, *([wrapped[0]] if graph_columns else []), *_figures(n)))
        rows += [("", more, *[""] * (len(columns) - 2)) for more in wrapped[1:]]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    numeric = {3, 4} if graph_columns else {2, 3}

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "-" * len(fmt(columns))
    lines = [f'Model: "{graph.name}"  ({path})', rule, fmt(columns), rule]
    lines += [fmt(r) for r in rows]
    lines += [rule]
    if graph_columns:
        lines.append("Outputs: " + ", ".join(o.name for o in graph.outputs))
    lines += [
        f"Total params: {graph.total_params:,}",
        f"Trainable params: {graph.params:,}",
        f"Non-trainable params: {graph.non_trainable:,}",
        f"Total MACs: {graph.macs:,}",
    ]
    return "\n".join(lines)


def _md(text: str) -> str:
    """Text for a table cell: backslashes and pipes escaped."""
    return text.replace("\\", "\\\\").replace("|", "\\|")


def summary_markdown(graph: Graph, path: str) -> str:
    """The summary as a GitHub-flavoured Markdown table, for pull-request comments: one
    row per layer (layers of block instances by their full names, with the instance in a
    Block column), numbers right-aligned, totals below."""
    graph_columns = not graph.is_chain()
    has_blocks = any(n.origin is not None and n.origin.uses for n in graph)
    header = ["Layer", "Type"]
    header += ["Block"] if has_blocks else []
    header += ["Inputs"] if graph_columns else []
    header += ["Output shape", "Params", "MACs", "RF", "Jump", "Start", "Padding t,b,l,r"]
    right = {"Params", "MACs"}
    lines = [
        f"### `{graph.name}` (`{_md(path)}`)",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---:" if h in right else "---" for h in header) + " |",
    ]
    for n in graph:
        uses = n.origin.uses if n.origin is not None else ()
        cells = [f"`{n.name}`", n.kind]
        cells += [" / ".join(f"{u.instance} ({u.block})" for u in uses)] if has_blocks else []
        cells += [", ".join(n.inputs)] if graph_columns else []
        cells += _figures(n)
        lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    lines += [
        "",
        f"**Total params:** {graph.total_params:,} (trainable {graph.params:,}, "
        f"non-trainable {graph.non_trainable:,}) · **MACs:** {graph.macs:,}"
        + (
            " · **Outputs:** " + ", ".join(f"`{o.name}`" for o in graph.outputs)
            if graph_columns
            else ""
        ),
    ]
    return "\n".join(lines)


SUMMARY_RENDERERS: dict[str, Callable[[Graph, str], str]] = {
    "text": summary_text,
    "json": summary_json,
    "markdown": summary_markdown,
}
