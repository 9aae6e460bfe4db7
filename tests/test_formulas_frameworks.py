"""Prove ``specgen.formulas`` against real Keras 3 (TensorFlow backend) and PyTorch layers.

Each formula is evaluated over a grid of input sizes, kernels, strides, dilations and
paddings and compared with what the frameworks actually produce: output shapes, and for
``same_padding`` the output values themselves (TensorFlow's "same" convolution versus an
explicit ``F.pad`` + unpadded PyTorch convolution). The frameworks are hard dependencies of
this file: a missing one is an import error, never a skip.

Both spatial axes are exercised: every size of ``AXIS_SIZES`` is used once as the height
(with a fixed odd width) and once as the width (with a fixed even height), so a top/left
versus bottom/right mix-up cannot hide behind a square input.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import warnings
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn.functional as tnf

from specgen.formulas import (
    conv_output_size,
    conv_params,
    conv_transpose_output_size,
    dense_params,
    dropped_by_window,
    effective_kernel_size,
    pool_output_size,
    same_output_size,
    same_padding,
)

AXIS_SIZES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 17, 32)
# The other axis while one axis sweeps AXIS_SIZES: large enough for the biggest effective
# kernel in the grid (D=3, F=5 -> 13), one odd and one even.
FIXED_WIDTH = 15
FIXED_HEIGHT = 14
SHAPES: tuple[tuple[int, int], ...] = tuple(
    [(h, FIXED_WIDTH) for h in AXIS_SIZES] + [(FIXED_HEIGHT, w) for w in AXIS_SIZES]
)

KERNELS = (1, 2, 3, 4, 5)
STRIDES = (1, 2, 3)
DILATIONS = (1, 2, 3)
PADDINGS = (0, 1, 2)
POOLS = (1, 2, 3, 4)

CHANNELS = 2
ATOL = 1e-5


def _conv_grid(*, keras_ok: bool | None) -> list[Any]:
    """(kernel, stride, dilation) combos; ``keras_ok`` filters on Keras' stride/dilation rule.

    Keras refuses ``strides > 1`` together with ``dilation_rate > 1``: ``keras_ok=True`` keeps
    only the combos Keras accepts, ``False`` only the refused ones, ``None`` all of them.
    """
    params = []
    for f in KERNELS:
        for s in STRIDES:
            for d in DILATIONS:
                accepted = s == 1 or d == 1
                if keras_ok is None or keras_ok == accepted:
                    params.append(pytest.param(f, s, d, id=f"F{f}-S{s}-D{d}"))
    return params


CONV_GRID_ALL = _conv_grid(keras_ok=None)
CONV_GRID_KERAS = _conv_grid(keras_ok=True)
CONV_GRID_KERAS_REFUSES = _conv_grid(keras_ok=False)
POOL_GRID = [pytest.param(p, s, id=f"pool{p}-S{s}") for p in POOLS for s in STRIDES]


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([*key, 20240601])


def _input(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random NHWC float32 batch of one."""
    return rng.standard_normal((1, h, w, CHANNELS)).astype(np.float32)


def _hw(shape: Any) -> tuple[int, int]:
    """Spatial (H, W) of an NHWC shape (tuple, ``TensorShape`` or ``torch.Size``)."""
    dims = tuple(shape)
    return int(dims[1]), int(dims[2])


def _torch_pad_conv(
    x_nhwc: np.ndarray,
    kernel_hwio: np.ndarray,
    bias: np.ndarray,
    pads: tuple[int, int, int, int],
    stride: int,
    dilation: int,
) -> np.ndarray:
    """Explicit zero padding ``(left, right, top, bottom)`` then an unpadded torch conv.

    Takes and returns NHWC arrays, with a Keras HWIO kernel, so it can be compared with
    Keras/TensorFlow output directly.
    """
    x = torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)))
    weight = torch.from_numpy(np.ascontiguousarray(kernel_hwio.transpose(3, 2, 0, 1)))
    with torch.no_grad():
        y = tnf.conv2d(
            tnf.pad(x, pads), weight, torch.from_numpy(bias), stride=stride, dilation=dilation
        )
    return y.numpy().transpose(0, 2, 3, 1)


