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

import importlib.util
import json
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn.functional as tnf

from specgen import keras_to_torch
from specgen.check import check_file
from specgen.formulas import (
    conv_output_size,
    conv_params,
    conv_transpose_crop,
    conv_transpose_output_size,
    cropping_output_size,
    dense_params,
    depthwise_conv_params,
    dropped_by_window,
    effective_kernel_size,
    normalization_params,
    pool_output_size,
    reshape_output_shape,
    same_output_size,
    same_padding,
    separable_conv_params,
    upsample_output_size,
)
from specgen.layers import ShapeIssue
from specgen.layers.conv2d_transpose import Conv2DTranspose
from specgen.targets import emit_source
from specgen.transfer import DEPTHWISE, counted_buffers

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


# --------------------------------------------------------------------------- depthwise, separable
# The window slides as conv2d's does (same formulas); these check it against Keras'
# DepthwiseConv2D and SeparableConv2D, and the PyTorch modules specgen emits for them:
# a grouped Conv2d(C, C*dm, groups=C) with the kernel laid out by transfer's DEPTHWISE,
# then (separable) a 1x1 Conv2d holding the bias.

DEPTH_MULTIPLIER = 2
SEPARABLE_FILTERS = 3
DEPTHWISE_KINDS = ("depthwise", "separable")


def _keras_depthwise(kind: str, kernel: int, stride: int, dilation: int, padding: str) -> Any:
    options = {"strides": stride, "dilation_rate": dilation, "padding": padding}
    if kind == "separable":
        return keras.layers.SeparableConv2D(
            SEPARABLE_FILTERS, kernel, depth_multiplier=DEPTH_MULTIPLIER, **options
        )
    return keras.layers.DepthwiseConv2D(kernel, depth_multiplier=DEPTH_MULTIPLIER, **options)


def _torch_pad_depthwise(
    x_nhwc: np.ndarray,
    weights: list[np.ndarray],
    pads: tuple[int, int, int, int],
    stride: int,
    dilation: int,
) -> np.ndarray:
    """Explicit zero padding ``(left, right, top, bottom)``, then the emitted PyTorch
    modules, from Keras' weights: [depthwise kernel, bias] or [depthwise, pointwise, bias]."""
    x = torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)))
    kh, kw, channels, dm = weights[0].shape
    depthwise = DEPTHWISE.to_torch(weights[0], (channels * dm, 1, kh, kw))
    bias = torch.from_numpy(weights[-1])
    with torch.no_grad():
        y = tnf.conv2d(
            tnf.pad(x, pads),
            torch.from_numpy(np.ascontiguousarray(depthwise)),
            bias if len(weights) == 2 else None,
            stride=stride,
            dilation=dilation,
            groups=channels,
        )
        if len(weights) == 3:
            pointwise = np.ascontiguousarray(weights[1].transpose(3, 2, 0, 1))
            y = tnf.conv2d(y, torch.from_numpy(pointwise), bias)
    return y.numpy().transpose(0, 2, 3, 1)


@pytest.mark.parametrize("kind", DEPTHWISE_KINDS)
@pytest.mark.parametrize(("kernel", "stride", "dilation"), CONV_GRID_KERAS)
def test_keras_depthwise_valid_output_size(
    kind: str, kernel: int, stride: int, dilation: int
) -> None:
    layer = _keras_depthwise(kind, kernel, stride, dilation, "valid")
    layer.build((None, None, None, CHANNELS))
    rng = _rng(kernel, stride, dilation, 3)
    for h, w in SHAPES:
        expected = (
            conv_output_size(h, kernel, stride, 0, dilation),
            conv_output_size(w, kernel, stride, 0, dilation),
        )
        x = _input(rng, h, w)
        case = f"{kind} H={h} W={w} F={kernel} S={stride} D={dilation}: formula {expected}"
        if min(expected) >= 1:
            assert _hw(layer(x).shape) == expected, case
        else:
            # A fresh layer, as for conv2d: only building on the shape checks it.
            fresh = _keras_depthwise(kind, kernel, stride, dilation, "valid")
            with pytest.raises(ValueError, match="zero or negative"):
                fresh(x)


