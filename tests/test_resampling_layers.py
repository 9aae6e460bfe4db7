"""upsample2d, reshape, cropping2d and global pooling with keepdims: shape rules, messages,
receptive fields and the emitted calls.

The frameworks themselves are checked elsewhere: tests/test_formulas_frameworks.py runs the
emitted layers over a grid of sizes against Keras, PyTorch and NumPy, and
tests/test_equivalence.py runs the case files in tests/cases through both targets.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from specgen.check import FileResult, check_file
from specgen.diagnostics import Severity
from specgen.graph import Graph
from specgen.targets import emit_source

HEAD = "specgen: 1\nname: net\ninput: {shape: [8, 6, 4]}\nlayers:\n"


def run(tmp_path: Path, *layers: str) -> FileResult:
    path = tmp_path / "net.yaml"
    path.write_text(HEAD + "".join(f"  - {layer}\n" for layer in layers), encoding="utf-8")
    return check_file(path)


def graph_of(result: FileResult) -> Graph:
    assert [str(d) for d in result.report.diagnostics] == []
    assert result.graph is not None
    return result.graph


def errors(result: FileResult) -> list[tuple[str, str]]:
    return [(d.code, d.message) for d in result.report.diagnostics if d.severity is Severity.ERROR]


def emitted(result: FileResult, target: str) -> str:
    source, findings = emit_source(graph_of(result), target, "net.yaml", b"")
    assert findings == [] and source is not None
    return source


# --- shapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        ("{type: upsample2d}", (16, 12, 4)),
        ("{type: upsample2d, size: [3, 1], interpolation: bilinear}", (24, 6, 4)),
        ("{type: cropping2d, cropping: 1}", (6, 4, 4)),
        ("{type: cropping2d, cropping: [0, 2]}", (8, 2, 4)),
        ("{type: cropping2d, cropping: [[1, 2], [0, 5]]}", (5, 1, 4)),
        ("{type: reshape, target_shape: [4, 12, 4]}", (4, 12, 4)),
        ("{type: reshape, target_shape: [-1, 1, 8]}", (24, 1, 8)),
        ("{type: reshape, target_shape: [-1]}", (192,)),
        ("{type: global_avg_pool2d}", (4,)),
        ("{type: global_max_pool2d, keepdims: false}", (4,)),
        ("{type: global_avg_pool2d, keepdims: true}", (1, 1, 4)),
        ("{type: global_max_pool2d, keepdims: true}", (1, 1, 4)),
    ],
)
def test_output_shape(tmp_path: Path, layer: str, shape: tuple[int, ...]) -> None:
    graph = graph_of(run(tmp_path, layer))
    assert graph.output.output == shape
    assert graph.total_params == 0


def test_reshape_from_rank_1(tmp_path: Path) -> None:
    graph = graph_of(
        run(
            tmp_path,
            "{type: global_avg_pool2d, name: gap}",
            "{type: reshape, name: se, target_shape: [1, 1, 4]}",
            "{type: reshape, name: back, target_shape: [2, -1, 1]}",
        )
    )
    assert graph.nodes["se"].output == (1, 1, 4)
    assert graph.nodes["back"].output == (2, 2, 1)


def test_expect_mismatch_shows_the_formulas(tmp_path: Path) -> None:
    up = run(tmp_path, "{type: upsample2d, size: [3, 2], expect: [24, 6, 4]}")
    assert errors(up) == [
        (
            "SG202",
            "layer 'upsample2d_1' (upsample2d): output shape [24, 12, 4] does not match expect "
            "[24, 6, 4]: H = 8*3 = 24, W = 6*2 = 12",
        )
    ]
    crop = run(tmp_path, "{type: cropping2d, cropping: [[1, 2], [0, 1]], expect: [5, 6, 4]}")
    assert errors(crop) == [
        (
            "SG202",
            "layer 'cropping2d_1' (cropping2d): output shape [5, 5, 4] does not match expect "
            "[5, 6, 4]: H = 8 - 1 - 2 = 5, W = 6 - 0 - 1 = 5",
        )
    ]


def test_cropping_that_removes_everything_shows_the_numbers(tmp_path: Path) -> None:
    result = run(tmp_path, "{type: cropping2d, name: crop, cropping: [[4, 4], [3, 4]]}")
    assert errors(result) == [
        (
            "SG201",
            "layer 'crop' (cropping2d): cropping 4+4 rows and 3+4 columns leaves nothing of "
            "input 8x6: H = 8 - 4 - 4 = 0 and W = 6 - 3 - 4 = -1",
        )
    ]
    assert result.report.diagnostics[0].json_path == ("layers", 0, "cropping")
    assert result.report.diagnostics[0].hint


def test_cropping_is_required(tmp_path: Path) -> None:
    result = run(tmp_path, "{type: cropping2d}")
    assert [d.code for d in result.report.diagnostics] == ["SG101"]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("[4, 4, 4]", "cannot reshape [8, 6, 4] (192 elements): [4, 4, 4] holds 64 elements"),
        (
            "[5, -1, 4]",
            "cannot reshape [8, 6, 4] (192 elements): the -1 in [5, -1, 4] must be 192 / 20, "
            "which is not a whole number",
        ),
        (
            "[-1, 200, 1]",
            "cannot reshape [8, 6, 4] (192 elements): the -1 in [-1, 200, 1] must be "
            "192 / 200, which is not a whole number",
        ),
    ],
)
def test_reshape_that_does_not_fit(tmp_path: Path, target: str, message: str) -> None:
    result = run(tmp_path, f"{{type: reshape, name: r, target_shape: {target}}}")
    assert errors(result) == [("SG210", f"layer 'r' (reshape): {message}")]
    assert result.report.diagnostics[0].json_path == ("layers", 0, "target_shape")


@pytest.mark.parametrize(
    ("target", "code", "path"),
    [
        ("[-1, -1, 12]", "SG104", ("target_shape", 1)),
        ("[16, 12]", "SG104", ("target_shape",)),
        ("[2, 2, 2, 24]", "SG104", ("target_shape",)),
        ("[]", "SG104", ("target_shape",)),
        ("[-2, 96]", "SG104", ("target_shape",)),  # rank 2 is reported first
        ("[-2, 8, 12]", "SG104", ("target_shape", 0)),
        ("[2.0, 8, 12]", "SG103", ("target_shape", 0)),
        ("[true]", "SG103", ("target_shape", 0)),
        ("192", "SG103", ("target_shape",)),
    ],
)
def test_reshape_target_shape_schema(
    tmp_path: Path, target: str, code: str, path: tuple[str | int, ...]
) -> None:
    result = run(tmp_path, f"{{type: reshape, target_shape: {target}}}")
    assert [(d.code, d.json_path) for d in result.report.diagnostics] == [
        (code, ("layers", 0, *path))
    ]


@pytest.mark.parametrize(
    "layer",
    [
        "{type: upsample2d, interpolation: area}",
        "{type: upsample2d, size: 0}",
        "{type: cropping2d, cropping: -1}",
        "{type: cropping2d, cropping: [[1, -1], [0, 0]]}",
    ],
)
def test_out_of_range_values(tmp_path: Path, layer: str) -> None:
    assert [d.code for d in run(tmp_path, layer).report.diagnostics] == ["SG104"]


@pytest.mark.parametrize(
    "layer",
    [
        "{type: upsample2d, interpolation: 1}",
        "{type: upsample2d, size: 2.0}",
        "{type: cropping2d, cropping: [1, 1, 1]}",
        "{type: cropping2d, cropping: same}",
        "{type: global_avg_pool2d, keepdims: 1}",
    ],
)
def test_wrong_types(tmp_path: Path, layer: str) -> None:
    assert [d.code for d in run(tmp_path, layer).report.diagnostics] == ["SG103"]


@pytest.mark.parametrize("layer", ["upsample2d", "cropping2d, cropping: 1"])
def test_rank_3_only(tmp_path: Path, layer: str) -> None:
    result = run(tmp_path, "{type: flatten}", f"{{type: {layer}}}")
    assert [d.code for d in result.report.diagnostics] == ["SG203"]


# --- receptive field ---------------------------------------------------------------------------


def test_cropping_moves_the_start_of_the_receptive_field(tmp_path: Path) -> None:
    """A 1x1 window with negative padding: the first output pixel is input (top, left)."""
    graph = graph_of(
        run(
            tmp_path,
            "{type: conv2d, name: conv, filters: 2, kernel_size: 3, stride: 2, padding: same}",
            "{type: cropping2d, name: crop, cropping: [[1, 0], [0, 2]]}",
        )
    )
    conv, crop = graph.nodes["conv"].receptive_field, graph.nodes["crop"].receptive_field
    assert conv is not None and crop is not None
    assert crop.size == conv.size and crop.jump == conv.jump == (2, 2)
    assert crop.start == (conv.start[0] + 2, conv.start[1])


def test_upsampling_and_reshape_have_no_receptive_field(tmp_path: Path) -> None:
    graph = graph_of(
        run(
            tmp_path,
            "{type: conv2d, name: conv, filters: 2, kernel_size: 3}",
            "{type: upsample2d, name: up}",
            "{type: conv2d, name: after_up, filters: 2, kernel_size: 3, padding: same}",
            "{type: reshape, name: fold, target_shape: [8, 3, 2], inputs: conv}",
            "{type: conv2d, name: after_fold, filters: 2, kernel_size: [1, 3]}",
            "{type: add, name: join, inputs: [after_up, up]}",
            "{type: cropping2d, name: crop, cropping: [[0, 0], [0, 7]], inputs: join}",
            "{type: concatenate, name: cat, axis: 0, inputs: [crop, after_fold]}",
        )
    )
    assert graph.nodes["conv"].receptive_field is not None
    for name in ("up", "after_up", "fold", "after_fold", "join", "crop"):
        assert graph.nodes[name].receptive_field is None, name


def test_keepdims_pooling_sees_the_whole_input(tmp_path: Path) -> None:
    graph = graph_of(
        run(
            tmp_path,
            "{type: conv2d, name: conv, filters: 2, kernel_size: 3, padding: same}",
            "{type: global_max_pool2d, name: gmp, keepdims: true}",
            "{type: multiply, name: gated, inputs: [conv, gmp]}",
        )
    )
    field = graph.nodes["gmp"].receptive_field
    # Everything from conv's first field (centred on pixel 0) to its last (centred on 7, 5).
    assert field is not None and field.size == (8 + 2, 6 + 2)
    assert field.start == (3.5, 2.5)
    # A broadcast [1, 1, C] gate: its output pixels see more than the union of the fields.
    assert graph.nodes["gated"].receptive_field is None


# --- emitted calls ------------------------------------------------------------------------------


def test_emitted_calls(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "{type: upsample2d, name: up}",
        "{type: upsample2d, name: up_bilinear, size: [2, 3], interpolation: bilinear}",
        "{type: cropping2d, name: crop, cropping: [[1, 3], [3, 5]]}",
        "{type: reshape, name: fold, target_shape: [-1, 2, 4]}",
        "{type: global_avg_pool2d, name: gap, keepdims: true}",
        "{type: global_max_pool2d, name: gmp}",
        "{type: reshape, name: se, target_shape: [1, 1, 4]}",
        "{type: reshape, name: flat, target_shape: [-1]}",
    )
    keras = emitted(result, "keras")
    for line in (
        'x = layers.UpSampling2D(name="up")(inputs)',
        "x = layers.UpSampling2D(\n"
        "        size=(2, 3),\n"
        '        interpolation="bilinear",\n'
        '        name="up_bilinear",\n'
        "    )(x)",
        'x = layers.Cropping2D(cropping=((1, 3), (3, 5)), name="crop")(x)',
        'x = layers.Reshape((392, 2, 4), name="fold")(x)',
        'x = layers.GlobalAveragePooling2D(keepdims=True, name="gap")(x)',
        'x = layers.GlobalMaxPooling2D(name="gmp")(x)',
        'x = layers.Reshape((1, 1, 4), name="se")(x)',
        'x = layers.Reshape((4,), name="flat")(x)',
    ):
        assert f"    {line}\n" in keras, line
    torch = emitted(result, "pytorch")
    for line in (
        'self.up = nn.Upsample(scale_factor=2, mode="nearest-exact")',
        "self.up_bilinear = nn.Upsample(\n"
        "            scale_factor=(2, 3),\n"
        '            mode="bilinear",\n'
        "            align_corners=False,\n"
        "        )",
        "self.crop = Crop2d(cropping=((1, 3), (3, 5)))",
        "self.fold = Reshape((392, 2, 4), permute=(0, 3, 1, 2))",
        "self.gap = nn.AdaptiveAvgPool2d(1)",
        "self.gmp = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten())",
        "self.se = Reshape((1, 1, 4), permute=(0, 3, 1, 2))",
        "self.flat = Reshape((4,))",
        "x = self.fold(x.permute(0, 2, 3, 1))",
        "x = self.se(x)\n",
        "x = self.flat(x.permute(0, 2, 3, 1))",
    ):
        assert f"        {line}" in torch, line
    assert "class Reshape(nn.Module)" in torch and "class Crop2d(nn.Module)" in torch
