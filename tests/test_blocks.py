"""Blocks as users see them: expansion, `specgen expand`, and blocks kept in emitted code.

The numeric side (shapes, parameter counts, outputs after weight transfer in both
directions) of every block case runs in tests/test_equivalence.py; this file checks
the structure: what the emitted source defines and how it names things.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from specgen.check import check_file
from specgen.report import summary_json
from specgen.targets import emit_source

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "cases"
RESNET20 = ROOT / "specs" / "resnet20_cifar.yaml"
BLOCK_SPECS = [RESNET20, *sorted(CASES.glob("block_*.yaml"))]


def emitted(path: Path, target: str) -> str:
    result = check_file(path)
    assert result.graph is not None and result.document is not None, [
        str(d) for d in result.report.diagnostics
    ]
    source, findings = emit_source(result.graph, target, str(path), result.document.raw)
    # Known-framework-bug warnings (SG303, SG304) still emit; nothing else may be found.
    assert source is not None and {d.code for d in findings} <= {"SG303", "SG304"}, findings
    return source


def definitions(source: str) -> dict[str, ast.ClassDef | ast.FunctionDef]:
    tree = ast.parse(source)
    return {
        node.name: node for node in tree.body if isinstance(node, ast.ClassDef | ast.FunctionDef)
    }


def specgen(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "specgen", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- ResNet-20 -------------------------------------------------------------------------------


def test_resnet20_is_short_and_has_the_papers_shape() -> None:
    lines = RESNET20.read_text(encoding="utf-8").splitlines()
    assert len(lines) < 60
    result = check_file(RESNET20)
    graph = result.graph
    assert graph is not None
    convs = [n for n in graph.layers() if n.kind == "conv2d"]
    # 1 stem + 3 stages x 3 blocks x 2 convs + 2 projections; + 1 dense = 20 weighted
    # layers on the main path, as the name says.
    assert len(convs) == 1 + 3 * 3 * 2 + 2
    assert graph.output.output == (10,)
    stage_outputs = {n.name: n.output for n in graph.layers() if n.name.endswith("_relu2")}
    assert stage_outputs["stage1_3_relu2"] == (32, 32, 16)
    assert stage_outputs["stage2_3_relu2"] == (16, 16, 32)
    assert stage_outputs["stage3_3_relu2"] == (8, 8, 64)
    assert graph.total_params == 274_042
    assert graph.non_trainable == 1_568


def test_resnet20_pytorch_defines_one_class_per_block_in_under_150_lines() -> None:
    source = emitted(RESNET20, "pytorch")
    assert len(source.splitlines()) < 150
    classes = {n for n, d in definitions(source).items() if isinstance(d, ast.ClassDef)}
    assert classes == {"Add", "Basic", "Down", "Resnet20Cifar"}
    # Each instance is one line that builds the block, torchvision style.
    assert "self.stage1_1 = Basic(filters=16)" in source
    assert "self.stage2_1 = Down(in_channels=16, filters=32)" in source
    assert "self.stage3_3 = Basic(filters=64)" in source
    assert source.count("nn.Conv2d(") == 1 + 2 + 3  # stem, Basic, Down


def test_resnet20_keras_defines_one_function_per_block() -> None:
    source = emitted(RESNET20, "keras")
    functions = {n for n, d in definitions(source).items() if isinstance(d, ast.FunctionDef)}
    assert functions == {"basic", "down", "build_model"}
    assert 'x = basic(x, filters=16, name="stage1_1")' in source
    assert 'x = down(x, filters=32, name="stage2_1")' in source
    assert 'name=name + "_conv1"' in source


# --- the structure of emitted blocks -----------------------------------------------------------


@pytest.mark.parametrize("target", ["keras", "pytorch"])
def test_a_block_used_once_emits_the_same_code_as_its_layers_in_place(target: str) -> None:
    """SPEC 5.3: same names, same shapes, same emitted code (but for the header that
    names the spec file and its hash)."""

    def body(path: Path) -> str:
        return emitted(path, target).split('"""', 2)[2]

    assert body(CASES / "block_used_once.yaml") == body(CASES / "block_used_once_inline.yaml")


def test_parameters_are_named_after_the_blocks_own() -> None:
    source = emitted(CASES / "block_nested.yaml", "pytorch")
    stage = definitions(source)["Stage"]
    assert isinstance(stage, ast.ClassDef)
    init = next(f for f in stage.body if isinstance(f, ast.FunctionDef) and f.name == "__init__")
    assert [a.arg for a in init.args.args] == ["self", "in_channels", "filters"]
    assert "self.unit1 = Unit(in_channels=in_channels, filters=filters)" in source
    assert "self.s2 = Stage(in_channels=4, filters=8)" in source


def test_instances_that_differ_only_in_values_share_one_definition() -> None:
    """stride 1 (a default, not written) and stride 2 and [2, 1]: one class, stride a
    parameter typed by the values it takes."""
    source = emitted(CASES / "block_stride_param.yaml", "pytorch")
    assert [n for n in definitions(source) if n.startswith("Down")] == ["Down"]
    assert "def __init__(self, in_channels: int, stride: int | tuple[int, int]) -> None:" in (
        source
    )
    assert "Down(in_channels=3, stride=1)" in source
    assert "Down(in_channels=4, stride=(2, 1))" in source


def test_a_local_name_that_is_not_a_python_name_is_renamed_and_listed() -> None:
    source = emitted(CASES / "block_index_names.yaml", "pytorch")
    assert '"conv_1": "1_conv"' in source and "self.conv_1 = nn.Conv2d(" in source
    keras = emitted(CASES / "block_index_names.yaml", "keras")
    assert 'name=name + "_1_conv"' in keras  # Keras keeps the spec's names
    result = check_file(CASES / "block_index_names.yaml")
    assert result.graph is not None
    assert "stage1_1_conv" in result.graph.nodes