@pytest.mark.parametrize("kind", DEPTHWISE_KINDS)
@pytest.mark.parametrize(("kernel", "stride", "dilation"), CONV_GRID_KERAS)
def test_same_padding_matches_keras_same_depthwise(
    kind: str, kernel: int, stride: int, dilation: int
) -> None:
    """Keras 'same' == ``F.pad`` by ``same_padding`` + the emitted PyTorch modules, value
    for value: the padding, stride and dilation act in the depthwise step, the bias after
    the pointwise one, and the output channel order is c*dm + m in both."""
    rng = _rng(kernel, stride, dilation, 4)
    layer = _keras_depthwise(kind, kernel, stride, dilation, "same")
    layer.build((None, None, None, CHANNELS))
    weights = [rng.standard_normal(w.shape).astype(np.float32) for w in layer.get_weights()]
    layer.set_weights(weights)
    outcomes = []
    for h, w in SHAPES:
        x = _input(rng, h, w)
        got = keras.ops.convert_to_numpy(layer(x))
        case = f"{kind}: H={h} W={w} F={kernel} S={stride} D={dilation}"
        assert _hw(got.shape) == (same_output_size(h, stride), same_output_size(w, stride)), case
        top, bottom = same_padding(h, kernel, stride, dilation)
        left, right = same_padding(w, kernel, stride, dilation)
        ours = _torch_pad_depthwise(x, weights, (left, right, top, bottom), stride, dilation)
        np.testing.assert_allclose(ours, got, rtol=ATOL, atol=ATOL, err_msg=case)
        if (top, left) == (bottom, right):
            outcomes.append((False, False))
            continue
        flipped = _torch_pad_depthwise(x, weights, (right, left, bottom, top), stride, dilation)
        outcomes.append((True, not np.allclose(flipped, got, rtol=ATOL, atol=ATOL)))
    _assert_has_teeth(outcomes)


@pytest.mark.parametrize(
    ("kernel", "in_channels", "depth_multiplier", "filters", "use_bias"),
    [
        pytest.param((3, 3), 32, 1, 64, True, id="3x3-32-dm1-to64"),
        pytest.param((3, 3), 4, 2, 5, False, id="3x3-4-dm2-to5-nobias"),
        pytest.param((5, 3), 3, 3, 8, True, id="5x3-3-dm3-to8"),
        pytest.param((1, 1), 6, 1, 2, False, id="1x1-6-dm1-to2-nobias"),
    ],
)
def test_depthwise_and_separable_params_match_frameworks(
    kernel: tuple[int, int], in_channels: int, depth_multiplier: int, filters: int, use_bias: bool
) -> None:
    mid = in_channels * depth_multiplier
    expected = depthwise_conv_params(kernel, in_channels, depth_multiplier, use_bias)
    depthwise = keras.layers.DepthwiseConv2D(
        kernel, depth_multiplier=depth_multiplier, use_bias=use_bias
    )
    depthwise.build((None, 9, 9, in_channels))
    assert depthwise.count_params() == expected
    grouped = torch.nn.Conv2d(in_channels, mid, kernel, groups=in_channels, bias=use_bias)
    assert sum(p.numel() for p in grouped.parameters()) == expected

    expected = separable_conv_params(kernel, in_channels, depth_multiplier, filters, use_bias)
    separable = keras.layers.SeparableConv2D(
        filters, kernel, depth_multiplier=depth_multiplier, use_bias=use_bias
    )
    separable.build((None, 9, 9, in_channels))
    assert separable.count_params() == expected
    modules = torch.nn.Sequential(
        torch.nn.Conv2d(in_channels, mid, kernel, groups=in_channels, bias=False),
        torch.nn.Conv2d(mid, filters, 1, bias=use_bias),
    )
    assert sum(p.numel() for p in modules.parameters()) == expected


# --------------------------------------------------------------------------- upsampling, cropping,
# reshape: what specgen emits, run over the grid
#
# Each layer is emitted for both targets once (input -> the layer); the emitted Keras layer
# and PyTorch module then run on every input size of SHAPES. Both take any spatial size.


def _import_source(path: Path, source: str) -> ModuleType:
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"_specgen_grid_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _emitted_models(
    directory: Path, layer: str, shape: tuple[int, ...] = (14, 15, CHANNELS), flat: bool = False
) -> tuple[Any, torch.nn.Module]:
    """The Keras model and the PyTorch model (eval mode) specgen emits for input -> `layer`
    (input -> flatten -> `layer` with `flat`)."""
    layers = (["{type: flatten, name: flat}"] if flat else []) + [layer]
    spec = directory / "probe.yaml"
    spec.write_text(
        f"specgen: 1\nname: probe\ninput: {{shape: {list(shape)}}}\nlayers:\n"
        + "".join(f"  - {entry}\n" for entry in layers),
        encoding="utf-8",
    )
    result = check_file(spec)
    assert result.graph is not None, [str(d) for d in result.report.diagnostics]
    models = []
    for target in ("keras", "pytorch"):
        source, findings = emit_source(result.graph, target, str(spec), b"")
        assert source is not None, [str(d) for d in findings]
        models.append(_import_source(directory / f"probe_{target}.py", source).build_model())
    return models[0], models[1].eval()


