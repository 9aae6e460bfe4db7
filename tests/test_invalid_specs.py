"""The spec corpus: every broken spec in tests/invalid reports exactly the expected findings,
at the expected positions, and every example spec in specs/ is valid.

The corpus works like the JSON-Schema test suite: each case is a file plus every finding
it must produce, as (code, line, column), errors and warnings alike (SG3xx codes are
warnings, every other code an error). Each case runs twice: through `check_file`, and
through the command line (`specgen validate --format json --strict FILE`, in-process per
file and once in a real process for the whole corpus). Every code of the registry
(`specgen.diagnostics.CODES`) has at least one case, so a new code without a case fails
`test_every_code_has_a_corpus_case`. Codes that only a target reports (SG4xx, and the
Keras target's SG303 and SG304) have their cases in tests/invalid/targets, run with
``--target``; they are valid specs otherwise.

Each position was checked by eye against the file: it points at the offending value (or
key, for unknown and duplicate keys; or the layer's mapping, for a missing key and for a
shape rule that concerns the whole layer). A changed position is a visible change for
users and editors (compiler-style ``path:line:col``), so it must be deliberate.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import specgen.cli
from specgen.check import check_file
from specgen.diagnostics import CODES, Diagnostic, Severity
from specgen.graph import Graph
from specgen.load import SUFFIXES

SPECS = Path(__file__).resolve().parent.parent / "specs"
INVALID = Path(__file__).resolve().parent / "invalid"

# file name -> every error it must produce, as (code, line, column); 1-based positions.
EXPECTED: dict[str, list[tuple[str, int, int]]] = {
    # SG0xx: reading the file
    "syntax_error.json": [("SG001", 5, 3)],  # the key after a missing ','
    "syntax_error.yaml": [("SG001", 4, 26)],  # '}' where ']' closes the flow sequence
    "duplicate_key.json": [("SG002", 6, 56)],  # the second "filters"
    "duplicate_key.yaml": [("SG002", 10, 5)],  # the second activation:
    "nan.json": [("SG003", 7, 33)],
    "infinity.yaml": [("SG003", 7, 33)],
    "yaml_anchor.yaml": [("SG004", 6, 5)],  # the anchor &conv
    "empty.json": [("SG006", 1, 1)],
    "empty.yaml": [("SG006", 1, 1)],
    "top_level_list.yaml": [("SG006", 2, 1)],  # the first '-'
    # SG1xx: the schema
    "missing_version.yaml": [("SG106", 2, 1)],  # the top-level mapping: no specgen key
    "version_2.json": [("SG106", 2, 14)],
    "missing_required_key.yaml": [
        ("SG101", 6, 5),  # conv2d without kernel_size: the layer's mapping
        ("SG101", 8, 5),  # dense without units
    ],
    # One mistake, one error: the 'missing kernel_size' it implies is folded into the hint.
    "unknown_key_typo.yaml": [("SG102", 8, 5)],  # the key kernal_size
    "unknown_layer_type.yaml": [("SG105", 6, 12)],  # the value 'conv'
    "strict_types.yaml": [
        ("SG103", 7, 14),  # filters: "8"
        ("SG103", 8, 18),  # kernel_size: 3.0
        ("SG103", 9, 13),  # stride: true
    ],
    "yaml_equals_name.yaml": [("SG104", 7, 35)],  # name: = is the string "=" (YAML 1.2)
    "nonpositive_values.json": [
        ("SG104", 4, 27),  # input shape [28, 0, 1]: the 0
        ("SG104", 6, 35),  # filters: 0
        ("SG104", 8, 33),  # rate: 1.0
        ("SG104", 9, 32),  # units: -10
    ],
    "bad_padding.yaml": [
        ("SG104", 6, 57),  # padding: full
        ("SG103", 7, 57),  # padding: [1, 1, 1, 1]
        ("SG103", 8, 37),  # zero_padding2d padding: same
    ],
    "bad_activation.yaml": [("SG104", 6, 60)],  # activation: ReLU
    "duplicate_layer_names.yaml": [("SG107", 7, 26)],  # the second name: conv
    # SG108 points at the entry of the list since c21fd8c ("SG108 at the list entry").
    "inputs_unknown_layer.yaml": [("SG108", 6, 70)],  # 'inputs' in inputs: [inputs]
    "inputs_later_layer.yaml": [("SG108", 6, 70)],  # 'flat' in inputs: [flat]
    # SG2xx: the shape pass
    "kernel_too_large.yaml": [("SG201", 8, 59)],  # conv3's kernel_size on a 2x2 input
    "expect_mismatch.yaml": [("SG202", 6, 74)],  # the expect of the first conv2d
    "dense_on_rank3.yaml": [("SG203", 7, 5)],  # the dense layer's mapping
    "flatten_twice.json": [("SG203", 8, 5)],  # the second flatten's mapping
    "groups_not_dividing.yaml": [("SG204", 6, 57)],  # groups: 2
    # stride_with_dilation.json moved to tests/cases_pytorch_only: conv2d takes stride > 1
    # with dilation > 1 since PyTorch does; only the Keras target refuses it (SG401).
    "softmax_on_conv.yaml": [("SG206", 6, 61)],  # activation: softmax
    # depthwise_conv2d and separable_conv2d
    "depthwise_separable_bad_fields.yaml": [
        ("SG104", 6, 64),  # depth_multiplier: 0
        ("SG101", 7, 5),  # separable_conv2d without filters: the layer's mapping
        ("SG103", 8, 76),  # depth_multiplier: 1.5
    ],
    "depthwise_kernel_too_large.yaml": [("SG201", 8, 54)],  # dw3's kernel_size on 2x2
    "separable_stride_with_dilation.yaml": [
        ("SG205", 8, 72),  # the depthwise layer's dilation: [2, 1] (stride [1, 2])
        ("SG205", 9, 79),  # the separable layer's dilation: 2 (stride 2)
        ("SG206", 9, 94),  # its activation: softmax, in the same run
    ],
    # Graphs: merges, outputs, unused layers
    "merge_shapes_mismatch.yaml": [("SG207", 8, 5)],  # the add's mapping: [8, 8, 16] + [4, 4, 16]
    "concat_axis_mismatch.yaml": [("SG207", 10, 5)],  # the concatenate's mapping (no axis key)
    "concat_axis_out_of_range.yaml": [("SG208", 10, 45)],  # axis: 2 on rank-1 inputs
    # rescaling and normalization: numbers, per-channel lists, mean and variance together
    "rescaling_bad_values.yaml": [
        ("SG103", 5, 42),  # scale: "1/255"
        ("SG103", 6, 46),  # the true in scale: [1, true, 2]
        ("SG104", 7, 54),  # offset: []
    ],
    "rescaling_channel_mismatch.yaml": [("SG209", 5, 59)],  # 4 offsets for 3 channels
    "normalization_bad_values.yaml": [
        ("SG101", 5, 5),  # mean without variance: the layer's mapping
        ("SG104", 6, 74),  # the -1 in variance: [1, -1, 1]
    ],
    "normalization_channel_mismatch.yaml": [
        ("SG209", 6, 33),  # 3 means for the conv's 4 channels
        ("SG209", 6, 66),  # 3 variances
    ],
    # upsample2d, reshape, cropping2d, keepdims
    "cropping2d_removes_everything.yaml": [("SG201", 7, 46)],  # [[3, 3], ...] on 6 rows
    "reshape_count_mismatch.yaml": [("SG210", 7, 47)],  # [4, 4, 4] for 128 elements
    "reshape_minus_one_not_dividing.yaml": [("SG210", 6, 47)],  # [5, -1, 2] for 48
    "reshape_bad_target_shape.yaml": [
        ("SG104", 6, 62),  # the second -1 in [-1, 6, -1]
        ("SG104", 7, 48),  # [8, 6]: rank 2
        ("SG104", 8, 51),  # the 0 in [4, 0, 12]
        ("SG103", 9, 51),  # the "6" in [4, "6", 2]
    ],
    "upsample2d_bad_values.yaml": [
        ("SG104", 6, 50),  # interpolation: bicubic
        ("SG104", 7, 45),  # the 0 in size: [2, 0]
        ("SG103", 8, 52),  # keepdims: "true"
    ],
    "merge_one_input.yaml": [("SG109", 8, 36)],  # the add's inputs: [conv2]
    "subtract_three_inputs.yaml": [("SG109", 9, 42)],  # the subtract's inputs: [a, b, c]
    "outputs_unknown_layer.yaml": [("SG108", 9, 19)],  # 'feature' in outputs: [logits, feature]
    "unused_branch.yaml": [("SG110", 7, 5)],  # the mapping of the layer 'side'
    # Blocks: definitions and uses (SG111-SG115), and mistakes inside expanded blocks
    # block: basci, and so the block 'basic' is never used (SG302, at its key)
    "block_unknown.yaml": [("SG302", 6, 3), ("SG111", 12, 13)],
    "block_unknown_param.yaml": [("SG112", 9, 45)],  # $filtres, on the block's own line
    "block_with_unknown_key.yaml": [("SG112", 12, 53)],  # the key strides under with:
    "block_missing_required_param.yaml": [("SG112", 12, 5)],  # the use's mapping: no with:
    "block_recursion.yaml": [("SG113", 13, 17)],  # b's {block: a}: the value 'a'
    "block_expansion_bomb.yaml": [("SG114", 19, 5)],  # the top-level use's mapping
    "block_bad_instance_name.yaml": [("SG115", 12, 26)],  # name: stage-1
    # The typo kernal_size (the key) in the block, once for the three instances.
    "block_error_inside_instance.yaml": [("SG102", 9, 55)],
    "block_param_value_error.yaml": [("SG104", 12, 50)],  # the 0 in with: {filters: 0}
    "block_local_inputs_unknown.yaml": [("SG108", 10, 48)],  # 'conv' in inputs: [input, conv]
    # A top-level layer named like an earlier block instance: its name: m0.
    "block_instance_name_clash.yaml": [("SG107", 12, 30)],
    # conv2d_transpose: padding 'valid'/'same' only; output_padding an int >= 0 or [h, w]
    "conv2d_transpose_bad_fields.yaml": [
        ("SG103", 7, 67),  # padding: 1
        ("SG103", 8, 67),  # padding: [[0, 1], [0, 1]]
        ("SG104", 9, 67),  # padding: full
        ("SG104", 10, 85),  # output_padding: -1
        ("SG103", 11, 85),  # output_padding: "1"
        ("SG103", 12, 85),  # output_padding: [1, 1, 1]
    ],
    # ... below the stride on each axis (Keras refuses the layer)
    "conv2d_transpose_output_padding_not_below_stride.yaml": [
        ("SG104", 6, 95),  # output_padding: 2 with stride 2
        ("SG104", 7, 116),  # output_padding: [0, 1] with stride 1
    ],
    # 'same', output_padding 0 on W and kernel 4: (H - 1)*S columns (TensorFlow refuses it)
    "conv2d_transpose_same_even_kernel_output_padding_0.yaml": [("SG104", 7, 110)],
    # Mistakes found by the graph pass or a block use's own keys, reported at the use:
    # an unknown name in a top-level use's inputs, at the entry 'stme' (no note) ...
    "block_use_inputs_unknown.yaml": [("SG108", 12, 43)],
    # ... repeat: $depth inside a block with depth: 0 given by the use, at the 0 in
    # with: {depth: 0}, as for any value that came from a parameter ...
    "block_param_repeat_error.yaml": [("SG104", 14, 48)],
    # ... and 'layers:' left null next to 'blocks:', at the null (it crashed with exit 3
    # once); the block is then unused, a warning.
    "blocks_layers_null.yaml": [("SG302", 6, 3), ("SG103", 9, 8)],
    # Reading the file: nesting and encoding (the large hostile files are in tests/hostile)
    "nesting_too_deep.json": [("SG005", 7, 69)],  # the 66th nested collection
    "invalid_utf8.yaml": [("SG007", 4, 37)],  # the Latin-1 byte 0xe9 in a comment
    # Resource limits: a tensor of 34 billion elements, at the layer's mapping
    "tensor_too_large.yaml": [("SG211", 7, 5)],
    # Warnings: the only finding of these files (they fail with --strict only)
    "pool_drops_rows.yaml": [("SG301", 6, 35)],  # pool_size 2 on 7x7 drops a row
    "block_unused.yaml": [("SG302", 6, 3)],  # the key of the block 'spare'
}

# Specs that one target cannot express (SG4xx) or warns about (SG303, SG304), in
# tests/invalid/targets: file -> (the target, every finding of `validate --strict --target
# TARGET`). They are valid specs, and valid for the other target.
TARGET_EXPECTED: dict[str, tuple[str, list[tuple[str, int, int]]]] = {
    # explicit pooling padding that 'same' does not resolve to: at the layer's mapping
    "keras_pool_explicit_padding.yaml": ("keras", [("SG401", 7, 5)]),
    "keras_conv2d_stride_with_dilation.yaml": ("keras", [("SG401", 6, 69)]),  # dilation: 2
    # Warnings of the Keras target (known framework bugs): the stride, and each merge's
    # inputs; the source is still emitted.
    "keras_tensorflow_conv2d_bug.yaml": ("keras", [("SG303", 8, 73)]),
    "keras_bias_add_bug.yaml": ("keras", [("SG304", 12, 40), ("SG304", 15, 42)]),
    # forward, _hidden and training as layer names: at each layer's mapping
    "pytorch_reserved_names.yaml": (
        "pytorch",
        [("SG401", 6, 5), ("SG401", 7, 5), ("SG401", 8, 5)],
    ),
}
TARGETS = ("keras", "pytorch")

# Total parameters (trainable and not) of the example specs, as Keras' count_params().
TOTAL_PARAMS = {
    "cifar10_cnn.yaml": 122_570,
    "lenet5.yaml": 61_706,
    "alexnet.json": 62_378_344,
    "vgg_style.yaml": 289_642,
}


def _spec_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.endswith(".schema.json")
    )


def _run(path: Path) -> tuple[list[Diagnostic], Graph | None]:
    """Check one file as `specgen validate` does: load, expand blocks, schema, shape pass.

    `check_file` stops at the first stage that cannot go on (a file that does not load, a
    refused block expansion, a document without any parsed layer) and otherwise reports
    all problems of the file, mapped back to the file's own positions, one finding per
    place (a mistake inside a block used N times is reported once, with notes).
    """
    result = check_file(path)
    return result.report.diagnostics, result.graph


def diagnose(path: Path) -> list[Diagnostic]:
    """Every finding (errors and warnings) of one spec file."""
    return _run(path)[0]


Finding = tuple[str, int | None, int | None]


def severity_of(code: str) -> str:
    """SG3xx codes are warnings; every other code is an error."""
    return "warning" if code.startswith("SG3") else "error"


def _findings(diagnostics: list[Diagnostic]) -> set[Finding]:
    return {
        (
            d.code,
            d.position.line if d.position else None,
            d.position.column if d.position else None,
        )
        for d in diagnostics
    }


def _show(diagnostics: list[Diagnostic]) -> str:
    return "\n".join(f"{d.severity.value} {d.code} {d.position}: {d.message}" for d in diagnostics)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_spec_reports_exactly_the_expected_findings(name: str) -> None:
    diagnostics = diagnose(INVALID / name)
    assert _findings(diagnostics) == set(EXPECTED[name]), _show(diagnostics)
    # Each expected finding is reported once, not once per validation pass.
    assert len(diagnostics) == len(EXPECTED[name]), _show(diagnostics)
    for d in diagnostics:
        assert d.severity.value == severity_of(d.code), _show([d])


def test_every_invalid_spec_has_expectations() -> None:
    files = {p.name for p in INVALID.iterdir() if p.is_file()}
    assert files, f"no spec files in {INVALID}"
    assert files - EXPECTED.keys() == set(), "add the new files to EXPECTED"
    assert EXPECTED.keys() - files == set(), "EXPECTED lists files that do not exist"
    targets = {p.name for p in (INVALID / "targets").iterdir() if p.is_file()}
    assert targets == TARGET_EXPECTED.keys(), "tests/invalid/targets and TARGET_EXPECTED differ"
    assert {target for target, _ in TARGET_EXPECTED.values()} <= set(TARGETS)


def test_every_code_has_a_corpus_case() -> None:
    """A new diagnostic code needs a case here (a file and its expected findings)."""
    covered = {code for found in EXPECTED.values() for code, _, _ in found}
    covered |= {code for _, found in TARGET_EXPECTED.values() for code, _, _ in found}
    # The project config's codes: `# expect:` lines of tests/invalid/config (test_config.py).
    for config in (INVALID / "config").glob("*.toml"):
        covered |= set(re.findall(r"^# expect: (SG\d{3}) ", config.read_text(), re.MULTILINE))
    missing = sorted(CODES.keys() - covered)
    assert missing == [], f"no corpus case for {missing}: add a file to tests/invalid"


# --- through the command line ---------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _cli(args: list[str]) -> tuple[int, str, str]:
    """`specgen.cli.main` in this process, with its output captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            specgen.cli.main(args)
        except SystemExit as done:
            code = done.code
        else:  # pragma: no cover - main always exits
            code = 0
    return (0 if code is None else int(code)), out.getvalue(), err.getvalue()


