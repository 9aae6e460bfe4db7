"""The command line: parsing only. Each command hands its work to a plain function.

``validate``, ``summary`` and ``schema`` must start fast and never import TensorFlow,
PyTorch, Keras or Jinja; ``emit`` imports the targets lazily.
"""

from __future__ import annotations

import enum
import gc
import json
import os
import shutil
import sys
import traceback
from dataclasses import replace
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
from specgen.config import SCHEMA_SUFFIX, Config, relative, resolve, spec_files
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


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="PATH",
        help="The project config to use (default: specgen.toml, or [tool.specgen] in "
        "pyproject.toml, in the working directory or the nearest folder above it).",
    ),
]


def _project(config_path: Path | None, limit_settings: list[str] | None = None) -> Config:
    """The project config for this run, with `--limit` settings applied over its limits.
    A config with problems is reported (located, like a spec's) and exits 2."""
    config, problems = resolve(config_path)
    if problems:
        colour = use_colour(sys.stderr)
        for problem in problems:
            print(format_diagnostic(problem, colour=colour), file=sys.stderr)
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        _usage_exit([f"the project config has {count}; nothing was checked"])
    try:
        limits = config.limits.with_settings(limit_settings or [])
    except ValueError as error:
        _usage_exit([str(error)])
    return replace(config, limits=limits)


StdinNameOption = Annotated[
    str | None,
    typer.Option(
        "--stdin-filename",
        metavar="NAME",
        help="With PATH '-': the name standard input gets in messages; its extension "
        "chooses JSON or YAML (YAML without one).",
    ),
]


def _check(path: Path, config: Config, stdin_name: str | None = None) -> FileResult:
    _current_spec[:] = [stdin_name or "<stdin>" if str(path) == STDIN else display_path(path)]
    return check_file(path, config.limits, stdin_name=stdin_name, allow=config.allow)


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
    path: Path, *, show_warnings: bool, config: Config, stdin_name: str | None = None
) -> FileResult:
    """The checked file, for the commands that need a valid spec (summary, emit, expand):
    a path that cannot be checked exits 2; a spec with errors is reported and exits 1."""
    try:
        result = _check(path, config, stdin_name)
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
        list[Path],
        typer.Argument(
            metavar="PATH",
            help="Spec files (.json, .yaml, .yml), or folders to search for them.",
        ),
    ],
    output_format: Annotated[
        ValidateFormat, typer.Option("--format", help="How to report findings.")
    ] = TEXT_VALIDATE,
    strict: Annotated[
        bool | None,
        typer.Option(
            "--strict/--no-strict",
            help="Fail on warnings too (default: the project config's 'strict', else no).",
            show_default=False,
        ),
    ] = None,
    target: Annotated[
        TargetName | None,
        typer.Option(help="Also report what this target cannot express exactly."),
    ] = None,
    limit: LimitOption = None,
    stdin_filename: StdinNameOption = None,
    config_path: ConfigOption = None,
) -> None:
    """Check each spec's schema and shapes; report every problem of every file.

    A folder stands for the spec files below it. A PATH that cannot be checked (missing,
    not a spec file, a folder without specs) is a usage error, printed first; the other
    files are still checked and reported; exit 2."""
    config = _project(config_path, limit)
    strict = config.strict if strict is None else strict
    if sum(str(p) == STDIN for p in paths) > 1:
        _usage_exit(["'-' (standard input) can be given once"])
    # Only what the report needs is kept per file: a run over thousands of specs must
    # not hold every file's document and graph until the end.
    outcomes: list[FileOutcome] = []
    usage: list[str] = []
    for path in _spec_paths(paths, usage):
        if path.name.endswith(SCHEMA_SUFFIX):  # `specgen validate specs/*` meets the schema
            print(f"specgen: skipping {path}: a JSON Schema, not a spec", file=sys.stderr)
            continue
        try:
            result = _check(path, config, stdin_filename)
        except UsageProblem as problem:
            print(f"specgen: error: {problem}", file=sys.stderr)
            usage.append(str(problem))
            continue
        if target is not None:
            check_target(result, target.value)
        report = result.report
        outcomes.append(FileOutcome(result.path, report.diagnostics, report.failed(strict=strict)))
    if outcomes or not usage:
        VALIDATE_REPORTERS[output_format.value](outcomes, sys.stdout, sys.stderr)
    if usage:
        raise typer.Exit(2)
    if any(o.failed for o in outcomes):
        raise typer.Exit(1)