def _torch_nhwc(module: Any, x: np.ndarray) -> np.ndarray:
    """Run a PyTorch module on an NHWC (or NF) array; the result back in the same layout."""
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2) if x.ndim == 4 else x))
    with torch.no_grad():
        y = module(xt).numpy()
    return y.transpose(0, 2, 3, 1) if y.ndim == 4 else y


def _keras_numpy(layer: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(layer(x)))


def _half_pixel_weights(size: int, factor: int) -> np.ndarray:
    """(size*factor, size) bilinear weights with half-pixel centres: output i samples input
    coordinate ``(i + 0.5) / factor - 0.5``, clamped to [0, size - 1] at the borders."""
    out = size * factor
    source = np.clip((np.arange(out) + 0.5) / factor - 0.5, 0, size - 1)
    low = np.floor(source).astype(int)
    high = np.minimum(low + 1, size - 1)
    fraction = source - low
    weights = np.zeros((out, size))
    np.add.at(weights, (np.arange(out), low), 1 - fraction)
    np.add.at(weights, (np.arange(out), high), fraction)
    return weights


def _upsample_reference(x: np.ndarray, size: tuple[int, int], interpolation: str) -> np.ndarray:
    """NumPy upsampling of an NHWC batch: repeated rows and columns, or bilinear."""
    if interpolation == "nearest":
        return np.repeat(np.repeat(x, size[0], axis=1), size[1], axis=2)
    rows = _half_pixel_weights(x.shape[1], size[0])
    cols = _half_pixel_weights(x.shape[2], size[1])
    return np.einsum("ih,jw,nhwc->nijc", rows, cols, x.astype(np.float64))


# (41, 2): PyTorch's mode="nearest" picks wrong rows for a factor of 41; see below.
UPSAMPLE_SIZES = [
    pytest.param(size, id=f"{size[0]}x{size[1]}")
    for size in ((1, 1), (2, 2), (3, 2), (2, 5), (4, 3), (41, 2))
]


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("size", UPSAMPLE_SIZES)
def test_upsample2d_output_size_and_values(
    tmp_path: Path, size: tuple[int, int], interpolation: str
) -> None:
    """Keras' UpSampling2D and the emitted PyTorch module: ``upsample_output_size`` and
    the same numbers as NumPy's reference, borders included, on square and non-square
    sizes and inputs."""
    keras_model, torch_model = _emitted_models(
        tmp_path,
        f"{{type: upsample2d, name: probe, size: {list(size)}, interpolation: {interpolation}}}",
    )
    keras_layer, torch_module = keras_model.get_layer("probe"), torch_model.probe
    rng = _rng(*size, interpolation == "bilinear")
    for h, w in SHAPES:
        x = _input(rng, h, w)
        case = f"H={h} W={w} size={size} {interpolation}"
        expected = (upsample_output_size(h, size[0]), upsample_output_size(w, size[1]))
        reference = _upsample_reference(x, size, interpolation)
        for name, y in (
            ("keras", _keras_numpy(keras_layer, x)),
            ("pytorch", _torch_nhwc(torch_module, x)),
        ):
            assert _hw(y.shape) == expected, f"{name} {case}"
            np.testing.assert_allclose(y, reference, rtol=ATOL, atol=ATOL, err_msg=f"{name} {case}")


def test_upsample2d_other_pytorch_modes_would_differ() -> None:
    """Why the PyTorch lowering says mode="nearest-exact" and align_corners=False."""
    rng = _rng(41)
    x = _input(rng, 7, 5)
    nearest = torch.nn.Upsample(scale_factor=(41, 2), mode="nearest")
    repeated = _upsample_reference(x, (41, 2), "nearest")
    assert not np.allclose(_torch_nhwc(nearest, x), repeated)
    corners = torch.nn.Upsample(scale_factor=(3, 2), mode="bilinear", align_corners=True)
    keras_bilinear = keras.layers.UpSampling2D((3, 2), interpolation="bilinear")
    assert not np.allclose(_torch_nhwc(corners, x), _keras_numpy(keras_bilinear, x), atol=1e-3)


CROPPINGS = [
    pytest.param(c, id=str(c).replace(" ", ""))
    for c in (0, 1, [2, 0], [0, 3], [[0, 1], [3, 2]], [[4, 3], [0, 6]], [[1, 0], [0, 1]])
]