def _json_findings(file: dict[str, Any]) -> set[Finding]:
    """The findings of one file of `validate --format json`; checks their severity."""
    found = set()
    for d in file["diagnostics"]:
        assert d["severity"] == severity_of(d["code"]), d
        found.add((d["code"], d["line"], d["column"]))
    return found


def _validate_json(args: list[str]) -> tuple[int, dict[str, Any]]:
    code, out, err = _cli(["validate", "--format", "json", "--strict", *args])
    assert "Traceback" not in err
    return code, json.loads(out, parse_constant=_reject_constant)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_spec_through_the_cli(name: str) -> None:
    code, payload = _validate_json([str(INVALID / name)])
    assert code == 1
    [file] = payload["files"]
    assert file["valid"] is False
    assert _json_findings(file) == set(EXPECTED[name])
    assert len(file["diagnostics"]) == len(EXPECTED[name])


def test_invalid_corpus_through_the_real_program() -> None:
    """The whole corpus in one real process: `specgen validate --format json --strict`."""
    names = sorted(EXPECTED)
    script = shutil.which("specgen", path=str(Path(sys.executable).parent))
    assert script is not None, "the specgen console script is not installed next to python"
    proc = subprocess.run(
        [script, "validate", "--format", "json", "--strict", *(str(INVALID / n) for n in names)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    payload = json.loads(proc.stdout, parse_constant=_reject_constant)
    assert [Path(f["path"]).name for f in payload["files"]] == names
    got = {Path(f["path"]).name: _json_findings(f) for f in payload["files"]}
    assert got == {name: set(EXPECTED[name]) for name in names}


@pytest.mark.parametrize("name", sorted(TARGET_EXPECTED))
def test_target_case_through_the_cli(name: str) -> None:
    path = str(INVALID / "targets" / name)
    target, expected = TARGET_EXPECTED[name]
    code, payload = _validate_json(["--target", target, path])
    assert code == 1
    [file] = payload["files"]
    assert _json_findings(file) == set(expected)
    assert len(file["diagnostics"]) == len(expected)
    # Without the target, and for the other one, it is a valid spec.
    assert _validate_json([path])[0] == 0
    for other in set(TARGETS) - {target}:
        assert _validate_json(["--target", other, path])[0] == 0


@pytest.mark.parametrize("name", sorted(TARGET_EXPECTED))
def test_target_case_through_emit(name: str, tmp_path: Path) -> None:
    """`emit` reports the same findings. For an error it writes nothing and leaves no
    temporary file; for warnings only (SG3xx) it writes the module and exits 0."""
    target, expected = TARGET_EXPECTED[name]
    out = tmp_path / "model.py"
    code, stdout, stderr = _cli(
        ["emit", str(INVALID / "targets" / name), "--target", target, "-o", str(out)]
    )
    assert stdout == ""
    if all(found.startswith("SG3") for found, _, _ in expected):
        assert code == 0
        assert list(tmp_path.iterdir()) == [out]
        assert "def build_model(" in out.read_text(encoding="utf-8")
    else:
        assert code == 1
        assert list(tmp_path.iterdir()) == []
    shown = {(m["code"], int(m["line"]), int(m["col"])) for m in re.finditer(_FINDING_LINE, stderr)}
    assert shown == set(expected), stderr


_FINDING_LINE = re.compile(r"^.+?:(?P<line>\d+):(?P<col>\d+): \w+\[(?P<code>SG\d+)\]", re.M)


@pytest.mark.parametrize("path", _spec_files(SPECS), ids=lambda p: p.name)
def test_example_spec_is_valid(path: Path) -> None:
    diagnostics, graph = _run(path)
    errors = [d for d in diagnostics if d.severity is Severity.ERROR]
    # An `expect` that differs from the computed shape would be an SG202 error here.
    assert errors == [], "\n".join(f"{d.code} {d.position}: {d.message}" for d in errors)
    assert graph is not None
    for node in graph.layers():
        assert node.layer is not None
        if node.layer.expect is not None:
            assert node.layer.expect == node.output, node.name
    if path.name in TOTAL_PARAMS:
        assert graph.total_params == TOTAL_PARAMS[path.name]


def test_example_specs_with_known_totals_exist() -> None:
    names = {p.name for p in _spec_files(SPECS)}
    assert TOTAL_PARAMS.keys() <= names