def _check_same_padding_values(
    reference: np.ndarray,
    x: np.ndarray,
    kernel_hwio: np.ndarray,
    bias: np.ndarray,
    kernel: int,
    stride: int,
    dilation: int,
    what: str,
) -> tuple[bool, bool]:
    """Assert ``reference`` (a TF "same" conv) equals pad-by-``same_padding`` + torch conv.

    Returns ``(asymmetric, discriminated)``: whether this case pads one side more than the
    other, and whether putting the odd pixel top/left instead would have given other numbers
    (it need not: with dilation, a tiny input can fall between the taps either way).
    """
    h, w = _hw(x.shape)
    case = f"{what}: H={h} W={w} F={kernel} S={stride} D={dilation}"
    assert _hw(reference.shape) == (same_output_size(h, stride), same_output_size(w, stride)), case
    top, bottom = same_padding(h, kernel, stride, dilation)
    left, right = same_padding(w, kernel, stride, dilation)
    ours = _torch_pad_conv(x, kernel_hwio, bias, (left, right, top, bottom), stride, dilation)
    np.testing.assert_allclose(
        ours,
        reference,
        rtol=ATOL,
        atol=ATOL,
        err_msg=f"{case} same_padding=(top {top}, bottom {bottom}, left {left}, right {right})",
    )
    if (top, left) == (bottom, right):
        return False, False
    flipped = _torch_pad_conv(x, kernel_hwio, bias, (right, left, bottom, top), stride, dilation)
    return True, not np.allclose(flipped, reference, rtol=ATOL, atol=ATOL)


def _assert_has_teeth(outcomes: list[tuple[bool, bool]]) -> None:
    """Where the grid has odd total padding, some case must tell bottom/right from top/left."""
    if any(asymmetric for asymmetric, _ in outcomes):
        assert any(discriminated for _, discriminated in outcomes), (
            "no asymmetric case distinguishes the odd pixel's side"
        )


# --------------------------------------------------------------------------- convolution


@pytest.mark.parametrize(("kernel", "stride", "dilation"), CONV_GRID_KERAS)
def test_keras_conv2d_valid_output_size(kernel: int, stride: int, dilation: int) -> None:
    layer = keras.layers.Conv2D(
        CHANNELS, kernel, strides=stride, dilation_rate=dilation, padding="valid"
    )
    layer.build((None, None, None, CHANNELS))
    rng = _rng(kernel, stride, dilation)
    for h, w in SHAPES:
        expected = (
            conv_output_size(h, kernel, stride, 0, dilation),
            conv_output_size(w, kernel, stride, 0, dilation),
        )
        x = _input(rng, h, w)
        case = f"H={h} W={w} F={kernel} S={stride} D={dilation}: formula {expected}"
        if min(expected) >= 1:
            assert _hw(layer(x).shape) == expected, case
        else:
            # Formula says the window does not fit; Keras agrees by refusing. It checks only
            # when it builds on a concrete shape, hence a fresh layer: an already built layer
            # passes the input to the TF op, which (with oneDNN) returns an input-shaped
            # tensor of uninitialised memory for an output of exactly 0.
            fresh = keras.layers.Conv2D(
                CHANNELS, kernel, strides=stride, dilation_rate=dilation, padding="valid"
            )
            with pytest.raises(ValueError, match="zero or negative"):
                fresh(x)