@pytest.mark.parametrize("cropping", CROPPINGS)
def test_cropping2d_output_size_and_values(tmp_path: Path, cropping: Any) -> None:
    """Keras' Cropping2D and the emitted PyTorch module: ``cropping_output_size`` and the
    input's inner rows and columns. Where the formula leaves nothing, Keras refuses (and
    specgen reports SG201 before anything is emitted)."""
    keras_model, torch_model = _emitted_models(
        tmp_path, f"{{type: cropping2d, name: probe, cropping: {cropping}}}"
    )
    keras_layer, torch_module = keras_model.get_layer("probe"), torch_model.probe
    (top, bottom), (left, right) = keras_layer.cropping
    rng = _rng(top, bottom, left, right)
    fitted = 0
    for h, w in SHAPES:
        x = _input(rng, h, w)
        case = f"H={h} W={w} cropping={keras_layer.cropping}"
        expected = (
            cropping_output_size(h, top, bottom),
            cropping_output_size(w, left, right),
        )
        if min(expected) < 1:
            with pytest.raises(ValueError, match="should be smaller"):
                keras.layers.Cropping2D(keras_layer.cropping)(x)
            continue
        fitted += 1
        inner = x[:, top : h - bottom, left : w - right]
        for name, y in (
            ("keras", _keras_numpy(keras_layer, x)),
            ("pytorch", _torch_nhwc(torch_module, x)),
        ):
            assert _hw(y.shape) == expected, f"{name} {case}"
            np.testing.assert_array_equal(y, inner, err_msg=f"{name} {case}")
    assert fitted


RESHAPES = [
    pytest.param(shape, target, id=f"{list(shape)}->{list(target)}".replace(" ", ""))
    for shape, target in (
        ((4, 6, 2), (8, 3, 2)),  # rows and columns exchange pixels
        ((4, 6, 2), (-1, 6, 1)),
        ((2, 3, 4), (4, 3, 2)),  # channels become pixels
        ((5, 1, 3), (1, 5, 3)),
        ((4, 6, 2), (-1,)),
        ((4, 6, 2), (48,)),
        ((24,), (2, 3, 4)),
        ((24,), (-1, 2, 3)),
        ((8,), (1, 1, 8)),  # squeeze-and-excitation
        ((12,), (12,)),
        ((4, 6, 2), (5, -1, 2)),  # 48 / 10 is not whole
        ((4, 6, 2), (4, 4, 4)),
        ((7,), (2, -1, 1)),
    )
]


@pytest.mark.parametrize(("shape", "target"), RESHAPES)
def test_reshape_output_shape_and_values(
    tmp_path: Path, shape: tuple[int, ...], target: tuple[int, ...]
) -> None:
    """Keras' Reshape and the emitted PyTorch model (NCHW in, NCHW out): the shape from
    ``reshape_output_shape`` and NumPy's reshape of the channels-last batch. Where the
    formula finds no shape, Keras refuses too. A rank-1 shape [N] is made by a flatten of
    a [1, 1, N] input (the emitted models take [H, W, C])."""
    output, count = reshape_output_shape(shape, target)
    x = _rng(len(shape), count).standard_normal((2, *shape)).astype(np.float32)
    assert count == x[0].size
    if output is None:
        with pytest.raises(ValueError, match="total size of the tensor must be unchanged"):
            keras.layers.Reshape(target)(x)
        return
    flat = len(shape) == 1
    keras_model, torch_model = _emitted_models(
        tmp_path,
        f"{{type: reshape, name: probe, target_shape: {list(target)}}}",
        (1, 1, *shape) if flat else shape,
        flat=flat,
    )
    reference = x.reshape(2, *target)
    model_input = x.reshape(2, 1, 1, *shape) if flat else x
    for name, y in (
        ("keras", _keras_numpy(keras_model, model_input)),
        ("pytorch", _torch_nhwc(torch_model, model_input)),
    ):
        assert y.shape[1:] == output, name
        np.testing.assert_array_equal(y, reference, err_msg=name)


# ------------------------------------------------------------------- rescaling, normalization
# Both keep the input's shape. `normalization_params` is what Keras counts for adaptable
# normalization state, and what the emitted PyTorch model holds in its counted buffers.
# (Rank-1 inputs of these layers are covered by tests/cases/normalization*.yaml.)

NORMALIZATION_SHAPES = [
    pytest.param(shape, id="x".join(map(str, shape)))
    for shape in ((1, 1, 1), (1, 1, 5), (3, 4, 1), (6, 7, 3), (2, 2, 64))
]


