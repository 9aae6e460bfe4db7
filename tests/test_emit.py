"""``specgen emit``: golden output, ruff-clean code, determinism, atomic writes, ``--check``.

The golden files in tests/golden are the emitted source of every spec in specs/ for every
target; ``pytest --update-golden`` rewrites them. They are excluded from the repository's
ruff run and checked here under ruff's *default* settings instead (``--isolated``), because
a user's project has its own configuration, or none.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import specgen.cli
import specgen.emit
from specgen.check import check_file
from specgen.emit import write_atomically
from specgen.layers import LAYER_TYPES
from specgen.targets import TARGETS, emit_source

ROOT = Path(__file__).resolve().parent.parent
SPECS_DIR = ROOT / "specs"
GOLDEN = Path(__file__).resolve().parent / "golden"
CIFAR = SPECS_DIR / "cifar10_cnn.yaml"

SPECS = sorted(
    p
    for p in [*SPECS_DIR.glob("*.json"), *SPECS_DIR.glob("*.yaml"), *SPECS_DIR.glob("*.yml")]
    if not p.name.endswith(".schema.json")  # specs/specgen.schema.json is the spec schema
)
TARGET_NAMES = sorted(TARGETS)
CASES = [pytest.param(spec, t, id=f"{spec.name}-{t}") for spec in SPECS for t in TARGET_NAMES]

# A small valid spec; the file-name tests emit it under hostile file names.
TINY = """\
specgen: 1
name: tiny
input: {shape: [8, 8, 3]}
layers:
  - {type: conv2d, name: conv1, filters: 4, kernel_size: 3, activation: relu}
  - {type: flatten}
  - {type: dense, units: 2, activation: softmax}
"""

# conv1's 9x9 kernel does not fit the 8x8 input: a finding, nothing may be written.
INVALID = """\
specgen: 1
name: broken
input: {shape: [8, 8, 3]}
layers:
  - {type: conv2d, name: conv1, filters: 4, kernel_size: 9}
"""

# Layer names that are the emitted modules' own names (imports, variables, the builder),
# helper names that a spec layer already holds (keras_act), a helper class's name, and
# every lowering that adds helper steps (explicit pads, -inf pads, AvgPool2dSame, split
# activations).
WEIRD_NAMES = ["keras", "keras_act", "layers", "x", "inputs", "nn", "torch", "build_model"]
WEIRD_NAMES += ["self", "F", "AvgPool2dSame", "forward_", "Model"]
WEIRD = """\
specgen: 1
name: model_
input: {shape: [8, 8, 3]}
layers:
  - {type: conv2d, name: keras, filters: 4, kernel_size: 3, padding: [[0, 1], [1, 0]],
     activation: leaky_relu}
  - {type: conv2d, name: keras_act, filters: 4, kernel_size: 1, activation: elu}
  - {type: batch_norm, name: layers}
  - {type: max_pool2d, name: x, pool_size: 2, padding: same}
  - {type: avg_pool2d, name: inputs, pool_size: 2, stride: 1, padding: same}
  - {type: zero_padding2d, name: nn, padding: 1}
  - {type: activation, name: torch, activation: relu}
  - {type: global_avg_pool2d, name: build_model}
  - {type: dense, name: self, units: 3, activation: softmax}
  - {type: dropout, name: F, rate: 0.1}
  - {type: dense, name: AvgPool2dSame, units: 3, activation: linear}
  - {type: dense, name: forward_, units: 3, activation: relu}
  - {type: dense, name: Model, units: 2, activation: linear}
"""

# An asymmetric 'same' average pool: the PyTorch file then defines the AvgPool2dSame
# helper class and imports torch.nn.functional as F.
WITH_HELPER = """\
specgen: 1
name: {name}
input: {{shape: [8, 8, 3]}}
layers:
  - {{type: conv2d, name: {layer}, filters: 4, kernel_size: 3, padding: same, activation: relu}}
  - {{type: avg_pool2d, name: pool, pool_size: 2, stride: 1, padding: same}}
  - {{type: flatten, name: flat}}
  - {{type: dense, name: head, units: 2, activation: softmax}}
