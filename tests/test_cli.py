"""The command line, end to end: exit codes, output formats, and output that cannot be forged.

Most tests run the real program in a subprocess (``python -m specgen``), exactly as a user
or a pre-commit hook would; the cheaper ones call `specgen.cli.main` in-process and catch
its `SystemExit`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import specgen.check
import specgen.cli

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
CIFAR = SPECS / "cifar10_cnn.yaml"
# The same network without its `allow: [SG301]` (and the comment on it): the warning shows.
WARNED = Path(__file__).resolve().parent / "warned" / "cifar10_cnn.yaml"
INVALID = Path(__file__).resolve().parent / "invalid"

# conv1 8x8 -> 6x6, pool 3 -> 2x2, conv3's 3x3 kernel does not fit: SG201 at kernel_size.
KERNEL_TOO_LARGE = """\
specgen: 1
name: tiny
input: {shape: [8, 8, 3]}
layers:
  - {type: conv2d, filters: 4, kernel_size: 3, name: conv1}
  - {type: max_pool2d, pool_size: 3}
  - {type: conv2d, filters: 4, kernel_size: 3, name: conv3}
"""
KERNEL_TOO_LARGE_MESSAGE = (
    "error[SG201]: layer 'conv3' (conv2d): kernel 3x3 does not fit input 2x2 with padding 0x0: "
    "floor((2 + 0 - 3) / 1) + 1 = 0 [$.layers[2].kernel_size]"
)

UNKNOWN_TYPE = """\
specgen: 1
name: other
input: {shape: [8, 8, 3]}
layers:
  - {type: conv, filters: 4, kernel_size: 3}
"""

VALID_SMALL = """\
specgen: 1
name: small
input: {shape: [8, 8, 3]}
layers:
  - {type: conv2d, filters: 4, kernel_size: 3}
  - {type: flatten}
  - {type: dense, units: 2, activation: softmax}