@pytest.mark.parametrize("shape", NORMALIZATION_SHAPES)
def test_normalization_params_match_frameworks(tmp_path: Path, shape: tuple[int, ...]) -> None:
    channels = shape[-1]
    inputs = keras.Input(shape)
    fixed = keras.layers.Normalization(mean=0.5, variance=2.0)
    rescaling = keras.layers.Rescaling(0.5, offset=1.0)
    for layer in (fixed, rescaling):
        assert tuple(layer(inputs).shape[1:]) == shape
        assert layer.count_params() == 0  # the values are constants, not weights
    keras_model, torch_model = _emitted_models(
        tmp_path, "{type: normalization, name: probe}", shape
    )
    assert tuple(keras_model.output.shape[1:]) == shape
    assert keras_model.count_params() == normalization_params(channels)
    assert keras_model.get_layer("probe").count_params() == normalization_params(channels)
    assert [w.trainable for w in keras_model.get_layer("probe").weights] == [False] * 3
    counted = sum(
        b.numel()
        for name, b in torch_model.named_buffers()
        if name.rsplit(".", 1)[-1] in counted_buffers()
    )
    assert list(torch_model.parameters()) == []
    assert counted == normalization_params(channels)
    x = _rng(channels, len(shape)).standard_normal((2, *shape)).astype(np.float32)
    assert _torch_nhwc(torch_model, x).shape == x.shape
    assert _keras_numpy(keras_model, x).shape == x.shape


# --------------------------------------------------------------------------- transposed conv
#
# Keras' Conv2DTranspose turns 'valid'/'same' and output_padding into rows cropped off the
# full output (`conv_transpose_crop`); nn.ConvTranspose2d crops both ends alike and adds
# rows at the end, so the PyTorch target splits that crop and crops an odd 'same' row with
# its ConvTranspose2dSame helper. These tests run what specgen really emits: one spec holds
# a conv2d_transpose layer per grid point (emitted and built once, weights moved by
# keras_to_torch), and each layer runs on inputs of several sizes (it takes any size).

TRANSPOSE_FILTERS = 3
# Values are compared on these inputs; output sizes on all of SHAPES. The crop does not
# depend on the input size, so a few sizes (tiny, odd, even, on each axis) suffice.
TRANSPOSE_SHAPES = ((1, 15), (2, 15), (5, 15), (14, 1), (14, 4), (14, 7))


def _transpose_grid(*, strides: tuple[int, ...], dilations: tuple[int, ...]) -> list[Any]:
    """(kernel, stride, dilation, padding, output_padding), with every output_padding
    Keras takes: None and 0 .. S-1."""
    return [
        pytest.param(f, s, d, padding, op, id=f"F{f}-S{s}-D{d}-{padding}-OP{op}")
        for f in KERNELS
        for s in strides
        for d in dilations
        for padding in ("valid", "same")
        for op in (None, *range(s))
    ]


# Dilation 1: what Keras on TensorFlow runs (its CPU kernel refuses dilation > 1). Stride
# 1 with dilation: Keras on the torch backend runs it. Stride with dilation: Keras refuses
# it (the Keras target reports SG401), PyTorch takes it.
TRANSPOSE_GRID = _transpose_grid(strides=STRIDES, dilations=(1,))
TRANSPOSE_GRID_DILATED = _transpose_grid(strides=(1,), dilations=(2, 3))
TRANSPOSE_GRID_STRIDE_AND_DILATION = _transpose_grid(strides=(2, 3), dilations=(2, 3))

Point = tuple[int, int, int, str, int | None]


def _transpose_name(point: Point) -> str:
    kernel, stride, dilation, padding, op = point
    return f"t_f{kernel}_s{stride}_d{dilation}_{padding}_op{'n' if op is None else op}"


def _transpose_fields(point: Point) -> dict[str, Any]:
    kernel, stride, dilation, padding, op = point
    fields: dict[str, Any] = {"type": "conv2d_transpose", "name": _transpose_name(point)}
    fields |= {"filters": TRANSPOSE_FILTERS, "kernel_size": kernel, "stride": stride}
    fields |= {"dilation": dilation, "padding": padding}
    return fields if op is None else {**fields, "output_padding": op}


def _specgen_transpose(point: Point, h: int, w: int) -> tuple[int, int] | None:
    """specgen's output (H, W) for an h x w input, or None where its shape rule refuses."""
    layer = Conv2DTranspose.model_validate(_transpose_fields(point))
    try:
        out = layer.infer([(h, w, CHANNELS)]).output
    except ShapeIssue as issue:
        assert issue.code == "SG104" and issue.field == "output_padding", issue.message
        return None
    return out[0], out[1]