@pytest.mark.parametrize(("kernel", "stride", "dilation"), CONV_GRID_KERAS)
def test_same_padding_matches_keras_same_conv2d(kernel: int, stride: int, dilation: int) -> None:
    """Keras ``padding="same"`` == ``F.pad`` by ``same_padding`` + torch conv, value for value.

    Also checks the output size against ``same_output_size``, and for stride 1 (the only
    stride PyTorch allows) that torch's own ``padding="same"`` agrees as well.
    """
    rng = _rng(kernel, stride, dilation)
    layer = keras.layers.Conv2D(
        CHANNELS, kernel, strides=stride, dilation_rate=dilation, padding="same"
    )
    layer.build((None, None, None, CHANNELS))
    kernel_hwio = rng.standard_normal((kernel, kernel, CHANNELS, CHANNELS)).astype(np.float32)
    bias = rng.standard_normal(CHANNELS).astype(np.float32)
    layer.set_weights([kernel_hwio, bias])
    torch_same = torch.nn.Conv2d(
        CHANNELS, CHANNELS, kernel, stride=1, padding="same", dilation=dilation
    )
    with torch.no_grad():
        torch_same.weight.copy_(torch.from_numpy(kernel_hwio.transpose(3, 2, 0, 1)))
        torch_same.bias.copy_(torch.from_numpy(bias))

    outcomes = []
    for h, w in SHAPES:
        x = _input(rng, h, w)
        got = keras.ops.convert_to_numpy(layer(x))
        outcomes.append(
            _check_same_padding_values(got, x, kernel_hwio, bias, kernel, stride, dilation, "keras")
        )
        if stride == 1:
            with torch.no_grad(), warnings.catch_warnings():
                # torch warns that even kernels need a padded copy of the input; harmless.
                warnings.simplefilter("ignore", UserWarning)
                y = torch_same(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))))
            np.testing.assert_allclose(
                y.numpy().transpose(0, 2, 3, 1),
                got,
                rtol=ATOL,
                atol=ATOL,
                err_msg=f"torch padding='same': H={h} W={w} F={kernel} D={dilation}",
            )
    _assert_has_teeth(outcomes)


@pytest.mark.parametrize(("kernel", "stride", "dilation"), CONV_GRID_KERAS_REFUSES)
def test_same_padding_matches_tf_conv2d_stride_and_dilation(
    kernel: int, stride: int, dilation: int
) -> None:
    """Where Keras refuses stride>1 with dilation>1, the raw TF op still defines "SAME"."""
    with pytest.raises(ValueError, match="dilation_rate"):
        keras.layers.Conv2D(CHANNELS, kernel, strides=stride, dilation_rate=dilation)
    rng = _rng(kernel, stride, dilation)
    kernel_hwio = rng.standard_normal((kernel, kernel, CHANNELS, CHANNELS)).astype(np.float32)
    bias = np.zeros(CHANNELS, dtype=np.float32)
    outcomes = []
    for h, w in SHAPES:
        x = _input(rng, h, w)
        got = tf.nn.conv2d(x, kernel_hwio, strides=stride, padding="SAME", dilations=dilation)
        outcomes.append(
            _check_same_padding_values(
                got.numpy(), x, kernel_hwio, bias, kernel, stride, dilation, "tf.nn.conv2d"
            )
        )
    _assert_has_teeth(outcomes)


@pytest.mark.parametrize(("kernel", "stride", "dilation"), CONV_GRID_ALL)
def test_torch_conv2d_explicit_padding_output_size(kernel: int, stride: int, dilation: int) -> None:
    for pad in PADDINGS:
        conv = torch.nn.Conv2d(1, 1, kernel, stride=stride, padding=pad, dilation=dilation)
        for h, w in SHAPES:
            expected = (
                conv_output_size(h, kernel, stride, 2 * pad, dilation),
                conv_output_size(w, kernel, stride, 2 * pad, dilation),
            )
            x = torch.zeros(1, 1, h, w)
            case = f"H={h} W={w} F={kernel} S={stride} D={dilation} P={pad}: formula {expected}"
            with torch.no_grad():
                if min(expected) >= 1:
                    assert tuple(conv(x).shape[2:]) == expected, case
                else:
                    with pytest.raises(RuntimeError, match="greater than actual input size"):
                        conv(x)