"""


@dataclass(frozen=True, slots=True)
class Run:
    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> Run:
    """`specgen.cli.main` in-process: its exit code and what it printed."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        specgen.cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    code = exited.value.code
    assert code is None or isinstance(code, int), code
    return Run(code or 0, captured.out, captured.err)


def emitted(path: Path, target: str) -> str:
    """The source `emit` produces for `path`, through the library (no CLI)."""
    result = check_file(path)
    assert result.graph is not None and result.document is not None, result.report.diagnostics
    source, findings = emit_source(result.graph, target, result.path, result.document.raw)
    assert source is not None, findings
    return source


def execute(source: str) -> dict[str, Any]:
    """Compile and run an emitted module; its namespace."""
    namespace: dict[str, Any] = {"__name__": "specgen_emitted"}
    exec(compile(source, "specgen_emitted", "exec"), namespace)
    return namespace


def import_keras() -> ModuleType:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    return keras


def build_pytorch(source: str, channels_hw: tuple[int, int, int]) -> tuple[Any, Any]:
    """Build the PyTorch model and run one forward pass on zeros: (model, output)."""
    import torch

    model = execute(source)["build_model"]()
    assert isinstance(model, torch.nn.Module)
    model.eval()
    with torch.no_grad():
        output = model(torch.zeros(2, *channels_hw))
    return model, output


def build_keras(source: str, shape: tuple[int, int, int]) -> tuple[Any, Any]:
    """Build the Keras model and run it on zeros: (model, output)."""
    keras = import_keras()
    import numpy as np

    model = execute(source)["build_model"]()
    assert isinstance(model, keras.Model)
    output = model(np.zeros((2, *shape), dtype="float32"), training=False)
    return model, output


def write_spec(folder: Path, filename: str, text: str) -> Path:
    path = folder / filename
    path.write_text(text, encoding="utf-8")
    return path


