"""Output-size arithmetic: one small pure function per formula.

Everything here works on one spatial axis and plain ints, so it can be checked
against real framework layers over a grid (tests/test_formulas_frameworks.py).
The ``explain_*`` twins render the same computation with the numbers filled in,
for error messages.
"""

from __future__ import annotations

import math


def effective_kernel_size(kernel: int, dilation: int) -> int:
    """Extent of a dilated kernel: ``D*(F-1) + 1``.

    >>> effective_kernel_size(3, 1)
    3
    >>> effective_kernel_size(3, 2)
    5
    """
    return dilation * (kernel - 1) + 1


def conv_output_size(size: int, kernel: int, stride: int, pad_total: int, dilation: int) -> int:
    """Convolution (and explicit-padding pooling) output size on one axis.

    ``out = floor((H + P - D*(F-1) - 1) / S) + 1`` where ``P`` is the total padding
    of the axis (``2P`` in the symmetric textbook form). A result below 1 means the
    window does not fit; callers report it.

    >>> conv_output_size(32, 3, 1, 0, 1)
    30
    >>> conv_output_size(227, 11, 4, 0, 1)
    55
    >>> conv_output_size(7, 3, 2, 2, 2)
    3
    >>> conv_output_size(2, 3, 1, 0, 1)
    0
    """
    return (size + pad_total - dilation * (kernel - 1) - 1) // stride + 1


def explain_conv_output_size(
    size: int, kernel: int, stride: int, pad_total: int, dilation: int
) -> str:
    """The conv formula with the numbers in, for messages.

    >>> explain_conv_output_size(2, 3, 1, 0, 1)
    'floor((2 + 0 - 3) / 1) + 1 = 0'
    >>> explain_conv_output_size(7, 3, 2, 2, 2)
    'floor((7 + 2 - 2*(3-1) - 1) / 2) + 1 = 3'
    """
    out = conv_output_size(size, kernel, stride, pad_total, dilation)
    if dilation == 1:
        return f"floor(({size} + {pad_total} - {kernel}) / {stride}) + 1 = {out}"
    return f"floor(({size} + {pad_total} - {dilation}*({kernel}-1) - 1) / {stride}) + 1 = {out}"