@pytest.mark.parametrize(("kernel", "stride", "dilation"), CONV_GRID_ALL)
def test_dropped_by_window_matches_torch_coverage(kernel: int, stride: int, dilation: int) -> None:
    """The trailing rows/columns no window touches get zero gradient in a real conv.

    With all-ones weights the input gradient counts the window taps covering each pixel, so
    the run of zeros at the far edge is exactly what the windows drop. The padded tensor is
    the leaf, so padding rows count as rows, like ``pad_total`` in the formula.
    """
    weight = torch.ones(1, 1, kernel, kernel)
    for pad in PADDINGS:
        for h, w in SHAPES:
            if min(h, w) + 2 * pad < effective_kernel_size(kernel, dilation):
                continue  # no window at all: nothing to drop from
            xp = torch.zeros(1, 1, h + 2 * pad, w + 2 * pad, requires_grad=True)
            tnf.conv2d(xp, weight, stride=stride, dilation=dilation).sum().backward()
            assert xp.grad is not None
            grad = xp.grad[0, 0]
            rows_hit = (grad.sum(dim=1) > 0).tolist()
            cols_hit = (grad.sum(dim=0) > 0).tolist()
            got = (rows_hit[::-1].index(True), cols_hit[::-1].index(True))
            expected = (
                dropped_by_window(h, kernel, stride, 2 * pad, dilation),
                dropped_by_window(w, kernel, stride, 2 * pad, dilation),
            )
            assert got == expected, f"H={h} W={w} F={kernel} S={stride} D={dilation} P={pad}"


@pytest.mark.parametrize(("kernel", "stride", "dilation"), CONV_GRID_ALL)
def test_torch_conv_transpose2d_output_size(kernel: int, stride: int, dilation: int) -> None:
    for pad in PADDINGS:
        # torch requires output_padding < max(stride, dilation)
        for out_pad in range(max(stride, dilation)):
            deconv = torch.nn.ConvTranspose2d(
                1,
                1,
                kernel,
                stride=stride,
                padding=pad,
                output_padding=out_pad,
                dilation=dilation,
            )
            for h, w in SHAPES:
                expected = (
                    conv_transpose_output_size(h, kernel, stride, 2 * pad, dilation, out_pad),
                    conv_transpose_output_size(w, kernel, stride, 2 * pad, dilation, out_pad),
                )
                if min(expected) < 1:
                    continue
                with torch.no_grad():
                    got = tuple(deconv(torch.zeros(1, 1, h, w)).shape[2:])
                case = f"H={h} W={w} F={kernel} S={stride} D={dilation} P={pad} OP={out_pad}"
                assert got == expected, case


# --------------------------------------------------------------------------- pooling


@pytest.mark.parametrize("layer_cls", [keras.layers.MaxPooling2D, keras.layers.AveragePooling2D])
@pytest.mark.parametrize(("pool", "stride"), POOL_GRID)
def test_keras_pooling_output_size(layer_cls: type, pool: int, stride: int) -> None:
    valid = layer_cls(pool_size=pool, strides=stride, padding="valid")
    same = layer_cls(pool_size=pool, strides=stride, padding="same")
    rng = _rng(pool, stride)
    for h, w in SHAPES:
        x = _input(rng, h, w)
        case = f"{layer_cls.__name__} H={h} W={w} pool={pool} S={stride}"
        expected_same = (same_output_size(h, stride), same_output_size(w, stride))
        assert _hw(same(x).shape) == expected_same, f"same {case}"
        expected_valid = (pool_output_size(h, pool, stride), pool_output_size(w, pool, stride))
        # Only where the window fits: TF's valid max pooling with pool > input kills the
        # whole process with SIGFPE instead of raising.
        if min(expected_valid) >= 1:
            assert _hw(valid(x).shape) == expected_valid, f"valid {case}"