def test_straight_networks_keep_x_and_branches_get_names() -> None:
    source = emitted(CASES / "graph_fan_out.yaml", "pytorch")
    forward = source.split("def forward(self, x: torch.Tensor)", 1)[1]
    # The fanned-out value is named; every value used once, right away, is `x`.
    assigned = [line.split("=")[0].strip() for line in forward.splitlines() if " = " in line]
    assert "x" in assigned and any(name != "x" for name in assigned)


def test_two_outputs_are_a_list_in_keras_and_a_tuple_in_pytorch() -> None:
    keras = emitted(CASES / "graph_two_outputs.yaml", "keras")
    assert "outputs=[probs, seg]" in keras
    torch_source = emitted(CASES / "graph_two_outputs.yaml", "pytorch")
    assert "-> tuple[torch.Tensor, ...]:" in torch_source
    assert "return probs, seg" in torch_source


# --- specgen expand --------------------------------------------------------------------------


def _summary(path: Path) -> dict[str, object]:
    result = check_file(path)
    assert result.graph is not None, [str(d) for d in result.report.diagnostics]
    payload: dict[str, object] = json.loads(summary_json(result.graph, "x"))
    for layer in payload["layers"]:  # type: ignore[attr-defined]
        layer.pop("block")  # the flat spec has no blocks left to name
    return payload


@pytest.mark.parametrize("path", BLOCK_SPECS, ids=lambda p: p.name)
@pytest.mark.parametrize("syntax", ["yaml", "json"])
def test_expand_validates_to_the_same_graph(path: Path, syntax: str, tmp_path: Path) -> None:
    run = specgen("expand", path, "--format", syntax)
    assert run.returncode == 0, run.stderr
    flat = tmp_path / f"flat.{syntax}"
    flat.write_text(run.stdout, encoding="utf-8")
    assert "block" not in run.stdout.split("layers", 1)[1].replace("blocks", "")
    assert _summary(flat) == _summary(path)


def test_expand_of_an_invalid_spec_reports_and_prints_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "specgen: 1\nname: bad\ninput: {shape: [8, 8, 3]}\nlayers:\n  - {block: nope}\n",
        encoding="utf-8",
    )
    run = specgen("expand", bad)
    assert run.returncode == 1
    assert run.stdout == ""
    assert "error[SG111]" in run.stderr


def test_expand_bomb_is_refused_without_expanding(tmp_path: Path) -> None:
    """Four levels of repeat: 1000 would be 10^12 layers: refused from the counts alone
    (the test would run out of memory or time otherwise)."""
    blocks = "\n".join(
        f"  b{k}:\n    layers:\n      - {{block: b{k + 1}, repeat: 1000}}" for k in range(4)
    )
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(
        "specgen: 1\nname: bomb\ninput: {shape: [4]}\nblocks:\n"
        f"{blocks}\n  b4:\n    layers:\n      - {{type: dropout, rate: 0.1}}\n"
        "layers:\n  - {block: b0, repeat: 1000}\n",
        encoding="utf-8",
    )
    result = check_file(bomb)
    assert [d.code for d in result.report.errors] == ["SG114"]
    assert result.graph is None


def test_summary_groups_block_instances_and_shows_inputs_for_graphs() -> None:
    run = specgen("summary", RESNET20)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    header = lines[2]
    assert header.split()[:3] == ["Layer", "(type)", "Inputs"]
    start = lines.index(next(line for line in lines if line.startswith("stage2_1 (block down)")))
    # The instance's layers follow, indented, under their local names.
    assert lines[start + 1].startswith("  conv1_pad") or lines[start + 1].startswith("  conv1 ")
    proj = next(line for line in lines if line.startswith("  proj (conv2d)"))
    assert "stage1_3_relu2" in proj  # reads the block's input, not the row above
    add = next(line for line in lines[start:] if line.startswith("  add (add)"))
    assert "stage2_1_bn2, stage2_1_proj_bn" in add
    assert "Outputs: fc" in run.stdout
    # Every layer appears once: 3 stem layers, 7 + 9 per block, pool, fc (+ input).
    rows = [line for line in lines if line.startswith(("  ", "input ", "stem_", "pool ", "fc "))]
    assert len(rows) == 1 + 3 + 7 * 7 + 9 * 2 + 2


def test_every_node_knows_where_it_is_written() -> None:
    result = check_file(RESNET20)
    assert result.graph is not None
    node = result.graph.nodes["stage2_1_proj"]
    assert node.origin is not None
    assert node.origin.path == ("blocks", "down", "layers", 5)
    assert node.origin.position is not None and node.origin.position.line == 31
    assert [u.instance for u in node.origin.uses] == ["stage2_1"]
    assert node.origin.local == "proj"
    assert node.path == ("layers", 3 + 7 * 3 + 5)


def test_every_case_and_zoo_model_emits_ruff_clean_code(tmp_path: Path) -> None:
    """Under ruff's own defaults (no configuration), as a user's project would run it."""
    specs = [*sorted(CASES.glob("*.yaml")), *sorted((ROOT / "specs" / "zoo").glob("*.yaml"))]
    files = []
    for path in specs:
        for target in ("keras", "pytorch"):
            out = tmp_path / f"{path.stem}_{target}.py"
            out.write_text(emitted(path, target), encoding="utf-8")
            files.append(out)
    for command in (["check", "--isolated", "--no-cache"], ["format", "--isolated", "--check"]):
        run = subprocess.run(
            [sys.executable, "-m", "ruff", *command, *map(str, files)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