def ruff(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *(str(a) for a in args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- golden files -----------------------------------------------------------------------


def test_specs_exist_and_stems_are_unique() -> None:
    assert len(SPECS) >= 4
    stems = [spec.stem for spec in SPECS]
    assert len(stems) == len(set(stems)), "two specs share a stem: their golden files collide"


@pytest.mark.parametrize(("spec", "target"), CASES)
def test_golden(
    spec: Path,
    target: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    update_golden: bool,
) -> None:
    monkeypatch.chdir(ROOT)  # the same relative path every time: specs/<name>
    relative = spec.relative_to(ROOT).as_posix()
    run = run_cli(capsys, "emit", relative, "--target", target)
    assert run.code == 0, run.err
    assert run.err == ""
    assert run.out.strip()
    header = run.out.split('"""', 2)[1]
    assert f'from "{spec.name}"' in header
    assert f"Spec sha256: {hashlib.sha256(spec.read_bytes()).hexdigest()}" in header
    golden = GOLDEN / f"{spec.stem}.{target}.py"
    if update_golden:
        GOLDEN.mkdir(exist_ok=True)
        golden.write_bytes(run.out.encode("utf-8"))
    assert golden.is_file(), f"{golden} is missing: run pytest with --update-golden"
    expected = golden.read_bytes().decode("utf-8")
    assert run.out == expected, f"{golden.name} is stale: run pytest with --update-golden"


def test_golden_folder_holds_exactly_the_specs() -> None:
    expected = {f"{spec.stem}.{target}.py" for spec in SPECS for target in TARGET_NAMES}
    assert {path.name for path in GOLDEN.iterdir()} == expected


def ruff_clean(files: list[Path], cwd: Path) -> None:
    """``ruff format --check`` and ``ruff check`` pass under ruff's defaults (no config)."""
    formatted = ruff("format", "--isolated", "--check", "--diff", *files, cwd=cwd)
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr
    checked = ruff("check", "--isolated", "--no-cache", "--select", "E,F,W,I,UP,B", *files, cwd=cwd)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_emitted_code_is_ruff_clean_under_default_settings(tmp_path: Path) -> None:
    """Golden files and freshly emitted files pass ruff format and ruff check, no config."""
    fresh = tmp_path / "emitted"
    fresh.mkdir()
    for spec in SPECS:
        for target in TARGET_NAMES:
            source = emitted(spec, target)
            (fresh / f"{spec.stem}_{target}_model.py").write_text(source, encoding="utf-8")
    golden = sorted(GOLDEN.glob("*.py"))
    assert len(golden) == len(TARGET_NAMES) * len(SPECS)
    ruff_clean([*golden, fresh], tmp_path)


# Every name at the schema's limit of 40 characters, and a file name the label truncates.
LONG_MODEL = "m" * 36 + "_net"
LONG_LAYER = "L" * 40
LONG = f"""\
specgen: 1
name: {LONG_MODEL}
input: {{shape: [224, 224, 3]}}
layers:
  - {{type: conv2d, name: {LONG_LAYER}, filters: 4, kernel_size: 3,
     padding: [[0, 1], [1, 0]], activation: leaky_relu}}
  - {{type: max_pool2d, name: {"p" * 40}, pool_size: 2, padding: same}}
  - {{type: batch_norm, name: {"b" * 40}}}
  - {{type: flatten, name: {"f" * 40}}}
  - {{type: dense, name: {"d" * 40}, units: 10, activation: softmax}}
"""
# The helpers of rescaling, normalization and half-affine batch norm, and per-channel
# values too long for one line (ruff puts one value per line).
SIXTEEN = [round(0.1 * k, 1) for k in range(1, 17)]
PER_CHANNEL = f"""\
specgen: 1
name: per_channel
input: {{shape: [8, 8, 3]}}
layers:
  - {{type: rescaling, scale: 0.00392156862745098, offset: [-0.5, 0, 0.5]}}
  - {{type: normalization, mean: [0.485, 0.456, 0.406], variance: 0.05}}
  - {{type: conv2d, filters: 16, kernel_size: 3, use_bias: false}}
  - {{type: batch_norm, scale: false}}
  - {{type: normalization, mean: 0.123456789, variance: {SIXTEEN}}}
  - {{type: rescaling, name: {"r" * 40}, scale: {SIXTEEN}, offset: {SIXTEEN}}}
  - {{type: normalization}}
  - {{type: batch_norm, center: false}}
"""
EDGE_SPECS = [
    # Exercises the AvgPool2dSame helper, split activations and explicit pads.
    pytest.param("weird.yaml", WEIRD, id="helpers"),
    pytest.param("long_names_" + "n" * 70 + ".yaml", LONG, id="long-names"),
    pytest.param("per_channel.yaml", PER_CHANNEL, id="per-channel"),
]


@pytest.mark.parametrize(("filename", "text"), EDGE_SPECS)
def test_edge_specs_emit_ruff_clean_code(tmp_path: Path, filename: str, text: str) -> None:
    spec = write_spec(tmp_path, filename, text)
    fresh = tmp_path / "emitted"
    fresh.mkdir()
    for target in TARGET_NAMES:
        source = emitted(spec, target)
        compile(source, "specgen_emitted", "exec")
        (fresh / f"edge_{target}_model.py").write_text(source, encoding="utf-8")
    ruff_clean([fresh], tmp_path)


# --- determinism ------------------------------------------------------------------------

HASHSEED_SCRIPT = """\
import json, sys
from pathlib import Path
from specgen.check import check_file
from specgen.targets import TARGETS, emit_source

out = {}
for name in sys.argv[1:]:
    result = check_file(Path(name))
    for target in sorted(TARGETS):
        source, findings = emit_source(result.graph, target, result.path, result.document.raw)
        out[name + ":" + target] = source
sys.stdout.write(json.dumps(out, sort_keys=True))
"""


def run_with_hashseed(seed: str, *argv: str) -> bytes:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def test_emit_is_byte_identical_across_hash_seeds() -> None:
    names = [spec.relative_to(ROOT).as_posix() for spec in SPECS]
    runs = {seed: run_with_hashseed(seed, "-c", HASHSEED_SCRIPT, *names) for seed in ("0", "12345")}
    assert runs["0"] == runs["12345"]
    sources = json.loads(runs["0"])
    assert len(sources) == len(SPECS) * len(TARGET_NAMES)
    for spec in SPECS:
        for target in TARGET_NAMES:
            golden = (GOLDEN / f"{spec.stem}.{target}.py").read_text(encoding="utf-8")
            assert sources[f"{spec.relative_to(ROOT).as_posix()}:{target}"] == golden


@pytest.mark.parametrize("target", TARGET_NAMES)
def test_cli_subprocess_is_byte_identical_across_hash_seeds(target: str) -> None:
    argv = ("-m", "specgen", "emit", "specs/vgg_style.yaml", "--target", target)
    first, second = (run_with_hashseed(seed, *argv) for seed in ("0", "12345"))
    assert first == second
    assert first == (GOLDEN / f"vgg_style.{target}.py").read_bytes()


@pytest.mark.parametrize(("spec", "target"), CASES)
def test_emit_twice_is_identical(
    spec: Path, target: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    relative = spec.relative_to(ROOT).as_posix()
    first = run_cli(capsys, "emit", relative, "--target", target)
    for other in TARGET_NAMES:  # no state leaks from one emission into the next
        assert run_cli(capsys, "emit", relative, "--target", other).code == 0
    second = run_cli(capsys, "emit", relative, "--target", target)
    absolute = run_cli(capsys, "emit", spec, "--target", target)
    assert first.code == second.code == absolute.code == 0
    assert first.out == second.out
    assert absolute.out == first.out, "the output depends on how the path was spelled"
    assert emitted(spec, target) == first.out


def test_output_has_no_timestamp(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / CIFAR.name
    shutil.copyfile(CIFAR, copy)
    outputs = []
    for stamp in (1_000_000_000, 2_000_000_000):
        os.utime(copy, (stamp, stamp))
        run = run_cli(capsys, "emit", copy, "--target", "pytorch")
        assert run.code == 0, run.err
        outputs.append(run.out)
    assert outputs[0] == outputs[1]
    # Another folder, another mtime: still the golden file, byte for byte.
    assert outputs[0] == (GOLDEN / "cifar10_cnn.pytorch.py").read_text(encoding="utf-8")
    assert not re.search(r"\b(19|20)\d\d-[01]\d-[0-3]\d\b|\d\d:\d\d:\d\d", outputs[0])


# --- -o and --check ---------------------------------------------------------------------


def test_out_writes_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model.py"
    run = run_cli(capsys, "emit", CIFAR, "--target", "keras", "-o", out)
    assert run.code == 0, run.err
    assert run.out == ""
    assert out.read_bytes() == emitted(CIFAR, "keras").encode("utf-8")
    assert out.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py"]


def test_out_overwrites_and_keeps_permissions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model.py"
    out.write_text("old\n", encoding="utf-8")
    out.chmod(0o600)
    run = run_cli(capsys, "emit", CIFAR, "--target", "pytorch", "--out", out)
    assert run.code == 0, run.err
    assert out.read_text(encoding="utf-8") == emitted(CIFAR, "pytorch")
    assert out.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py"]


def test_check_up_to_date(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model.py"
    assert run_cli(capsys, "emit", CIFAR, "--target", "pytorch", "-o", out).code == 0
    before = out.read_bytes()
    run = run_cli(capsys, "emit", CIFAR, "--target", "pytorch", "-o", out, "--check")
    assert run.code == 0, run.out + run.err
    assert run.out == ""
    assert out.read_bytes() == before


def diff_lines(text: str) -> list[str]:
    lines = text.splitlines()
    assert any(line.startswith("--- ") for line in lines), text
    assert any(line.startswith("+++ ") for line in lines), text
    assert any(line.startswith("@@ ") for line in lines), text
    return lines


def test_check_stale_prints_a_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model.py"
    source = emitted(CIFAR, "pytorch")
    stale = source.replace("nn.Softmax(dim=1)", "nn.Identity()")
    assert stale != source
    out.write_text(stale, encoding="utf-8")
    run = run_cli(capsys, "emit", CIFAR, "--target", "pytorch", "-o", out, "--check")
    assert run.code == 1
    lines = diff_lines(run.out)
    assert any(line.startswith("-") and "nn.Identity()" in line for line in lines)
    assert any(line.startswith("+") and "nn.Softmax(dim=1)" in line for line in lines)
    assert out.read_text(encoding="utf-8") == stale, "--check must not write"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py"]


def test_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model.py"
    run = run_cli(capsys, "emit", CIFAR, "--target", "keras", "-o", out, "--check")
    assert run.code == 1
    lines = diff_lines(run.out)
    assert any(line.startswith("+import keras") for line in lines)
    assert not out.exists(), "--check must not create the file"


def test_check_without_out_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, "emit", CIFAR, "--target", "keras", "--check")
    assert run.code == 2
    assert run.out == ""
    assert "specgen: error:" in run.err
    assert "Traceback" not in run.err


# --- atomic writes ----------------------------------------------------------------------

OLD = b"# hand-written, must survive\r\nkeep = 'me'\n\x00\xff"


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_failed_write_keeps_the_old_file(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
) -> None:
    out = tmp_path / "model.py"
    out.write_bytes(OLD)

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(specgen.emit.os, failing, fail)
    run = run_cli(capsys, "emit", CIFAR, "--target", "pytorch", "-o", out)
    monkeypatch.undo()
    assert run.code == 2
    assert "cannot write" in run.err
    assert "No space left on device" in run.err
    assert "Traceback" not in run.err
    assert out.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py"]


def test_failed_write_of_a_new_file_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "model.py"

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(specgen.emit.os, "replace", fail)
    run = run_cli(capsys, "emit", CIFAR, "--target", "keras", "-o", out)
    monkeypatch.undo()
    assert run.code == 2
    assert list(tmp_path.iterdir()) == []


def test_unexpected_error_mid_write_is_an_internal_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "model.py"
    out.write_bytes(OLD)

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(specgen.emit.os, "replace", fail)
    run = run_cli(capsys, "emit", CIFAR, "--target", "keras", "-o", out)
    monkeypatch.undo()
    assert run.code == 3
    assert "internal error" in run.err
    assert "Traceback" not in run.err
    assert len(run.err.strip().splitlines()) == 1
    assert out.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py"]


def test_interrupted_write_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "model.py"
    out.write_bytes(OLD)

    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(specgen.emit.os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(out, "new\n" * 10_000)
    monkeypatch.undo()
    assert out.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py"]


@pytest.mark.parametrize("existing", [True, False], ids=["existing", "absent"])
def test_invalid_spec_never_touches_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], existing: bool
) -> None:
    spec = write_spec(tmp_path, "broken.yaml", INVALID)
    out = tmp_path / "model.py"
    if existing:
        out.write_bytes(OLD)
    for target in TARGET_NAMES:
        for extra in ((), ("--check",)):
            run = run_cli(capsys, "emit", spec, "--target", target, "-o", out, *extra)
            assert run.code == 1, run.err
            assert "error[SG" in run.err
            assert "Traceback" not in run.err
            if existing:
                assert out.read_bytes() == OLD
            else:
                assert not out.exists()
    expected = ["broken.yaml", "model.py"] if existing else ["broken.yaml"]
    assert sorted(p.name for p in tmp_path.iterdir()) == expected


def test_unsupported_for_target_never_touches_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, "shadow.yaml", TINY.replace("name: conv1", "name: forward"))
    out = tmp_path / "model.py"
    out.write_bytes(OLD)
    run = run_cli(capsys, "emit", spec, "--target", "pytorch", "-o", out)
    assert run.code == 1
    assert "SG401" in run.err
    assert out.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py", "shadow.yaml"]


def test_out_into_missing_folder_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "no" / "such" / "folder" / "model.py"
    run = run_cli(capsys, "emit", CIFAR, "--target", "keras", "-o", out)
    assert run.code == 2
    assert run.out == ""
    assert run.err.startswith("specgen: error:")
    assert "cannot write" in run.err
    assert "Traceback" not in run.err
    assert list(tmp_path.iterdir()) == []


# --- spec values never become code --------------------------------------------------------


def test_weird_names_compile_and_build_pytorch(tmp_path: Path) -> None:
    source = emitted(write_spec(tmp_path, "weird.yaml", WEIRD), "pytorch")
    assert "class AvgPool2dSame(nn.Module)" in source  # the helper is exercised
    model, output = build_pytorch(source, (3, 8, 8))
    children = [name for name, _ in model.named_children()]
    for name in WEIRD_NAMES:
        assert name in children, (name, children)
    assert tuple(output.shape) == (2, 2)
    # The builder and the class are still the module's, not shadowed by a layer's name.
    assert type(model).__name__ == "Model"


def test_weird_names_compile_and_build_keras(tmp_path: Path) -> None:
    source = emitted(write_spec(tmp_path, "weird.yaml", WEIRD), "keras")
    model, output = build_keras(source, (8, 8, 3))
    names = [layer.name for layer in model.layers]
    for name in WEIRD_NAMES:
        assert name in names, (name, names)
    assert len(names) == len(set(names))
    assert model.name == "model_"
    assert tuple(output.shape) == (2, 2)


@pytest.mark.parametrize(
    "filename",
    [
        "we\"ird 'name.yaml",
        'tri"""ple.yaml',
        "x'''); import os; ('.yaml",
        "back\\slash.yaml",
        "new\nline.yaml",
        "ünï cødé.yaml",
        "{m.name}{{ 1 }}.yaml",
    ],
)
@pytest.mark.parametrize("target", TARGET_NAMES)
def test_spec_file_name_is_sanitized(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], filename: str, target: str
) -> None:
    reference = emitted(write_spec(tmp_path, "reference.yaml", TINY), target)
    spec = write_spec(tmp_path, filename, TINY)
    run = run_cli(capsys, "emit", spec, "--target", target)
    assert run.code == 0, run.err
    head, blank, label_line, rest = run.out.split("\n", 3)
    assert blank == ""
    assert re.fullmatch(r'"""(?:Keras 3|PyTorch) model tiny, generated by specgen\.', head)
    match = re.fullmatch(r'Generated from "([A-Za-z0-9._-]+)"; do not edit\.', label_line)
    assert match, label_line
    assert match.group(1).endswith(".yaml")
    # Nothing but the label differs from the same spec under a plain name.
    assert rest == reference.split("\n", 3)[3]
    compile(run.out, "specgen_emitted", "exec")


@pytest.mark.parametrize("name", ["forward", "training", "parameters", "to", "cuda", "eval"])
def test_layer_shadowing_a_module_attribute_is_a_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    spec = write_spec(tmp_path, "shadow.yaml", TINY.replace("name: conv1", f"name: {name}"))
    run = run_cli(capsys, "emit", spec, "--target", "pytorch")
    assert run.code == 1
    assert run.out == ""
    assert "SG401" in run.err
    assert repr(name) in run.err
    keras_run = run_cli(capsys, "emit", spec, "--target", "keras")  # Keras has no such issue
    assert keras_run.code == 0, keras_run.err
    assert f'name="{name}"' in keras_run.out


@pytest.mark.parametrize(
    "name", ["_modules", "_parameters", "_version", "_call_impl", "__class__", "__init__", "__x"]
)
def test_private_layer_names_never_break_the_pytorch_module(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """A layer named like nn.Module's private attributes, or mangled by Python, either is
    refused with a finding, or emits a module that builds, runs and keeps the spec's name."""
    spec = write_spec(tmp_path, "private.yaml", TINY.replace("name: conv1", f"name: {name}"))
    run = run_cli(capsys, "emit", spec, "--target", "pytorch")
    assert run.code in (0, 1), run.err
    if run.code == 1:
        assert "SG401" in run.err
        assert run.out == ""
        return
    model, output = build_pytorch(run.out, (3, 8, 8))
    assert name in [child for child, _ in model.named_children()]
    assert any(key.startswith(f"{name}.") for key in model.state_dict())
    assert tuple(output.shape) == (2, 2)


@pytest.mark.parametrize("name", ["none", "true", "false"])
@pytest.mark.parametrize("target", TARGET_NAMES)
def test_model_name_whose_class_name_is_a_keyword(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, target: str
) -> None:
    """``none`` is a valid model name; its PascalCase form ``None`` is not a class name."""
    spec = write_spec(tmp_path, "model.yaml", TINY.replace("name: tiny", f'name: "{name}"'))
    run = run_cli(capsys, "emit", spec, "--target", target)
    assert run.code == 0, run.err
    if target == "pytorch":
        model, output = build_pytorch(run.out, (3, 8, 8))
        assert tuple(output.shape) == (2, 2)
    else:
        model, output = build_keras(run.out, (8, 8, 3))
        assert model.name == name


@pytest.mark.parametrize("name", ["f", "F", "avg_pool2d_same", "AvgPool2dSame"])
def test_model_class_never_shadows_the_modules_own_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """The model class must not take the name of an import (F) or of a helper class."""
    spec = write_spec(tmp_path, "model.yaml", WITH_HELPER.format(name=name, layer="conv"))
    run = run_cli(capsys, "emit", spec, "--target", "pytorch")
    assert run.code == 0, run.err
    assert "class AvgPool2dSame(nn.Module)" in run.out
    model, output = build_pytorch(run.out, (3, 8, 8))
    assert tuple(output.shape) == (2, 2)
    assert [child for child, _ in model.named_children()][:1] == ["conv"]
    module = tmp_path / "model.py"
    module.write_text(run.out, encoding="utf-8")
    linted = ruff("check", "--isolated", "--no-cache", "--select", "F", module, cwd=tmp_path)
    assert linted.returncode == 0, linted.stdout + linted.stderr


# --- registries ---------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGET_NAMES)
def test_every_layer_type_has_a_lowering(target: str) -> None:
    cls = TARGETS[target]
    missing = [kind for kind in LAYER_TYPES if not callable(getattr(cls, f"lower_{kind}", None))]
    assert missing == [], f"{target} has no lower_<type> for {missing}"
    assert all(cls.supports(kind) for kind in LAYER_TYPES)


def test_nn_module_attributes_cover_torch() -> None:
    import torch

    from specgen.targets.pytorch import NN_MODULE_ATTRIBUTES

    public = {name for name in dir(torch.nn.Module) if not name.startswith("_")}
    missing = sorted(public - NN_MODULE_ATTRIBUTES)
    assert missing == [], f"torch {torch.__version__}: NN_MODULE_ATTRIBUTES lacks {missing}"


# --- the wheel ----------------------------------------------------------------------------


def test_wheel_ships_templates_and_emits_outside_the_repo(tmp_path: Path) -> None:
    """Build the wheel, install it with its base dependencies only, emit from elsewhere."""
    dist = tmp_path / "dist"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = dist.glob("specgen_cnn-*.whl")  # the distribution name; the package is specgen
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for target in TARGET_NAMES:
        assert f"specgen/templates/{target}/model.py.j2" in names
    assert "specgen/cli.py" in names
    assert "specgen/py.typed" in names  # typed for users' mypy
    assert {f"specgen/schemas/{n}-output-v1.schema.json" for n in ("validate", "summary")} <= names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, env=env)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    installed = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run(
        [str(bin_dir / "specgen"), "emit", str(CIFAR), "--target", "pytorch"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "class Cifar10Cnn(nn.Module)" in run.stdout
    assert run.stdout == (GOLDEN / "cifar10_cnn.pytorch.py").read_text(encoding="utf-8")
    # The installed copy, not the checkout, did the work.
    where = subprocess.run(
        [str(bin_dir / "python"), "-c", "import specgen; print(specgen.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert str(venv) in where.stdout, where.stdout


def test_cli_target_names_match_the_target_registry() -> None:
    """`validate --target` spells the names out to avoid importing the targets."""
    from specgen import cli

    assert set(cli.TARGET_NAMES) == set(TARGETS)


def test_version_option(capsys: pytest.CaptureFixture[str]) -> None:
    from specgen import __version__

    run = run_cli(capsys, "--version")
    assert run.code == 0
    assert run.out.strip() == f"specgen {__version__}"