def _emit_transposes(
    points: list[Point], directory: Path, keras_target: bool
) -> tuple[Any, torch.nn.Module]:
    """The Keras model (None unless `keras_target`) and the PyTorch model (eval mode)
    specgen emits for one spec: a layer per point that the shape rule takes, each fed by
    the 5 x 6 input, all of them outputs."""
    taken = [p for p in points if _specgen_transpose(p, 5, 6) is not None]
    fields = [{**_transpose_fields(p), "inputs": "input"} for p in taken]
    spec = {"specgen": 1, "name": "transposes", "input": {"shape": [5, 6, CHANNELS]}}
    spec |= {"layers": fields, "outputs": [f["name"] for f in fields]}
    path = directory / "transposes.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    result = check_file(path)
    assert result.graph is not None, [str(d) for d in result.report.diagnostics]
    models = []
    for target in ("keras", "pytorch") if keras_target else ("pytorch",):
        source, findings = emit_source(result.graph, target, str(path), b"")
        assert source is not None, [str(d) for d in findings]
        models.append(_import_source(directory / f"transposes_{target}.py", source).build_model())
    return (models[0] if keras_target else None), models[-1].eval()


@pytest.fixture(scope="module")
def transposes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, torch.nn.Module]:
    """The emitted models of TRANSPOSE_GRID and TRANSPOSE_GRID_DILATED, random Keras
    weights (bias too) moved into PyTorch by keras_to_torch."""
    points = [p.values for p in TRANSPOSE_GRID + TRANSPOSE_GRID_DILATED]
    keras_model, torch_model = _emit_transposes(
        points, tmp_path_factory.mktemp("transposes"), keras_target=True
    )
    rng = _rng(2024)
    for layer in keras_model.layers[1:]:
        layer.set_weights(
            [rng.standard_normal(w.shape).astype(np.float32) for w in layer.get_weights()]
        )
    keras_to_torch(keras_model, torch_model)
    return keras_model, torch_model


def _transposed_reference(x: np.ndarray, module: Any, point: Point) -> np.ndarray:
    """TensorFlow's definition of conv2d_transpose, free of crop arithmetic: the gradient of
    the convolution it transposes ('valid', or 'same' padded by `same_padding`, proven
    equal to TensorFlow's above), taken at an input of the output's size and applied to
    `x`; plus the bias. `module`: the emitted PyTorch module, for its weights."""
    kernel, stride, dilation, padding, _ = point
    out = _specgen_transpose(point, *_hw(x.shape))
    assert out is not None
    pads = (0, 0, 0, 0)
    if padding == "same":
        top, bottom = same_padding(out[0], kernel, stride, dilation)
        left, right = same_padding(out[1], kernel, stride, dilation)
        pads = (left, right, top, bottom)
    weight = module.weight.detach()  # (in, out, kh, kw): the forward conv's (out, in, ...)
    z = torch.zeros(1, weight.shape[1], *out, requires_grad=True)
    y = tnf.conv2d(tnf.pad(z, pads), weight, stride=stride, dilation=dilation)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    assert y.shape == xt.shape, f"the forward conv maps {out} to {tuple(y.shape[2:])}"
    (y * xt).sum().backward()
    assert z.grad is not None
    result = z.grad + module.bias.detach()[None, :, None, None]
    return np.asarray(result.numpy().transpose(0, 2, 3, 1))


@pytest.mark.parametrize(("kernel", "stride", "dilation", "padding", "op"), TRANSPOSE_GRID)
def test_keras_conv2d_transpose_matches_formula_and_emitted_torch(
    transposes: tuple[Any, torch.nn.Module],
    kernel: int,
    stride: int,
    dilation: int,
    padding: str,
    op: int | None,
) -> None:
    """Keras' output size is `conv_transpose_output_size` of the `conv_transpose_crop`
    specgen resolves, and the emitted PyTorch module computes the emitted Keras layer's
    values. Where specgen's shape rule refuses (SG104: 'same', output_padding 0 and an even
    kernel), TensorFlow refuses too."""
    point = (kernel, stride, dilation, padding, op)
    rng = _rng(kernel, stride, 2 if op is None else op, padding == "same")
    if _specgen_transpose(point, 5, 6) is None:
        layer = keras.layers.Conv2DTranspose(
            TRANSPOSE_FILTERS, kernel, strides=stride, padding=padding, output_padding=op
        )
        for h, w in TRANSPOSE_SHAPES:
            assert _specgen_transpose(point, h, w) is None
            with pytest.raises(tf.errors.InvalidArgumentError, match="Size of out_backprop"):
                layer(_input(rng, h, w))
        return
    keras_model, torch_model = transposes
    name = _transpose_name(point)
    layer, module = keras_model.get_layer(name), getattr(torch_model, name)
    crop = conv_transpose_crop(kernel, stride, dilation, padding, op)
    for h, w in SHAPES:
        expected = (
            conv_transpose_output_size(h, kernel, stride, sum(crop), dilation),
            conv_transpose_output_size(w, kernel, stride, sum(crop), dilation),
        )
        case = f"H={h} W={w} crop={crop}: formula {expected}"
        assert _specgen_transpose(point, h, w) == expected, case
        assert _hw(layer.compute_output_shape((1, h, w, CHANNELS))) == expected, case
        if (h, w) in TRANSPOSE_SHAPES:
            x = _input(rng, h, w)
            got = _keras_numpy(layer, x)
            assert _hw(got.shape) == expected, case
            np.testing.assert_allclose(
                _torch_nhwc(module, x), got, rtol=ATOL, atol=ATOL, err_msg=case
            )