@pytest.mark.parametrize(("pool", "stride"), POOL_GRID)
def test_same_padding_matches_keras_same_max_pooling(pool: int, stride: int) -> None:
    """Keras "same" max pooling == ``F.pad`` (-inf) by ``same_padding`` + torch MaxPool2d."""
    layer = keras.layers.MaxPooling2D(pool_size=pool, strides=stride, padding="same")
    torch_pool = torch.nn.MaxPool2d(pool, stride=stride, padding=0)
    rng = _rng(pool, stride, 7)
    for h, w in SHAPES:
        x = _input(rng, h, w)
        got = keras.ops.convert_to_numpy(layer(x))
        top, bottom = same_padding(h, pool, stride)
        left, right = same_padding(w, pool, stride)
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        padded = tnf.pad(xt, (left, right, top, bottom), value=float("-inf"))
        ours = torch_pool(padded).numpy().transpose(0, 2, 3, 1)
        np.testing.assert_allclose(
            ours,
            got,
            rtol=ATOL,
            atol=ATOL,
            err_msg=f"H={h} W={w} pool={pool} S={stride} pads=({top},{bottom},{left},{right})",
        )


@pytest.mark.parametrize("layer_cls", [torch.nn.MaxPool2d, torch.nn.AvgPool2d])
@pytest.mark.parametrize(("pool", "stride"), POOL_GRID)
def test_torch_pooling_output_size(layer_cls: type, pool: int, stride: int) -> None:
    # padding=0 is the main case; torch also allows explicit padding up to pool // 2.
    for pad in range(pool // 2 + 1):
        layer = layer_cls(pool, stride=stride, padding=pad)
        for h, w in SHAPES:
            expected = (
                pool_output_size(h, pool, stride, 2 * pad),
                pool_output_size(w, pool, stride, 2 * pad),
            )
            x = torch.zeros(1, 1, h, w)
            case = f"{layer_cls.__name__} H={h} W={w} pool={pool} S={stride} P={pad}: {expected}"
            if min(expected) >= 1:
                assert tuple(layer(x).shape[2:]) == expected, case
            else:
                with pytest.raises(RuntimeError, match="too small"):
                    layer(x)


# --------------------------------------------------------------------------- parameters

CONV_PARAM_CASES = [
    pytest.param((3, 3), 3, 32, 1, True, id="3x3-3to32"),
    pytest.param((3, 3), 32, 32, 32, False, id="3x3-depthwise32-nobias"),
    pytest.param((5, 3), 8, 16, 4, True, id="5x3-8to16-groups4"),
    pytest.param((1, 1), 16, 8, 1, False, id="1x1-16to8-nobias"),
    pytest.param((7, 7), 4, 6, 2, True, id="7x7-4to6-groups2"),
    pytest.param((2, 4), 6, 12, 3, False, id="2x4-6to12-groups3-nobias"),
]


@pytest.mark.parametrize(
    ("kernel", "in_channels", "filters", "groups", "use_bias"), CONV_PARAM_CASES
)
def test_conv_params_match_frameworks(
    kernel: tuple[int, int], in_channels: int, filters: int, groups: int, use_bias: bool
) -> None:
    expected = conv_params(kernel, in_channels, filters, groups, use_bias)
    layer = keras.layers.Conv2D(filters, kernel, groups=groups, use_bias=use_bias)
    layer.build((None, 9, 9, in_channels))
    assert layer.count_params() == expected
    conv = torch.nn.Conv2d(in_channels, filters, kernel, groups=groups, bias=use_bias)
    assert sum(p.numel() for p in conv.parameters()) == expected


@pytest.mark.parametrize(
    ("in_features", "units", "use_bias"),
    [
        pytest.param(1024, 64, True, id="1024to64"),
        pytest.param(10, 1, False, id="10to1-nobias"),
        pytest.param(3, 7, True, id="3to7"),
        pytest.param(1, 1, False, id="1to1-nobias"),
    ],
)
def test_dense_params_match_frameworks(in_features: int, units: int, use_bias: bool) -> None:
    expected = dense_params(in_features, units, use_bias)
    layer = keras.layers.Dense(units, use_bias=use_bias)
    layer.build((None, in_features))
    assert layer.count_params() == expected
    linear = torch.nn.Linear(in_features, units, bias=use_bias)
    assert sum(p.numel() for p in linear.parameters()) == expected