"""

CIFAR_SHAPES = [
    [32, 32, 3],
    [30, 30, 32],
    [15, 15, 32],
    [13, 13, 64],
    [6, 6, 64],
    [4, 4, 64],
    [1024],
    [64],
    [10],
]
# Keras' own count for each layer of cifar10_cnn (see tests/test_keras_reference.py).
CIFAR_PARAMS = [0, 896, 0, 18496, 0, 36928, 0, 65600, 650]
# H*W*filters*kh*kw*cin per conv, in*out per dense.
CIFAR_MACS = [
    0,
    30 * 30 * 32 * 3 * 3 * 3,
    0,
    13 * 13 * 64 * 3 * 3 * 32,
    0,
    4 * 4 * 64 * 3 * 3 * 64,
    0,
    1024 * 64,
    64 * 10,
]

DIAGNOSTIC_KEYS = {
    "path",
    "line",
    "column",
    "json_path",
    "code",
    "severity",
    "message",
    "hint",
    "notes",
    "allowed",
}
# The first line of a text diagnostic: path:line:col: severity[CODE]: message
FINDING_LINE = re.compile(r"^(?P<where>.+?):(?:(?P<line>\d+):(?P<col>\d+):)? (?:error|warning)\[")


@dataclass
class Run:
    code: int
    out: str
    err: str


def run(args: Sequence[str | Path], cwd: Path = ROOT) -> Run:
    """The real program, in a fresh interpreter."""
    proc = subprocess.run(
        [sys.executable, "-m", "specgen", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def run_main(args: Sequence[str | Path], capsys: pytest.CaptureFixture[str]) -> Run:
    """`specgen.cli.main` in this process; it always ends with SystemExit."""
    with pytest.raises(SystemExit) as excinfo:
        specgen.cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    code = excinfo.value.code
    return Run(0 if code is None else int(code), captured.out, captured.err)


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def assert_no_traceback(result: Run) -> None:
    for stream in (result.out, result.err):
        assert "Traceback" not in stream
        assert "internal error" not in stream


def findings(result: Run) -> list[dict[str, Any]]:
    payload = json.loads(result.out)
    return [d for f in payload["files"] for d in f["diagnostics"]]


def first_line(d: dict[str, Any]) -> str:
    where = d["path"] + (f":{d['line']}:{d['column']}" if d["line"] is not None else "")
    return f"{where}: {d['severity']}[{d['code']}]: {d['message']} [{d['json_path']}]"


# --- validate: exit codes -------------------------------------------------------------------


def test_the_warned_copy_is_the_showcase_without_its_allow() -> None:
    shown = CIFAR.read_text(encoding="utf-8").replace(", allow: [SG301]", "")
    shown = "".join(line for line in shown.splitlines(True) if not line.startswith("  #"))
    assert shown == WARNED.read_text(encoding="utf-8")


def test_validate_cifar10_passes_despite_a_warning() -> None:
    result = run(["validate", WARNED])
    assert result.code == 0, result.err
    assert "warning[SG301]" in result.err
    assert "error[" not in result.err
    assert result.out == ""  # diagnostics go to stderr, stdout stays clean
    assert_no_traceback(result)


def test_validate_strict_fails_on_the_cifar10_warning_unless_allowed() -> None:
    result = run(["validate", "--strict", WARNED])
    assert result.code == 1
    assert "warning[SG301]" in result.err
    result = run(["validate", "--strict", CIFAR])  # the committed file acknowledges it
    assert result.code == 0 and "1 allowed" in result.err


def test_validate_strict_passes_a_spec_without_warnings(tmp_path: Path) -> None:
    result = run(["validate", "--strict", write(tmp_path, "ok.yaml", VALID_SMALL)])
    assert result.code == 0, result.err
    assert "error[" not in result.err and "warning[" not in result.err


def test_validate_bad_spec_exact_first_line_and_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "net.yaml", KERNEL_TOO_LARGE)
    result = run(["validate", "net.yaml"], cwd=tmp_path)
    assert result.code == 1
    lines = result.err.splitlines()
    column = KERNEL_TOO_LARGE.splitlines()[6].rindex("kernel_size: 3") + len("kernel_size: ") + 1
    assert column == 45
    assert lines[0] == f"net.yaml:7:{column}: {KERNEL_TOO_LARGE_MESSAGE}"
    assert lines[1] == (
        "  hint: use padding: same, a smaller kernel_size, or remove a pooling layer before it"
    )
    assert path.read_text(encoding="utf-8") == KERNEL_TOO_LARGE  # validate never writes
    assert_no_traceback(result)


def test_validate_reports_every_file_in_one_run(tmp_path: Path) -> None:
    first = write(tmp_path, "first.yaml", KERNEL_TOO_LARGE)
    second = write(tmp_path, "second.yaml", UNKNOWN_TYPE)
    result = run(["validate", first, second, WARNED])
    assert result.code == 1
    assert f"{first}:7:45: error[SG201]" in result.err
    assert f"{second}:5:12: error[SG105]" in result.err
    assert "did you mean 'conv2d'?" in result.err
    assert f"{WARNED}:9:35: warning[SG301]" in result.err
    assert "3 files checked, 2 failed" in result.err


def test_validate_valid_and_warning_only_files_exit_0(tmp_path: Path) -> None:
    result = run(["validate", write(tmp_path, "ok.yaml", VALID_SMALL), CIFAR])
    assert result.code == 0, result.err


@pytest.mark.parametrize(
    "make_args",
    [
        pytest.param(lambda tmp: ["validate", tmp / "missing.yaml"], id="missing-file"),
        pytest.param(lambda tmp: ["validate", tmp / "empty"], id="folder-without-specs"),
        pytest.param(lambda tmp: ["validate", tmp / "dir.yaml"], id="directory-with-yaml-suffix"),
        pytest.param(lambda tmp: ["validate", tmp / "notes.txt"], id="txt-file"),
        pytest.param(lambda tmp: ["validate", tmp / "ok.yaml" / "x.yaml"], id="under-a-file"),
        pytest.param(lambda tmp: ["validate", tmp / "dangling.yaml"], id="dangling-symlink"),
        pytest.param(lambda tmp: ["validate", "--bogus", CIFAR], id="unknown-option"),
        pytest.param(lambda tmp: ["validate", "--format", "xml", CIFAR], id="unknown-format"),
        pytest.param(lambda tmp: ["validate"], id="no-paths"),
        pytest.param(lambda tmp: ["frobnicate"], id="unknown-command"),
        pytest.param(lambda tmp: ["summary", tmp / "missing.yaml"], id="summary-missing"),
        pytest.param(lambda tmp: ["summary", tmp / "notes.txt"], id="summary-txt"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, make_args: Any) -> None:
    write(tmp_path, "ok.yaml", VALID_SMALL)
    write(tmp_path, "notes.txt", VALID_SMALL)
    (tmp_path / "dir.yaml").mkdir()
    (tmp_path / "empty").mkdir()
    (tmp_path / "dangling.yaml").symlink_to(tmp_path / "nowhere.yaml")
    result = run(make_args(tmp_path))
    assert result.code == 2, (result.out, result.err)
    assert result.err.strip(), "a usage error must say what is wrong"
    assert_no_traceback(result)


def test_usage_error_messages_name_the_problem(tmp_path: Path) -> None:
    (tmp_path / "dir.yaml").mkdir()
    write(tmp_path, "notes.txt", VALID_SMALL)
    missing = run(["validate", tmp_path / "missing.yaml"])
    assert f"specgen: error: {tmp_path / 'missing.yaml'}: cannot read" in missing.err
    directory = run(["validate", tmp_path / "dir.yaml"])
    assert f"specgen: error: {tmp_path / 'dir.yaml'}: a folder with no spec file" in directory.err
    summary = run(["summary", tmp_path / "dir.yaml"])
    assert f"specgen: error: {tmp_path / 'dir.yaml'}: is a directory" in summary.err
    txt = run(["validate", tmp_path / "notes.txt"])
    assert "not a spec file (expected .json, .yaml or .yml)" in txt.err
    option = run(["validate", "--bogus", CIFAR])
    assert "--bogus" in option.err


def test_missing_path_does_not_hide_other_files_findings(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", KERNEL_TOO_LARGE)
    missing = tmp_path / "missing.yaml"
    result = run(["validate", bad, missing, WARNED])
    assert result.code == 2  # a usage error wins over findings
    assert f"{bad}:7:45: error[SG201]" in result.err
    assert f"{WARNED}:9:35: warning[SG301]" in result.err
    assert f"{missing}: cannot read" in result.err

    as_json = run(["validate", "--format", "json", bad, missing])
    assert as_json.code == 2
    payload = json.loads(as_json.out)
    assert [f["path"] for f in payload["files"]] == [str(bad)]
    assert payload["files"][0]["diagnostics"][0]["code"] == "SG201"
    assert f"{missing}: cannot read" in as_json.err


def test_usage_line_shows_no_python_internals() -> None:
    """The usage line is for users: no parameter names from the code.

    (Typer writes a required argument as ``{PATH}`` and shows its type in the argument
    table; both are its conventions, not leaks.)
    """
    result = run(["validate", "--help"])
    assert result.code == 0
    usage = result.out.splitlines()[0]
    assert usage.startswith("Usage: specgen validate")
    assert "paths" not in usage and "PATH" in usage, usage


# --- validate: formats ----------------------------------------------------------------------


def test_validate_json_format(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", KERNEL_TOO_LARGE)
    result = run(["validate", "--format", "json", bad, WARNED])
    assert result.code == 1
    payload = json.loads(result.out)
    assert set(payload) >= {"version", "files", "errors", "warnings", "allowed"}
    assert payload["version"] == 1
    assert (payload["errors"], payload["warnings"]) == (1, 1)
    by_path = {f["path"]: f for f in payload["files"]}
    assert set(by_path) == {str(bad), str(WARNED)}
    assert by_path[str(bad)]["valid"] is False
    assert by_path[str(WARNED)]["valid"] is True
    (error,) = by_path[str(bad)]["diagnostics"]
    assert set(error) == DIAGNOSTIC_KEYS
    assert error == {
        "path": str(bad),
        "line": 7,
        "column": 45,
        "json_path": "$.layers[2].kernel_size",
        "code": "SG201",
        "severity": "error",
        "message": "layer 'conv3' (conv2d): kernel 3x3 does not fit input 2x2 with padding "
        "0x0: floor((2 + 0 - 3) / 1) + 1 = 0",
        "hint": "use padding: same, a smaller kernel_size, or remove a pooling layer before it",
        "notes": [],
        "allowed": False,
    }
    (warning,) = by_path[str(WARNED)]["diagnostics"]
    assert set(warning) == DIAGNOSTIC_KEYS
    assert (warning["code"], warning["severity"]) == ("SG301", "warning")
    assert (warning["line"], warning["column"]) == (9, 35)
    assert warning["json_path"] == "$.layers[3].pool_size"


def test_validate_json_format_strict_marks_warning_files_invalid() -> None:
    result = run(["validate", "--format", "json", "--strict", WARNED])
    assert result.code == 1
    payload = json.loads(result.out)
    assert payload["files"][0]["valid"] is False
    assert (payload["errors"], payload["warnings"]) == (0, 1)


def test_validate_github_format(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", KERNEL_TOO_LARGE)
    result = run(["validate", "--format", "github", "bad.yaml"], cwd=tmp_path)
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines == [
        "::error file=bad.yaml,line=7,col=45,title=specgen SG201::layer 'conv3' (conv2d): "
        "kernel 3x3 does not fit input 2x2 with padding 0x0: floor((2 + 0 - 3) / 1) + 1 = 0"
        "%0Ahint: use padding: same, a smaller kernel_size, or remove a pooling layer before it"
    ]
    assert "error[" not in result.err  # annotations go to stdout only
    assert bad.exists()


def test_validate_github_format_warning_and_escaped_file_property(tmp_path: Path) -> None:
    directory = tmp_path / "a,b:c"
    directory.mkdir()
    write(directory, "x,y:z.yaml", KERNEL_TOO_LARGE)
    result = run(["validate", "--format", "github", "a,b:c/x,y:z.yaml", WARNED], cwd=tmp_path)
    assert result.code == 1
    error_line, warning_line = result.out.splitlines()
    assert error_line.startswith(
        "::error file=a%2Cb%3Ac/x%2Cy%3Az.yaml,line=7,col=45,title=specgen SG201::"
    )
    assert warning_line.startswith(f"::warning file={WARNED},line=9,col=35,title=specgen SG301::")
    assert "%0Ahint: " in warning_line


# --- user text cannot forge output ----------------------------------------------------------

# Each document smuggles a newline followed by a fake finding into a different place.
FORGERIES = {
    "layer-name": """\