# Folders never searched for specs: version control, environments, caches.
SKIPPED_FOLDERS = frozenset({"node_modules", "__pycache__", "site-packages"})


def _spec_paths(paths: list[Path], usage: list[str]) -> list[Path]:
    """The files to check: each PATH, a folder replaced by the spec files below it (in
    sorted order, hidden and environment folders skipped), each file once however often
    it is named (`specs/**/*` names `specs/zoo` and the files in it)."""
    out: list[Path] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        try:
            key = path.resolve() if str(path) != STDIN else path
        except (OSError, RuntimeError):  # a symlink loop: check_file reports it
            key = path.absolute()
        if key not in seen:
            seen.add(key)
            out.append(path)

    for path in paths:
        try:
            folder = str(path) != STDIN and path.is_dir()
        except OSError:  # a name too long, a folder it cannot enter: check_file reports it
            folder = False
        if not folder:
            add(path)
            continue
        found = spec_files(path, "**/*", skipped=SKIPPED_FOLDERS)
        if not found:
            problem = f"{display_path(path)}: a folder with no spec file (.json, .yaml, .yml)"
            print(f"specgen: error: {problem}", file=sys.stderr)
            usage.append(problem)
        for f in found:
            add(f)
    return out


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
    config_path: ConfigOption = None,
) -> None:
    """Per-layer table: output shape, params, MACs, receptive field, resolved padding."""
    result = _valid_file(
        path, show_warnings=True, config=_project(config_path, limit), stdin_name=stdin_filename
    )
    assert result.graph is not None
    print(SUMMARY_RENDERERS[output_format.value](result.graph, result.path))


@app.command()
def emit(
    path: Annotated[
        Path | None, typer.Argument(metavar="PATH", help="One spec file (not with --all).")
    ] = None,
    target: Annotated[
        TargetName | None,
        typer.Option(help="The framework to emit for (not with --all)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Write here (atomically), not stdout.")
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            help="Write nothing; exit 1 with a diff if OUT (with --all: any mapped file) "
            "differs from what would be written, or is missing."
        ),
    ] = False,
    all_mapped: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Every file of the project config's emit map ([[tool.specgen.emit]]).",
        ),
    ] = False,
    limit: LimitOption = None,
    stdin_filename: StdinNameOption = None,
    config_path: ConfigOption = None,
) -> None:
    """Emit model source for Keras 3 or PyTorch; build_model() returns the network.

    With --all, regenerate every file the project config maps a spec to (only those that
    change are written); with --all --check, verify them all."""
    from specgen.emit import emit_file

    config = _project(config_path, limit)
    if all_mapped:
        given = [
            flag for flag, value in (("PATH", path), ("--target", target), ("-o", out)) if value
        ]
        if given:
            _usage_exit(
                [
                    "--all takes the specs, targets and files from the config; drop "
                    + ", ".join(given)
                ]
            )
        _emit_all(config, check=check)
    if path is None or target is None:
        _usage_exit(
            ["give a spec file and --target keras|pytorch (or --all for the project's emit map)"]
        )
    if check and out is None:
        _usage_exit(["--check needs -o/--out: the file to compare with"])
    result = _valid_file(path, show_warnings=False, config=config, stdin_name=stdin_filename)
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