def same_output_size(size: int, stride: int) -> int:
    """Output size under ``padding="same"`` (TensorFlow semantics): ``ceil(H / S)``.

    >>> same_output_size(32, 1)
    32
    >>> same_output_size(7, 2)
    4
    """
    return -(-size // stride)


def explain_same_output_size(size: int, stride: int) -> str:
    """The 'same' formula with the numbers in.

    >>> explain_same_output_size(7, 2)
    'ceil(7 / 2) = 4'
    """
    return f"ceil({size} / {stride}) = {same_output_size(size, stride)}"


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """Resolve ``padding="same"`` to explicit (before, after) amounts on one axis.

    ``P = max((ceil(H/S) - 1)*S + D*(F-1) + 1 - H, 0)``, split ``floor(P/2)`` before
    and the rest after: an odd pixel goes bottom/right, as TensorFlow does (PyTorch's
    own ``padding="same"`` refuses stride > 1, so targets pad explicitly).

    >>> same_padding(32, 3, 1)
    (1, 1)
    >>> same_padding(32, 3, 2)
    (0, 1)
    >>> same_padding(7, 3, 2)
    (1, 1)
    >>> same_padding(8, 2, 2)
    (0, 0)
    >>> same_padding(5, 3, 1, dilation=2)
    (2, 2)
    """
    out = same_output_size(size, stride)
    total = max((out - 1) * stride + effective_kernel_size(kernel, dilation) - size, 0)
    return total // 2, total - total // 2


def pool_output_size(size: int, pool: int, stride: int, pad_total: int = 0) -> int:
    """Pooling output size on one axis (floor mode, as Keras and PyTorch's default).

    ``out = floor((H + P - F) / S) + 1``; with ``padding="same"`` use
    `same_output_size` instead.

    >>> pool_output_size(30, 2, 2)
    15
    >>> pool_output_size(13, 2, 2)
    6
    >>> pool_output_size(55, 3, 2)
    27
    """
    return conv_output_size(size, pool, stride, pad_total, 1)


def dropped_by_window(size: int, window: int, stride: int, pad_total: int, dilation: int) -> int:
    """Rows (or columns) at the far edge that no window covers.

    ``(H + P - D*(F-1) - 1) mod S``; zero means the windows tile the input exactly.

    >>> dropped_by_window(13, 2, 2, 0, 1)
    1
    >>> dropped_by_window(30, 2, 2, 0, 1)
    0
    """
    return (size + pad_total - effective_kernel_size(window, dilation)) % stride


def conv_transpose_output_size(
    size: int, kernel: int, stride: int, pad_total: int, dilation: int, output_padding: int = 0
) -> int:
    """Transposed convolution output size on one axis.

    ``out = (H - 1)*S - P + D*(F-1) + output_padding + 1``: the full output
    ``(H - 1)*S + D*(F-1) + 1`` with ``P`` rows cropped off (PyTorch's ``2*padding``) and
    ``output_padding`` rows added at the end. ``P`` may be negative (rows added), so the
    crop that `conv_transpose_crop` resolves for Keras' 'valid' and 'same' fits too:
    ``conv_transpose_output_size(H, F, S, before + after, D)``.

    >>> conv_transpose_output_size(4, 3, 2, 2, 1, 1)
    8
    >>> conv_transpose_output_size(4, 2, 2, 0, 1)
    8
    >>> conv_transpose_output_size(4, 3, 2, sum(conv_transpose_crop(3, 2, 1, "same", None)), 1)
    8
    >>> conv_transpose_output_size(4, 3, 1, 0, 2, 0)
    8
    >>> conv_transpose_output_size(4, 1, 3, -2, 1)
    12
    """
    return (size - 1) * stride - pad_total + dilation * (kernel - 1) + output_padding + 1


def conv_params(
    kernel: tuple[int, int], in_channels: int, filters: int, groups: int, use_bias: bool
) -> int:
    """Weights of a 2-D convolution: ``Fh*Fw*(Cin/groups)*filters (+ filters)``.

    >>> conv_params((3, 3), 3, 32, 1, True)
    896
    >>> conv_params((3, 3), 32, 32, 32, False)
    288
    """
    return kernel[0] * kernel[1] * (in_channels // groups) * filters + (filters if use_bias else 0)


def dense_params(in_features: int, units: int, use_bias: bool) -> int:
    """Weights of a dense layer: ``in*units (+ units)``.

    >>> dense_params(1024, 64, True)
    65600
    """
    return in_features * units + (units if use_bias else 0)


def broadcast_shapes(
    shapes: list[tuple[int, ...]],
) -> tuple[tuple[int, ...] | None, int]:
    """NumPy-style broadcast of equal-rank shapes: per axis all sizes equal or 1.

    Returns (output shape, -1), or (None, first axis that does not broadcast).

    >>> broadcast_shapes([(8, 8, 16), (1, 1, 16)])
    ((8, 8, 16), -1)
    >>> broadcast_shapes([(8, 8, 16), (4, 4, 16)])
    (None, 0)
    """
    output = []
    for axis, sizes in enumerate(zip(*shapes, strict=True)):
        real = {size for size in sizes if size != 1}
        if len(real) > 1:
            return None, axis
        output.append(real.pop() if real else 1)
    return tuple(output), -1


def concatenate_output_shape(
    shapes: list[tuple[int, ...]], axis: int
) -> tuple[tuple[int, ...] | None, int]:
    """Join equal-rank shapes along `axis` (sizes add up); every other axis must match.

    Returns (output shape, -1), or (None, first other axis that differs).

    >>> concatenate_output_shape([(8, 8, 16), (8, 8, 32)], 2)
    ((8, 8, 48), -1)
    >>> concatenate_output_shape([(8, 8, 16), (4, 8, 16)], 2)
    (None, 0)
    """
    first = shapes[0]
    for other in range(len(first)):
        if other != axis and any(shape[other] != first[other] for shape in shapes):
            return None, other
    return tuple(
        sum(shape[axis] for shape in shapes) if a == axis else size for a, size in enumerate(first)
    ), -1


def depthwise_conv_params(
    kernel: tuple[int, int], in_channels: int, depth_multiplier: int, use_bias: bool
) -> int:
    """Weights of a depthwise convolution, as Keras counts them:
    ``Fh*Fw*C*dm (+ C*dm)``: ``dm`` kernels per input channel, one bias per output channel.

    >>> depthwise_conv_params((3, 3), 32, 1, True)
    320
    >>> depthwise_conv_params((3, 3), 4, 2, False)
    72
    """
    out_channels = in_channels * depth_multiplier
    return kernel[0] * kernel[1] * out_channels + (out_channels if use_bias else 0)


def separable_conv_params(
    kernel: tuple[int, int], in_channels: int, depth_multiplier: int, filters: int, use_bias: bool
) -> int:
    """Weights of a separable convolution, as Keras counts them:
    ``Fh*Fw*C*dm + C*dm*filters (+ filters)``: the depthwise kernel, the 1x1 pointwise
    kernel, and one bias per filter after the pointwise step (the depthwise step has none).

    >>> separable_conv_params((3, 3), 4, 2, 5, True)
    117
    >>> separable_conv_params((3, 3), 32, 1, 64, False)
    2336
    """
    depthwise = depthwise_conv_params(kernel, in_channels, depth_multiplier, False)
    pointwise = in_channels * depth_multiplier * filters
    return depthwise + pointwise + (filters if use_bias else 0)


def normalization_params(channels: int) -> int:
    """State of an adaptable normalization over the last axis, as Keras counts it:
    ``2*C + 1``: the mean (C,), the variance (C,) and the sample count (), all
    non-trainable. With a fixed mean and variance the layer holds no weights at all.

    >>> normalization_params(3)
    7
    """
    return 2 * channels + 1


def conv_transpose_crop(
    kernel: int, stride: int, dilation: int, padding: str, output_padding: int | None
) -> tuple[int, int]:
    """Keras' ``padding`` and ``output_padding`` of a transposed convolution on one axis,
    as the rows (before, after) cropped off its full output of ``(H - 1)*S + K`` rows,
    ``K = D*(F-1) + 1``. A negative ``after`` appends zero rows (the bias still adds).

    The output has ``(H - 1)*S + max(K, S)`` rows ('valid'), ``H*S`` ('same'), or with
    ``output_padding`` given ``(H - 1)*S + K + op`` ('valid'), ``(H - 1)*S + K mod 2 + op``
    ('same'). So ``T = before + after`` is ``K - max(K, S)``, ``-op``, ``K - S`` or
    ``K - K mod 2 - op``. 'valid' crops ``(0, T)``; 'same' crops ``floor(max(T, 0) / 2)``
    before and the rest after: TensorFlow's transpose of a 'same' convolution, whose odd
    padding row sits bottom/right (`same_padding`), so the odd crop row comes off the end.
    None of it depends on ``H``.

    >>> conv_transpose_crop(3, 2, 1, "same", None)  # 'same' 3x3 stride 2: asymmetric
    (0, 1)
    >>> conv_transpose_crop(4, 2, 1, "same", None)
    (1, 1)
    >>> conv_transpose_crop(3, 2, 1, "same", 1), conv_transpose_crop(3, 2, 1, "same", 0)
    ((0, 1), (1, 1))
    >>> conv_transpose_crop(4, 2, 1, "same", 1)
    (1, 2)
    >>> conv_transpose_crop(3, 1, 2, "same", None)  # dilation: K = 5
    (2, 2)
    >>> conv_transpose_crop(1, 3, 1, "same", None)  # K < S: zeros appended
    (0, -2)
    >>> conv_transpose_crop(3, 2, 1, "valid", None), conv_transpose_crop(3, 2, 1, "valid", 1)
    ((0, 0), (0, -1))
    >>> conv_transpose_crop(2, 3, 1, "valid", None)
    (0, -1)
    """
    k = effective_kernel_size(kernel, dilation)
    if padding == "valid":
        total = k - max(k, stride) if output_padding is None else -output_padding
        return 0, total
    total = k - stride if output_padding is None else k - k % 2 - output_padding
    before = max(total, 0) // 2
    return before, total - before


def explain_conv_transpose_output_size(
    size: int, kernel: int, stride: int, pad_total: int, dilation: int
) -> str:
    """The transposed convolution formula with the numbers in, for messages.

    >>> explain_conv_transpose_output_size(4, 3, 2, 1, 1)
    '(4 - 1)*2 + 3 - 1 = 8'
    >>> explain_conv_transpose_output_size(4, 3, 1, 0, 2)
    '(4 - 1)*1 + 2*(3-1) + 1 = 8'
    >>> explain_conv_transpose_output_size(4, 1, 3, -2, 1)
    '(4 - 1)*3 + 1 + 2 = 12'
    """
    out = conv_transpose_output_size(size, kernel, stride, pad_total, dilation)
    extent = str(kernel) if dilation == 1 else f"{dilation}*({kernel}-1) + 1"
    crop = f" - {pad_total}" if pad_total > 0 else f" + {-pad_total}" if pad_total < 0 else ""
    return f"({size} - 1)*{stride} + {extent}{crop} = {out}"


def upsample_output_size(size: int, factor: int) -> int:
    """Upsampling output size on one axis: every row (column) becomes ``s`` rows.

    ``out = H * s``, for nearest and bilinear interpolation alike.

    >>> upsample_output_size(7, 2)
    14
    >>> upsample_output_size(5, 3)
    15
    """
    return size * factor


def explain_upsample_output_size(size: int, factor: int) -> str:
    """The upsampling formula with the numbers in, for messages.

    >>> explain_upsample_output_size(5, 3)
    '5*3 = 15'
    """
    return f"{size}*{factor} = {upsample_output_size(size, factor)}"


def cropping_output_size(size: int, before: int, after: int) -> int:
    """Cropping output size on one axis: ``out = H - top - bottom`` (``W - left - right``).

    A result below 1 means the cropping removes the whole axis; callers report it.

    >>> cropping_output_size(8, 1, 2)
    5
    >>> cropping_output_size(4, 2, 2)
    0
    """
    return size - before - after


def explain_cropping_output_size(size: int, before: int, after: int) -> str:
    """The cropping formula with the numbers in, for messages.

    >>> explain_cropping_output_size(4, 2, 3)
    '4 - 2 - 3 = -1'
    """
    return f"{size} - {before} - {after} = {cropping_output_size(size, before, after)}"


def reshape_output_shape(
    shape: tuple[int, ...], target: tuple[int, ...]
) -> tuple[tuple[int, ...] | None, int]:
    """Resolve a reshape's target shape (at most one ``-1``) against the input's size.

    The element count stays: ``prod(target) = prod(shape)``; a ``-1`` stands for
    ``prod(shape) / prod(the other entries)``, which must divide exactly. Returns
    (output shape, element count), or (None, element count) when the target does not fit.

    >>> reshape_output_shape((8,), (1, 1, 8))
    ((1, 1, 8), 8)
    >>> reshape_output_shape((4, 4, 3), (-1,))
    ((48,), 48)
    >>> reshape_output_shape((4, 4, 3), (2, -1, 3))
    ((2, 8, 3), 48)
    >>> reshape_output_shape((4, 4, 3), (5, -1, 2))
    (None, 48)
    >>> reshape_output_shape((4, 4, 3), (4, 4, 4))
    (None, 48)
    """
    count = math.prod(shape)
    known = math.prod(n for n in target if n != -1)
    if -1 not in target:
        return (target if known == count else None), count
    if count % known:
        return None, count
    return tuple(count // known if n == -1 else n for n in target), count