specgen: 1
name: forged
input: {shape: [8, 8, 3]}
layers:
  - {type: dense, units: 2, name: "n\\nforged.yaml:1:1: error[SG999]: forged"}
""",
    "key": """\
specgen: 1
name: forged
input: {shape: [8, 8, 3]}
layers:
  - {type: flatten, "bad\\nforged.yaml:1:1: error[SG999]: forged": 1}
""",
    "value": """\
specgen: 1
name: forged
input: {shape: [8, 8, 3]}
layers:
  - {type: conv2d, filters: 4, kernel_size: 3, activation: "relu\\nforged.yaml:1:1: error[SG9]"}
""",
    "block-scalar": """\
specgen: 1
name: |
  model
  forged.yaml:1:1: error[SG999]: forged
input: {shape: [8, 8, 3]}
layers:
  - {type: flatten}
""",
    "layer-type": """\
specgen: 1
name: forged
input: {shape: [8, 8, 3]}
layers:
  - {type: "conv\\nforged.yaml:1:1: error[SG999]: forged", filters: 4}
""",
    "layer-type-with-valid-name": """\
specgen: 1
name: forged
input: {shape: [8, 8, 3]}
layers:
  - {name: ok, type: "conv\\nforged.yaml:1:1: error[SG999]: forged"}