def _emit_all(config: Config, *, check: bool) -> NoReturn:
    """`emit --all [--check]`: every generated file of the emit map. A spec used by several
    rules is checked once; a file is written only when its text changes (so an unchanged
    file keeps its time stamp). Exit 1 when a spec has errors or, with --check, when a
    file is stale or missing; 2 when a file cannot be read or written."""
    from specgen.emit import current_text, drift, emit_file, write_output

    if not config.emit:
        where = relative(config.path) if config.path is not None else "no project config found"
        _usage_exit(
            [
                f"--all: the project config has no emit map ({where}); add an [[emit]] table "
                "(or [[tool.specgen.emit]] in pyproject.toml) with spec, target and out"
            ]
        )
    mapped, problems = config.mapped()
    colour = use_colour(sys.stderr)
    if problems:
        for problem in problems:
            print(format_diagnostic(problem, colour=colour), file=sys.stderr)
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        _usage_exit([f"the emit map has {count}; nothing was emitted"])
    checked: dict[Path, FileResult] = {}
    failed = usage = 0
    changed: list[str] = []
    for item in mapped:
        spec_shown, out_shown = relative(item.spec), relative(item.out)
        result = checked.get(item.spec)
        if result is None:
            try:
                result = checked[item.spec] = _check(Path(spec_shown), config)
            except UsageProblem as problem:
                print(f"specgen: error: {problem}", file=sys.stderr)
                usage += 1
                continue
            if result.graph is None or result.document is None:
                VALIDATE_REPORTERS["text"](
                    [FileOutcome(result.path, result.report.diagnostics, True)],
                    sys.stdout,
                    sys.stderr,
                )
        if result.graph is None or result.document is None:
            failed += 1
            continue
        outcome = emit_file(result, item.target, None, check=False)  # the source only
        for finding in locate(outcome.findings, result):
            print(format_diagnostic(finding, colour=colour), file=sys.stderr)
        if outcome.source is None:  # what the target cannot express (SG401)
            failed += 1
            continue
        out_path = Path(out_shown)
        current, unreadable = current_text(out_path)
        if current == outcome.source:
            continue
        if check:
            state = unreadable or ("stale" if current is not None else "missing")
            print(
                f"specgen: {out_shown}: {state}: {spec_shown} emits it for {item.target}",
                file=sys.stderr,
            )
            if current is not None:
                sys.stdout.write(drift(current, outcome.source, out_shown, spec_shown))
            changed.append(out_shown)
            continue
        try:
            out_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            print(
                f"specgen: error: {out_path.parent}: cannot create the folder: "
                f"{error.strerror or error}",
                file=sys.stderr,
            )
            usage += 1
            continue
        trouble = write_output(out_path, outcome.source)
        if trouble is not None:
            print(f"specgen: error: {trouble}", file=sys.stderr)
            usage += 1
            continue
        print(f"specgen: wrote {out_shown} ({spec_shown}, {item.target})", file=sys.stderr)
        changed.append(out_shown)
    total = len(mapped)
    files = f"{total} generated file{'s' if total != 1 else ''}"
    if check:
        verdict = (
            f"{len(changed)} out of date; run 'specgen emit --all'"
            if changed
            else ("all up to date" if not failed and not usage else "none out of date")
        )
    else:
        verdict = f"{len(changed)} written, {total - len(changed) - failed - usage} unchanged"
    if failed:
        verdict += f", {failed} not emitted (the spec has errors)"
    if usage:
        verdict += f", {usage} could not be read or written"
    print(f"specgen: {files}: {verdict}", file=sys.stderr)
    if usage:
        raise typer.Exit(2)
    raise typer.Exit(1 if failed or (check and changed) else 0)


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
    config_path: ConfigOption = None,
) -> None:
    """Print the spec with every block expanded into plain layers (like `cpp -E`).

    The output is a valid spec that validates to the same graph: same layer names,
    same wiring, same shapes.
    """
    from specgen.expand import flat_json, flat_yaml

    result = _valid_file(
        path, show_warnings=True, config=_project(config_path, limit), stdin_name=stdin_filename
    )
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
    config_path: ConfigOption = None,
) -> None:
    """Draw the network: a box per layer with its key arguments, edges labelled with the
    shapes that flow on them, block instances as clusters, the outputs marked."""
    from specgen.diagram import DIAGRAM_WRITERS, GraphvizError, dot, svg

    program = shutil.which("dot") if output_format is DiagramFormat.svg else None
    if output_format is DiagramFormat.svg and program is None:
        _usage_exit([NO_DOT])
    result = _valid_file(
        path, show_warnings=True, config=_project(config_path, limit), stdin_name=stdin_filename
    )
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
    # What start-up built (modules, pydantic's validators) lives until exit: the cyclic
    # collector need not rescan it each time it runs between files.
    gc.freeze()
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