@pytest.fixture(scope="module")
def transposes_stride_and_dilation(tmp_path_factory: pytest.TempPathFactory) -> torch.nn.Module:
    points = [p.values for p in TRANSPOSE_GRID_STRIDE_AND_DILATION]
    directory = tmp_path_factory.mktemp("transposes_sd")
    _, torch_model = _emit_transposes(points, directory, keras_target=False)
    generator = torch.Generator().manual_seed(2025)
    with torch.no_grad():
        for tensor in torch_model.parameters():
            tensor.copy_(torch.randn(tensor.shape, generator=generator))
    return torch_model


def test_keras_target_reports_stride_with_dilation(tmp_path: Path) -> None:
    """Keras' Conv2DTranspose refuses strides > 1 with dilation_rate > 1: SG401 for Keras
    at the dilation, while the spec is valid and PyTorch emits it."""
    point = (3, 2, 2, "same", None)
    with pytest.raises(ValueError, match="dilation_rate"):
        keras.layers.Conv2DTranspose(2, 3, strides=2, dilation_rate=2, padding="same")
    path = tmp_path / "sd.json"
    spec = {"specgen": 1, "name": "sd", "input": {"shape": [5, 6, CHANNELS]}}
    path.write_text(json.dumps({**spec, "layers": [_transpose_fields(point)]}), encoding="utf-8")
    result = check_file(path)
    assert result.graph is not None and result.report.errors == []
    source, findings = emit_source(result.graph, "keras", str(path), b"")
    assert source is None
    assert [(f.code, f.json_path) for f in findings] == [("SG401", ("layers", 0, "dilation"))]
    assert emit_source(result.graph, "pytorch", str(path), b"")[0] is not None


@pytest.mark.parametrize(
    ("kernel", "stride", "dilation", "padding", "op"),
    TRANSPOSE_GRID + TRANSPOSE_GRID_DILATED + TRANSPOSE_GRID_STRIDE_AND_DILATION,
)
def test_emitted_torch_conv2d_transpose_is_the_gradient_of_the_convolution(
    transposes: tuple[Any, torch.nn.Module],
    transposes_stride_and_dilation: torch.nn.Module,
    kernel: int,
    stride: int,
    dilation: int,
    padding: str,
    op: int | None,
) -> None:
    """With dilation too, also beside a stride: the emitted PyTorch module is the transpose
    of the 'valid' or 'same' convolution, computed as that convolution's gradient."""
    point = (kernel, stride, dilation, padding, op)
    if _specgen_transpose(point, 5, 6) is None:
        return  # refused: the Keras grid above shows TensorFlow refuses it as well
    torch_model = transposes_stride_and_dilation if stride > 1 and dilation > 1 else transposes[1]
    module = getattr(torch_model, _transpose_name(point))
    rng = _rng(kernel, stride, dilation, 11)
    for h, w in TRANSPOSE_SHAPES:
        x = _input(rng, h, w)
        got = _torch_nhwc(module, x)
        assert _hw(got.shape) == _specgen_transpose(point, h, w), f"H={h} W={w}"
        reference = _transposed_reference(x, module, point)
        np.testing.assert_allclose(got, reference, rtol=ATOL, atol=ATOL, err_msg=f"H={h} W={w}")


