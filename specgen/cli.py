"""The command line: parsing only. Each command hands its work to a plain function.

``validate``, ``summary`` and ``schema`` must start fast and never import TensorFlow,
PyTorch, Keras or Jinja; ``emit`` imports the targets lazily.
"""

from __future__ import annotations

import enum
import json
import os
import shutil
import sys
import traceback
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from specgen import __version__
from specgen.check import (
    STDIN,
    FileResult,
    UsageProblem,
    check_file,
    check_target,
    display_path,
    locate,
)
from specgen.limits import DEFAULT_LIMITS, Limits
from specgen.report import (
    SUMMARY_RENDERERS,
    VALIDATE_REPORTERS,
    FileOutcome,
    format_diagnostic,
    use_colour,
)

# The target names, spelled out here so that `validate` need not import the targets.
TARGET_NAMES = ("keras", "pytorch")

# Enums derive from the reporter dicts, so a new reporter is one dict entry.
ValidateFormat = enum.StrEnum("ValidateFormat", {k: k for k in VALIDATE_REPORTERS})  # type: ignore[misc]
SummaryFormat = enum.StrEnum("SummaryFormat", {k: k for k in SUMMARY_RENDERERS})  # type: ignore[misc]
TargetName = enum.StrEnum("TargetName", {k: k for k in TARGET_NAMES})  # type: ignore[misc]
TEXT_VALIDATE = ValidateFormat("text")
TEXT_SUMMARY = SummaryFormat("text")

# Files named *.schema.json are JSON Schemas (specs/specgen.schema.json): validate skips
# them, so that a glob over a folder of specs and their schema checks the specs.
SCHEMA_SUFFIX = ".schema.json"

app = typer.Typer(
    name="specgen",
    help="Check CNN architecture specs and emit Keras or PyTorch source from them.",
    add_completion=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


# The spec being worked on, for the internal-error line (a bug report needs the file).
_current_spec: list[str] = []
DEBUG_FLAG = "--debug"


LimitOption = Annotated[
    list[str] | None,
    typer.Option(
        "--limit",
        metavar="NAME=VALUE",
        help="Raise or lower a resource limit (repeatable): "
        + ", ".join(
            f"{name} (default {getattr(DEFAULT_LIMITS, name):,})" for name in Limits.names()
        )
        + ".",
    ),
]


def _limits(settings: list[str] | None) -> Limits:
    try:
        return DEFAULT_LIMITS.with_settings(settings or [])
    except ValueError as error:
        _usage_exit([str(error)])


StdinNameOption = Annotated[
    str | None,
    typer.Option(
        "--stdin-filename",
        metavar="NAME",
        help="With PATH '-': the name standard input gets in messages; its extension "
        "chooses JSON or YAML (YAML without one).",
    ),
]


def _check(
    path: Path, limits: Limits = DEFAULT_LIMITS, stdin_name: str | None = None
) -> FileResult:
    _current_spec[:] = [stdin_name or "<stdin>" if str(path) == STDIN else display_path(path)]
    return check_file(path, limits, stdin_name=stdin_name)


def _print_version(value: bool) -> None:
    if value:
        print(f"specgen {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            DEBUG_FLAG,
            help="On an internal error, print the traceback (also accepted after the "
            "command, or as SPECGEN_DEBUG=1).",
        ),
    ] = False,
) -> None:
    """Check CNN architecture specs and emit Keras or PyTorch source from them."""


def _usage_exit(messages: list[str]) -> NoReturn:
    for message in messages:
        print(f"specgen: error: {message}", file=sys.stderr)
    raise typer.Exit(2)


def _valid_file(
    path: Path, *, show_warnings: bool, limits: Limits, stdin_name: str | None = None
) -> FileResult:
    """The checked file, for the commands that need a valid spec (summary, emit, expand):
    a path that cannot be checked exits 2; a spec with errors is reported and exits 1."""
    try:
        result = _check(path, limits, stdin_name)
    except UsageProblem as problem:
        _usage_exit([str(problem)])
    if result.graph is None or result.document is None:
        VALIDATE_REPORTERS["text"](
            [FileOutcome(result.path, result.report.diagnostics, True)], sys.stdout, sys.stderr
        )
        raise typer.Exit(1)
    if show_warnings:
        for warning in result.report.warnings:
            print(format_diagnostic(warning, colour=use_colour(sys.stderr)), file=sys.stderr)
    return result