""",
    "version": """\
specgen: "1\\nforged.yaml:1:1: error[SG999]: forged"
name: forged
input: {shape: [8, 8, 3]}
layers:
  - {type: flatten}
""",
    "inputs": """\
specgen: 1
name: forged
input: {shape: [8, 8, 3]}
layers:
  - {type: flatten, inputs: ["x\\nforged.yaml:1:1: error[SG999]: forged"]}
""",
}


@pytest.mark.parametrize("where", list(FORGERIES))
def test_user_text_cannot_forge_a_finding(tmp_path: Path, where: str) -> None:
    spec = write(tmp_path, "spec.yaml", FORGERIES[where])
    as_json = run(["validate", "--format", "json", spec])
    assert as_json.code == 1
    found = findings(as_json)
    assert found, "each forgery document is invalid"

    text = run(["validate", spec])
    assert text.code == 1
    expected = {first_line(d) for d in found}
    for line in (text.out + text.err).splitlines():
        if line.startswith("  hint: ") or line.startswith("specgen: "):
            continue
        assert line in expected, f"line not produced by a real finding: {line!r}"
    assert len(re.findall(r"(?m)^\S.*(?:error|warning)\[SG\d+\]", text.err)) == len(found)
    assert "forged.yaml" not in {
        m.group("where") for m in map(FINDING_LINE.match, text.err.splitlines()) if m
    }

    github = run(["validate", "--format", "github", spec])
    assert github.code == 1
    annotations = github.out.splitlines()
    assert len(annotations) == len(found)
    assert all(line.startswith(("::error ", "::warning ")) for line in annotations)


def test_file_name_cannot_forge_a_finding(tmp_path: Path) -> None:
    name = "n\nforged.yaml:1:1: error[SG999]: forged.yaml"
    write(tmp_path, name, KERNEL_TOO_LARGE)
    result = run(["validate", name], cwd=tmp_path)
    assert result.code == 1
    lines = result.err.splitlines()
    assert lines[0] == f"{repr(name)[1:-1]}:7:45: {KERNEL_TOO_LARGE_MESSAGE}"
    assert len([line for line in lines if "error[" in line]) == 1


# --- summary --------------------------------------------------------------------------------


def test_summary_text_cifar10() -> None:
    result = run(["summary", CIFAR])
    assert result.code == 0, result.err
    rows = [line for line in result.out.splitlines() if re.match(r"^\w+ \(\w+\)\s+\[", line)]
    assert len(rows) == len(CIFAR_SHAPES)
    for row, shape, params in zip(rows, CIFAR_SHAPES, CIFAR_PARAMS, strict=True):
        shown = "[" + ", ".join(map(str, shape)) + "]"
        assert f" {shown} " in row, row
        assert f" {params:,} " in row, row
    assert "Total params: 122,570" in result.out
    assert "Trainable params: 122,570" in result.out
    assert "Non-trainable params: 0" in result.out
    assert f"Total MACs: {sum(CIFAR_MACS):,}" in result.out
    assert "warning[SG301]" not in result.err  # acknowledged in the file
    warned = run(["summary", WARNED])
    assert warned.code == 0 and "warning[SG301]" in warned.err  # warnings shown, on stderr


def test_summary_json_cifar10() -> None:
    result = run(["summary", "--format", "json", CIFAR])
    assert result.code == 0, result.err
    payload = json.loads(result.out)
    assert payload["name"] == "cifar10_cnn"
    assert payload["input_shape"] == [32, 32, 3]
    assert [layer["output_shape"] for layer in payload["layers"]] == CIFAR_SHAPES
    assert [layer["params"] for layer in payload["layers"]] == CIFAR_PARAMS
    assert [layer["macs"] for layer in payload["layers"]] == CIFAR_MACS
    assert payload["total_params"] == 122570 == sum(CIFAR_PARAMS)
    assert payload["trainable_params"] == 122570
    assert payload["non_trainable_params"] == 0
    assert payload["total_macs"] == sum(CIFAR_MACS) == 4548608
    assert [layer["name"] for layer in payload["layers"]][:3] == [
        "input",
        "conv2d_1",
        "max_pool2d_1",
    ]


def test_summary_on_bad_spec_exits_1(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", KERNEL_TOO_LARGE)
    result = run(["summary", bad])
    assert result.code == 1
    assert f"{bad}:7:45: {KERNEL_TOO_LARGE_MESSAGE}" in result.err
    assert "Total params" not in result.out
    assert_no_traceback(result)


def test_summary_json_on_bad_spec_prints_no_json_table(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", UNKNOWN_TYPE)
    result = run(["summary", "--format", "json", bad])
    assert result.code == 1
    assert "total_params" not in result.out
    assert "error[SG105]" in result.err


# --- schema ---------------------------------------------------------------------------------


def test_schema_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_main(["schema"], capsys)
    assert result.code == 0
    schema = json.loads(result.out)
    assert "$defs" in schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"specgen", "name", "input", "layers"} <= set(schema["required"])


# --- internal errors ------------------------------------------------------------------------


def test_internal_error_exits_3_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object, **kwargs: object) -> Any:
        raise RuntimeError("simulated bug\nTraceback (most recent call last):")

    monkeypatch.setattr(specgen.cli, "check_file", broken)
    for command in (["validate", str(CIFAR)], ["summary", str(CIFAR)]):
        result = run_main(command, capsys)
        assert result.code == 3
        assert result.out == ""
        lines = result.err.splitlines()
        assert len(lines) == 1, lines
        assert "internal error" in lines[0]
        assert "RuntimeError" in lines[0]
        assert "report" in lines[0]
        assert "Traceback" not in result.err


def test_internal_error_line_names_the_spec_and_the_version(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object) -> Any:
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(specgen.check, "build_graph", broken)
    result = run_main(["validate", str(CIFAR)], capsys)
    assert result.code == 3
    [line] = result.err.splitlines()
    assert f"while processing {CIFAR}" in line
    assert f"specgen {specgen.__version__}" in line
    assert "ZeroDivisionError: 'simulated bug'" in line
    assert "--debug" in line


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--debug", "validate", str(CIFAR)], {}),
        (["validate", "--debug", str(CIFAR)], {}),
        (["summary", str(CIFAR), "--debug"], {}),
        (["validate", str(CIFAR)], {"SPECGEN_DEBUG": "1"}),
    ],
)
def test_debug_shows_the_traceback_then_the_same_line(
    args: list[str],
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def broken(*args: object) -> Any:
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(specgen.check, "build_graph", broken)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = run_main(args, capsys)
    assert result.code == 3
    lines = result.err.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert any("in broken" in line for line in lines)
    assert lines[-1].startswith("specgen: internal error (ZeroDivisionError")
    assert result.out == ""


def test_forced_internal_error_in_a_real_process(tmp_path: Path) -> None:
    """The console path end to end: a bug planted in the shape pass, one line without
    --debug, the traceback with it."""
    script = (
        "import sys, specgen.check\n"
        "def broken(*a, **k):\n"
        "    raise KeyError('planted')\n"
        "specgen.check.build_graph = broken\n"
        "from specgen.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    for extra in ([], ["--debug"]):
        done = subprocess.run(
            [sys.executable, "-c", script, "validate", *extra, str(CIFAR)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 3
        assert done.stdout == ""
        lines = done.stderr.splitlines()
        assert lines[-1].startswith("specgen: internal error (KeyError")
        assert str(CIFAR) in lines[-1]
        assert ("Traceback (most recent call last):" in lines) == bool(extra)
        if not extra:
            assert len(lines) == 1


def test_a_file_named_like_the_flag_after_double_dash_is_a_path(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = run_main(["validate", "--", "--debug"], capsys)
    assert result.code == 2
    assert "--debug: not a spec file" in result.err


def test_in_process_main_matches_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(["validate", str(WARNED)], capsys).code == 0
    assert run_main(["validate", "--strict", str(WARNED)], capsys).code == 1
    bad = write(tmp_path, "bad.yaml", KERNEL_TOO_LARGE)
    result = run_main(["validate", str(bad)], capsys)
    assert result.code == 1
    assert result.err.splitlines()[0] == f"{bad}:7:45: {KERNEL_TOO_LARGE_MESSAGE}"
    assert run_main(["validate", str(tmp_path / "missing.json")], capsys).code == 2
    assert run_main(["summary", str(CIFAR)], capsys).code == 0


# --- one program, two entry points ----------------------------------------------------------


def console_script() -> Path:
    found = shutil.which("specgen", path=str(Path(sys.executable).parent))
    assert found is not None, "the specgen console script is not installed next to python"
    return Path(found)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["validate", "--format", "text", "BAD", "specs/cifar10_cnn.yaml"], id="text"),
        pytest.param(["validate", "--format", "json", "BAD", "MISSING"], id="json-missing"),
        pytest.param(["summary", "specs/cifar10_cnn.yaml"], id="summary"),
        pytest.param(["validate", "--bogus"], id="bad-option"),
    ],
)
def test_console_script_and_module_are_the_same_program(tmp_path: Path, args: list[str]) -> None:
    bad = write(tmp_path, "bad.yaml", KERNEL_TOO_LARGE)
    argv = [
        str(bad) if a == "BAD" else str(tmp_path / "missing.yaml") if a == "MISSING" else a
        for a in args
    ]
    module = run(argv)
    script = subprocess.run(
        [str(console_script()), *argv], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert (script.returncode, script.stdout, script.stderr) == (
        module.code,
        module.out,
        module.err,
    )
    assert module.out or module.err


# --- the invalid corpus never crashes -------------------------------------------------------


def corpus() -> list[Path]:
    files = sorted(p for p in INVALID.iterdir() if p.suffix in (".json", ".yaml", ".yml"))
    assert files, "tests/invalid holds the corpus of invalid specs"
    return files


@pytest.mark.parametrize("output_format", ["text", "json", "github"])
def test_invalid_corpus_never_crashes(output_format: str) -> None:
    files = corpus()
    result = run(["validate", "--strict", "--format", output_format, *files])
    assert result.code == 1
    assert_no_traceback(result)
    if output_format == "json":
        payload = json.loads(result.out)
        assert [f["path"] for f in payload["files"]] == [str(p) for p in files]
        for f in payload["files"]:
            assert f["valid"] is False, f["path"]
            assert f["diagnostics"], f["path"]
    else:
        shown = result.err if output_format == "text" else result.out
        for path in files:
            assert str(path) in shown, path


def test_invalid_corpus_summary_never_crashes(capsys: pytest.CaptureFixture[str]) -> None:
    for path in corpus():
        result = run_main(["summary", str(path)], capsys)
        assert result.code in (0, 1), (path, result.err)
        assert_no_traceback(result)
        if result.code == 1:
            assert str(path) in result.err


# --- command-line conventions: -h, standard input, usage errors first ---------------------


def _run_stdin(args: Sequence[str | Path], data: bytes) -> Run:
    proc = subprocess.run(
        [sys.executable, "-m", "specgen", *map(str, args)],
        input=data,
        capture_output=True,
        timeout=120,
        check=False,
    )
    return Run(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def test_dash_h_is_help_everywhere() -> None:
    for args in (["-h"], ["validate", "-h"], ["emit", "-h"], ["summary", "-h"]):
        result = run(args)
        assert result.code == 0, (args, result.err)
        assert result.out.startswith("Usage: specgen"), args
    assert "--stdin-filename" in run(["validate", "-h"]).out


def test_stdin_is_read_with_dash_and_named_by_stdin_filename(tmp_path: Path) -> None:
    bad = KERNEL_TOO_LARGE.encode()
    plain = _run_stdin(["validate", "-"], bad)
    assert plain.code == 1
    assert plain.err.startswith("<stdin>:7:45: error[SG201]")
    named = _run_stdin(["validate", "--stdin-filename", "models/net.yaml", "-"], bad)
    assert named.err.startswith("models/net.yaml:7:45: error[SG201]")
    # The name's extension chooses the syntax: JSON rules (no YAML comments) for .json.
    yaml_only = b"# a YAML comment\n" + (SPECS / "cifar10_cnn.yaml").read_bytes()
    as_json = _run_stdin(["validate", "--stdin-filename", "net.json", "-"], yaml_only)
    assert as_json.code == 1 and "error[SG001]" in as_json.err
    assert _run_stdin(["validate", "-"], yaml_only).code == 0


def test_stdin_works_for_summary_emit_and_expand() -> None:
    spec = CIFAR.read_bytes()
    summary = _run_stdin(["summary", "--format", "json", "-"], spec)
    assert summary.code == 0 and json.loads(summary.out)["path"] == "<stdin>"
    emitted = _run_stdin(["emit", "--target", "pytorch", "-"], spec)
    assert emitted.code == 0 and "def build_model()" in emitted.out
    expanded = _run_stdin(["expand", "--format", "json", "-"], spec)
    assert expanded.code == 0 and json.loads(expanded.out)["name"] == "cifar10_cnn"


def test_stdin_can_be_given_once() -> None:
    result = _run_stdin(["validate", "-", "-"], CIFAR.read_bytes())
    assert result.code == 2
    assert "'-' (standard input) can be given once" in result.err


def test_usage_errors_come_first_and_are_never_counted_as_checked(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    alone = run(["validate", missing])
    assert alone.code == 2
    assert alone.err.splitlines() == [
        f"specgen: error: {missing}: cannot read: No such file or directory"
    ]
    assert "checked" not in alone.err + alone.out
    mixed = run(["validate", CIFAR, missing])
    lines = mixed.err.splitlines()
    assert lines[0] == f"specgen: error: {missing}: cannot read: No such file or directory"
    assert lines[-1].startswith("specgen: 1 file checked")
    (tmp_path / "empty").mkdir()
    directory = run(["validate", tmp_path / "empty"])
    assert directory.code == 2
    assert "a folder with no spec file" in directory.err
    assert "checked" not in directory.err


# --- folders ----------------------------------------------------------------------------------


def test_a_folder_stands_for_the_specs_below_it() -> None:
    every = sorted(
        p for p in SPECS.rglob("*") if p.suffix in (".yaml", ".json") and ".schema." not in p.name
    )
    assert len(every) >= 10 and any(p.parent.name == "zoo" for p in every)
    result = run(["validate", "--strict", "--format", "json", SPECS])
    assert result.code == 0, result.err
    checked = [f["path"] for f in json.loads(result.out)["files"]]
    assert checked == [str(p) for p in every]


def test_validate_strict_over_a_globstar_of_specs_exits_0() -> None:
    """`validate --strict specs/**/*` (the issue's own line), with bash's globstar on, which
    names the folder specs/zoo beside the files in it: each file is checked once."""
    done = subprocess.run(
        [
            "bash",
            "-O",
            "globstar",
            "-c",
            f"{sys.executable} -m specgen validate --strict specs/**/*",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    count = sum(1 for p in SPECS.rglob("*.*") if p.is_file() and ".schema." not in p.name)
    assert f"specgen: {count} files checked, 0 failed" in done.stderr


def test_hidden_folders_are_not_searched(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", VALID_SMALL)
    (tmp_path / ".git").mkdir()
    write(tmp_path / ".git", "broken.yaml", "{")
    result = run(["validate", tmp_path])
    assert result.code == 0, result.err
    assert "1 file checked" in result.err


# --- colour -----------------------------------------------------------------------------------


def _stderr_on_a_terminal(args: list[str | Path], env: dict[str, str]) -> bytes:
    """Run specgen with stderr on a pseudo-terminal; what it wrote there."""
    import pty

    master, slave = pty.openpty()
    try:
        subprocess.run(
            [sys.executable, "-m", "specgen", *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=slave,
            env=env,
            timeout=120,
            check=False,
        )
    finally:
        os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other side is closed and everything was read
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return b"".join(chunks)


def test_colour_on_a_terminal_only_and_never_with_no_color() -> None:
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    base["TERM"] = "xterm-256color"
    shown = _stderr_on_a_terminal(["validate", WARNED], base)
    assert b"\x1b[1;33mwarning[SG301]\x1b[0m" in shown, shown
    assert b"\x1b[36mhint:\x1b[0m" in shown
    for extra in ({"NO_COLOR": "1"}, {"TERM": "dumb"}):
        plain = _stderr_on_a_terminal(["validate", WARNED], {**base, **extra})
        assert b"warning[SG301]" in plain and b"\x1b[" not in plain, extra
    # Not a terminal (a pipe, a file, CI logs): plain text; FORCE_COLOR asks for it anyway.
    piped = run(["validate", WARNED])
    assert "warning[SG301]" in piped.err and "\x1b[" not in piped.err
    forced = subprocess.run(
        [sys.executable, "-m", "specgen", "validate", str(WARNED)],
        capture_output=True,
        text=True,
        env={**base, "FORCE_COLOR": "1"},
        timeout=120,
        check=False,
    )
    assert "\x1b[1;33mwarning[SG301]" in forced.stderr


# --- summary --format markdown --------------------------------------------------------------


@pytest.mark.parametrize("spec", ["cifar10_cnn.yaml", "resnet20_cifar.yaml"])
def test_summary_markdown_renders_as_a_table(spec: str) -> None:
    """Rendered by a CommonMark parser with GFM tables: one table, one row per layer (the
    input too), every row as wide as the header, names and numbers as in the JSON."""
    from html.parser import HTMLParser

    from markdown_it import MarkdownIt

    path = SPECS / spec
    markdown = run(["summary", "--format", "markdown", path])
    assert markdown.code == 0, markdown.err
    layers = json.loads(run(["summary", "--format", "json", path]).out)["layers"]

    class Table(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tables, self.rows, self.cell = 0, [], None

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "table":
                self.tables += 1
            elif tag == "tr":
                self.rows.append([])
            elif tag in ("td", "th"):
                self.cell = ""

        def handle_endtag(self, tag: str) -> None:
            if tag in ("td", "th") and self.cell is not None:
                self.rows[-1].append(self.cell.strip())
                self.cell = None

        def handle_data(self, data: str) -> None:
            if self.cell is not None:
                self.cell += data

    table = Table()
    table.feed(MarkdownIt("commonmark").enable("table").render(markdown.out))
    assert table.tables == 1
    header, *rows = table.rows
    assert header[:2] == ["Layer", "Type"] and "Params" in header and "MACs" in header
    assert len(rows) == len(layers)
    assert all(len(row) == len(header) for row in rows)
    params = header.index("Params")
    for row, layer in zip(rows, layers, strict=True):
        assert row[0] == layer["name"] and row[1] == layer["type"]
        assert row[params] == f"{layer['params']:,}"
    assert "**Total params:**" in markdown.out
    if spec == "resnet20_cifar.yaml":  # a graph with blocks: both extra columns
        assert "Block" in header and "Inputs" in header