_KERAS_TORCH_BACKEND_TRANSPOSE = r"""
import json
import sys

import keras
import numpy as np

assert keras.backend.backend() == "torch", keras.backend.backend()
data = np.load(sys.argv[1])
out = {}
for i, case in enumerate(json.loads(sys.argv[2])):
    layer = keras.layers.Conv2DTranspose(**case)
    layer.build((None, None, None, data["x0"].shape[-1]))
    layer.set_weights([data[f"kernel{i}"], data[f"bias{i}"]])
    for j in range(int(data["n_inputs"])):
        out[f"y{i}_{j}"] = keras.ops.convert_to_numpy(layer(data[f"x{j}"]))
np.savez(sys.argv[3], **out)
"""


def test_keras_torch_backend_dilated_conv2d_transpose_matches_emitted_torch(
    transposes: tuple[Any, torch.nn.Module], tmp_path: Path
) -> None:
    """Dilated transposed convolutions against real Keras on its torch backend (one
    subprocess; TensorFlow's CPU kernel refuses dilation > 1): output sizes, and the values
    of the emitted PyTorch modules, which got the emitted Keras layers' weights."""
    keras_model, torch_model = transposes
    points = [p.values for p in TRANSPOSE_GRID_DILATED]
    points = [p for p in points if _specgen_transpose(p, 5, 6) is not None]
    assert len(points) >= 30
    rng = _rng(99)
    inputs = [_input(rng, h, w) for h, w in TRANSPOSE_SHAPES]
    arrays: dict[str, np.ndarray] = {f"x{j}": x for j, x in enumerate(inputs)}
    cases = []
    for i, point in enumerate(points):
        kernel, _, dilation, padding, op = point
        arrays[f"kernel{i}"], arrays[f"bias{i}"] = keras_model.get_layer(
            _transpose_name(point)
        ).get_weights()
        cases.append(
            {"filters": TRANSPOSE_FILTERS, "kernel_size": kernel, "dilation_rate": dilation}
            | {"padding": padding, "output_padding": op}
        )
    data, result = tmp_path / "data.npz", tmp_path / "keras.npz"
    np.savez(data, n_inputs=len(inputs), **arrays)
    proc = subprocess.run(
        [sys.executable, "-c", _KERAS_TORCH_BACKEND_TRANSPOSE, data, json.dumps(cases), result],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "torch"},
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    keras_values = np.load(result)
    for i, point in enumerate(points):
        module = getattr(torch_model, _transpose_name(point))
        for j, ((h, w), x) in enumerate(zip(TRANSPOSE_SHAPES, inputs, strict=True)):
            case = f"{point} H={h} W={w}"
            got = keras_values[f"y{i}_{j}"]
            assert _hw(got.shape) == _specgen_transpose(point, h, w), case
            np.testing.assert_allclose(
                _torch_nhwc(module, x), got, rtol=ATOL, atol=ATOL, err_msg=case
            )


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "op"),
    [
        pytest.param(3, 2, "valid", 2, id="output_padding-equal-to-stride"),
        pytest.param(3, 1, "same", 1, id="output_padding-with-stride-1"),
    ],
)
def test_keras_refuses_output_padding_from_the_stride_on(
    kernel: int, stride: int, padding: str, op: int
) -> None:
    """output_padding must be below the stride: Keras refuses the layer, specgen's shape
    rule refuses the spec (SG104)."""
    assert _specgen_transpose((kernel, stride, 1, padding, op), 4, 5) is None
    with pytest.raises(ValueError, match="output_padding"):
        keras.layers.Conv2DTranspose(2, kernel, strides=stride, padding=padding, output_padding=op)


@pytest.mark.parametrize(
    ("kernel", "in_channels", "filters", "use_bias"),
    [
        pytest.param((3, 3), 3, 8, True, id="3x3-3to8"),
        pytest.param((2, 4), 5, 2, False, id="2x4-5to2-nobias"),
        pytest.param((1, 1), 4, 4, True, id="1x1-4to4"),
    ],
)
def test_conv_transpose_params_match_frameworks(
    kernel: tuple[int, int], in_channels: int, filters: int, use_bias: bool
) -> None:
    """A transposed convolution holds a conv2d's kernel with in and out swapped:
    `conv_params`, Keras' kernel (kh, kw, out, in), PyTorch's weight (in, out, kh, kw)."""
    expected = conv_params(kernel, in_channels, filters, 1, use_bias)
    layer = keras.layers.Conv2DTranspose(filters, kernel, use_bias=use_bias)
    layer.build((None, 9, 9, in_channels))
    assert layer.count_params() == expected
    assert tuple(layer.kernel.shape) == (*kernel, filters, in_channels)
    deconv = torch.nn.ConvTranspose2d(in_channels, filters, kernel, bias=use_bias)
    assert sum(p.numel() for p in deconv.parameters()) == expected
    assert tuple(deconv.weight.shape) == (in_channels, filters, *kernel)