@app.command()
def validate(
    paths: Annotated[
        list[Path], typer.Argument(metavar="PATH", help="Spec files (.json, .yaml, .yml).")
    ],
    output_format: Annotated[
        ValidateFormat, typer.Option("--format", help="How to report findings.")
    ] = TEXT_VALIDATE,
    strict: Annotated[bool, typer.Option(help="Fail on warnings too.")] = False,
    target: Annotated[
        TargetName | None,
        typer.Option(help="Also report what this target cannot express exactly."),
    ] = None,
    limit: LimitOption = None,
    stdin_filename: StdinNameOption = None,
) -> None:
    """Check each spec's schema and shapes; report every problem of every file.

    A PATH that cannot be checked (missing, a directory, not a spec file) is a usage
    error, printed first; the other files are still checked and reported; exit 2."""
    limits = _limits(limit)
    if sum(str(p) == STDIN for p in paths) > 1:
        _usage_exit(["'-' (standard input) can be given once"])
    results: list[FileResult] = []
    usage: list[str] = []
    for path in paths:
        if path.name.endswith(SCHEMA_SUFFIX):  # `specgen validate specs/*` meets the schema
            print(f"specgen: skipping {path}: a JSON Schema, not a spec", file=sys.stderr)
            continue
        try:
            result = _check(path, limits, stdin_filename)
        except UsageProblem as problem:
            print(f"specgen: error: {problem}", file=sys.stderr)
            usage.append(str(problem))
            continue
        if target is not None:
            check_target(result, target.value)
        results.append(result)
    outcomes = [
        FileOutcome(r.path, r.report.diagnostics, r.report.failed(strict=strict)) for r in results
    ]
    if outcomes or not usage:
        VALIDATE_REPORTERS[output_format.value](outcomes, sys.stdout, sys.stderr)
    if usage:
        raise typer.Exit(2)
    if any(o.failed for o in outcomes):
        raise typer.Exit(1)


@app.command()
def summary(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="One spec file.")],
    output_format: Annotated[
        SummaryFormat,
        typer.Option(
            "--format", help="A text table, JSON, or a Markdown table (for pull requests)."
        ),
    ] = TEXT_SUMMARY,
    limit: LimitOption = None,
    stdin_filename: StdinNameOption = None,
) -> None:
    """Per-layer table: output shape, params, MACs, receptive field, resolved padding."""
    result = _valid_file(path, show_warnings=True, limits=_limits(limit), stdin_name=stdin_filename)
    assert result.graph is not None
    print(SUMMARY_RENDERERS[output_format.value](result.graph, result.path))


@app.command()
def emit(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="One spec file.")],
    target: Annotated[TargetName, typer.Option(help="The framework to emit for.")],
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Write here (atomically), not stdout.")
    ] = None,
    check: Annotated[
        bool, typer.Option(help="Exit 1 with a diff if OUT differs from what would be written.")
    ] = False,
    limit: LimitOption = None,
    stdin_filename: StdinNameOption = None,
) -> None:
    """Emit model source for Keras 3 or PyTorch; build_model() returns the network."""
    from specgen.emit import emit_file

    if check and out is None:
        _usage_exit(["--check needs -o/--out: the file to compare with"])
    result = _valid_file(
        path, show_warnings=False, limits=_limits(limit), stdin_name=stdin_filename
    )
    outcome = emit_file(result, target.value, out, check=check)
    for finding in locate(outcome.findings, result):
        print(format_diagnostic(finding, colour=use_colour(sys.stderr)), file=sys.stderr)
    if outcome.usage_error:
        _usage_exit([outcome.usage_error])
    if outcome.diff:
        sys.stdout.write(outcome.diff)
    elif outcome.source is not None and out is None:
        sys.stdout.write(outcome.source)
    raise typer.Exit(outcome.exit_code)


class ExpandFormat(enum.StrEnum):
    yaml = "yaml"
    json = "json"


