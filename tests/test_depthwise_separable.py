"""depthwise_conv2d and separable_conv2d: what the case files in tests/cases cannot show.

The case files prove shapes, counts and equal outputs after transfer in both directions
(tests/test_equivalence.py). Here: the weight layout on its own, the structure of the
emitted PyTorch modules, and the findings where a target cannot take a layer as written.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from specgen.check import check_file
from specgen.graph import Graph
from specgen.targets import lower
from specgen.transfer import DEPTHWISE, WEIGHTS, Layout


def _graph(tmp_path: Path, layers: list[str], shape: str = "[9, 10, 3]") -> tuple[Path, Graph]:
    path = tmp_path / "net.yaml"
    body = "\n".join(f"  - {layer}" for layer in layers)
    path.write_text(
        f"specgen: 1\nname: net\ninput: {{shape: {shape}}}\nlayers:\n{body}\n", encoding="utf-8"
    )
    result = check_file(path)
    assert result.report.errors == [], [str(d) for d in result.report.errors]
    assert result.graph is not None
    return path, result.graph


def _validate(path: Path, target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "specgen", "validate", "--target", target, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- the weight layout -----------------------------------------------------------------------


@pytest.mark.parametrize("dm", [1, 2, 3])
def test_depthwise_layout_puts_channel_c_multiplier_m_at_c_times_dm_plus_m(dm: int) -> None:
    kh, kw, channels = 3, 2, 4
    keras_kernel = np.arange(kh * kw * channels * dm, dtype=np.float32).reshape(
        kh, kw, channels, dm
    )
    torch_shape = (channels * dm, 1, kh, kw)
    assert DEPTHWISE.fits(keras_kernel.shape, torch_shape)
    weight = DEPTHWISE.to_torch(keras_kernel, torch_shape)
    for c in range(channels):
        for m in range(dm):
            np.testing.assert_array_equal(weight[c * dm + m, 0], keras_kernel[:, :, c, m])
    np.testing.assert_array_equal(DEPTHWISE.to_keras(weight, keras_kernel.shape), keras_kernel)


def test_depthwise_layout_refuses_shapes_that_do_not_fold() -> None:
    assert not DEPTHWISE.fits((3, 3, 4, 2), (2, 4, 3, 3))  # C and dm swapped
    assert not DEPTHWISE.fits((3, 3, 4, 2), (8, 1, 2, 2))  # another kernel size
    assert not DEPTHWISE.fits((3, 3, 4, 2), (6, 1, 3, 3))  # another channel count
    # Without `fold`, equal ranks must match exactly: a conv layout stays strict.
    assert not Layout((2, 3, 0, 1)).fits((3, 3, 4, 2), (8, 1, 3, 3))


def test_separable_weights_live_in_two_modules() -> None:
    weights = {w.keras: w for w in WEIGHTS["SeparableConv2D"]}
    assert weights["depthwise_kernel"].module == "_depthwise"
    assert weights["pointwise_kernel"].module == ""
    assert weights["bias"].module == ""  # the bias is added after the pointwise step


# --- the emitted PyTorch modules ---------------------------------------------------------------


def test_separable_lowers_to_depthwise_then_pointwise_named_after_the_layer(
    tmp_path: Path,
) -> None:
    _, graph = _graph(
        tmp_path,
        [
            "{type: separable_conv2d, name: sep, filters: 5, kernel_size: 3, stride: 2, "
            "padding: same, depth_multiplier: 2, activation: relu}",
            "{type: depthwise_conv2d, name: dw, kernel_size: 3, depth_multiplier: 3}",
        ],
    )
    steps = lower(graph, "pytorch").steps
    calls = {s.attr: s.call for s in steps}
    assert [s.attr for s in steps] == ["sep_pad", "sep_depthwise", "sep", "sep_act", "dw"]
    # 'same' with stride 2 on 9x10 pads (1, 1) and (0, 1): explicitly, in front.
    assert calls["sep_pad"].items() == ["(0, 1, 1, 1)"]
    assert calls["sep_depthwise"].items() == [
        "3",
        "6",
        "kernel_size=3",
        "stride=2",
        "groups=3",
        "bias=False",
    ]
    assert calls["sep"].items() == ["6", "5", "kernel_size=1"]  # with its bias
    assert calls["dw"].items() == ["5", "15", "kernel_size=3", "groups=5"]


def test_separable_depthwise_name_taken_is_a_pytorch_finding(tmp_path: Path) -> None:
    path, graph = _graph(
        tmp_path,
        [
            "{type: conv2d, name: sep_depthwise, filters: 4, kernel_size: 1}",
            "{type: separable_conv2d, name: sep, filters: 4, kernel_size: 3}",
        ],
    )
    assert lower(graph, "keras").findings == []
    findings = lower(graph, "pytorch").findings
    assert [d.code for d in findings] == ["SG401"]
    assert "'sep_depthwise'" in findings[0].message
    assert _validate(path, "pytorch").returncode == 1


# --- findings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layer",
    [
        "{type: depthwise_conv2d, name: dw, kernel_size: 3, stride: [1, 2]}",
        "{type: separable_conv2d, name: dw, filters: 4, kernel_size: 3, stride: [2, 1]}",
    ],
)
def test_unequal_strides_are_a_keras_finding_at_the_stride(tmp_path: Path, layer: str) -> None:
    """TensorFlow's depthwise kernel takes equal strides only: the Keras layer would raise
    when the model runs. PyTorch takes the layer as written."""
    path, graph = _graph(tmp_path, [layer])
    assert lower(graph, "pytorch").findings == []
    validated = _validate(path, "keras")
    assert validated.returncode == 1
    column = layer.index("stride: ") + len("stride: ") + 5  # after '  - ' on line 5
    assert f"net.yaml:5:{column}: error[SG401]: layer 'dw'" in validated.stderr, validated.stderr
    assert "equal strides only" in validated.stderr
    assert _validate(path, "pytorch").returncode == 0