@app.command()
def expand(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="One spec file.")],
    output_format: Annotated[
        ExpandFormat | None,
        typer.Option("--format", help="Output syntax (default: the file's own)."),
    ] = None,
    limit: LimitOption = None,
    stdin_filename: StdinNameOption = None,
) -> None:
    """Print the spec with every block expanded into plain layers (like `cpp -E`).

    The output is a valid spec that validates to the same graph: same layer names,
    same wiring, same shapes.
    """
    from specgen.expand import flat_json, flat_yaml

    result = _valid_file(path, show_warnings=True, limits=_limits(limit), stdin_name=stdin_filename)
    assert result.document is not None
    named = Path(stdin_filename or "-") if str(path) == STDIN else path
    syntax = (
        output_format.value
        if output_format
        else ("json" if named.suffix.lower() == ".json" else "yaml")
    )
    writer = flat_json if syntax == "json" else flat_yaml
    sys.stdout.write(writer(result.document.data))


class DiagramFormat(enum.StrEnum):
    mermaid = "mermaid"
    dot = "dot"
    svg = "svg"


NO_DOT = (
    "--format svg needs Graphviz's 'dot' program (apt-get install graphviz, brew install "
    "graphviz); --format dot prints the graph for it"
)


@app.command()
def diagram(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="One spec file.")],
    output_format: Annotated[
        DiagramFormat,
        typer.Option(
            "--format",
            help="A Mermaid flowchart (for Markdown), Graphviz DOT, or SVG (drawn by "
            "Graphviz's dot, which must be installed).",
        ),
    ] = DiagramFormat.mermaid,
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Write here (atomically), not stdout.")
    ] = None,
    limit: LimitOption = None,
    stdin_filename: StdinNameOption = None,
) -> None:
    """Draw the network: a box per layer with its key arguments, edges labelled with the
    shapes that flow on them, block instances as clusters, the outputs marked."""
    from specgen.diagram import DIAGRAM_WRITERS, GraphvizError, dot, svg

    program = shutil.which("dot") if output_format is DiagramFormat.svg else None
    if output_format is DiagramFormat.svg and program is None:
        _usage_exit([NO_DOT])
    result = _valid_file(path, show_warnings=True, limits=_limits(limit), stdin_name=stdin_filename)
    assert result.graph is not None
    if program is not None:
        try:
            text = svg(dot(result.graph), program)
        except GraphvizError as error:
            _usage_exit([str(error)])
    else:
        text = DIAGRAM_WRITERS[output_format.value](result.graph)
    if out is None:
        sys.stdout.write(text)
        return
    from specgen.emit import write_output

    problem = write_output(out, text)
    if problem is not None:
        _usage_exit([problem])


@app.command()
def schema() -> None:
    """Print the JSON Schema of the spec format (for editors and other validators)."""
    from specgen.spec import json_schema

    print(json.dumps(json_schema(), indent=2))


def _take_debug_flag(argv: list[str]) -> tuple[list[str], bool]:
    """`--debug` anywhere before a `--` (so `specgen validate --debug net.yaml` works)."""
    end = argv.index("--") if "--" in argv else len(argv)
    kept = [a for a in argv[:end] if a != DEBUG_FLAG] + argv[end:]
    return kept, len(kept) != len(argv) or os.environ.get("SPECGEN_DEBUG", "") not in ("", "0")


def internal_error_line(error: BaseException, spec: str | None) -> str:
    """The one line of an internal error: what broke, on which file, which version, and
    where to report it. `repr` keeps a hostile message or path on one line."""
    detail = str(error).splitlines()[0][:200] if str(error) else ""
    what = f"{type(error).__name__}: {detail!r}" if detail else type(error).__name__
    on = f" while processing {spec}" if spec else ""
    return (
        f"specgen: internal error ({what}){on}; this is a bug in specgen {__version__}: "
        "please report it with the spec file (--debug shows the traceback)"
    )


def main(argv: list[str] | None = None) -> NoReturn:
    """Console entry point: exit codes 0/1/2 from the commands, 3 for a bug in specgen."""
    args, debug = _take_debug_flag(list(sys.argv[1:] if argv is None else argv))
    _current_spec.clear()
    try:
        app(args=args, prog_name="specgen")
    except SystemExit:
        raise
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (`| head`): not an error of ours
        sys.exit(1)
    except Exception as error:
        if debug:
            traceback.print_exc(file=sys.stderr)
        spec = _current_spec[0] if _current_spec else None
        print(internal_error_line(error, spec), file=sys.stderr)
        sys.exit(3)
    sys.exit(0)
