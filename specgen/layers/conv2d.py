"""conv2d: schema and shape rule."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from specgen.formulas import (
    conv_output_size,
    conv_params,
    effective_kernel_size,
    explain_conv_output_size,
    explain_same_output_size,
    same_output_size,
    same_padding,
)
from specgen.layers.base import (
    ActivationName,
    Inferred,
    IntPair,
    LayerBase,
    Padding,
    Pads,
    PositiveInt,
    Shape,
    ShapeIssue,
    Window,
    activation_field,
    check_softmax,
    dilation_field,
    filters_field,
    kernel_size_field,
    padding_field,
    raise_all,
    require_rank,
    stride_field,
    use_bias_field,
)


def resolve_window(
    shape: Shape,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: Literal["valid", "same"] | Pads,
    dilation: tuple[int, int],
    *,
    what: str,
) -> tuple[tuple[int, int], Pads, tuple[str, str]]:
    """Output (h, w), resolved padding and the formula per axis of a sliding window.

    Shared by convolution and pooling: both slide a (dilated) window the same way.
    Raises SG201 when the window does not fit the padded input on some axis.
    """
    pads: list[tuple[int, int]] = []
    outs: list[int] = []
    formulas: list[str] = []
    for axis in (0, 1):
        size, k, s, d = shape[axis], kernel[axis], stride[axis], dilation[axis]
        if padding == "same":
            pad = same_padding(size, k, s, d)
            out = same_output_size(size, s)
            formulas.append(explain_same_output_size(size, s))
        else:
            pad = ((0, 0), (0, 0))[axis] if padding == "valid" else padding[axis]
            out = conv_output_size(size, k, s, sum(pad), d)
            formulas.append(explain_conv_output_size(size, k, s, sum(pad), d))
        pads.append(pad)
        outs.append(out)
    if min(outs) < 1:
        field = "kernel_size" if what == "kernel" else "pool_size"
        (t, b), (left, right) = pads
        ke = [effective_kernel_size(kernel[a], dilation[a]) for a in (0, 1)]
        bad = formulas[0] if outs[0] < 1 else formulas[1]
        raise ShapeIssue(
            "SG201",
            f"{what} {ke[0]}x{ke[1]} does not fit input {shape[0]}x{shape[1]} with padding "
            f"{t + b}x{left + right}: {bad}",
            hint=f"use padding: same, a smaller {field}, or remove a pooling layer before it",
            field=field,
        )
    return (outs[0], outs[1]), (pads[0], pads[1]), (formulas[0], formulas[1])


def convolve(
    shape: Shape,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: Literal["valid", "same"] | Pads,
    dilation: tuple[int, int],
    channels_out: int,
    activation: str,
    issues: list[ShapeIssue],
) -> tuple[Shape, Pads, tuple[str, str], Window]:
    """Output shape, resolved padding, formulas and receptive-field window of a sliding
    convolution (conv2d, depthwise, separable).

    Raises every finding of the layer at once: `issues` found so far, the window not
    fitting (SG201), softmax on its rank-3 output (SG206).
    """
    try:
        (h, w), pads, formulas = resolve_window(
            shape, kernel, stride, padding, dilation, what="kernel"
        )
    except ShapeIssue as issue:
        raise_all([*issues, issue])
        raise
    output = (h, w, channels_out)
    try:
        check_softmax(activation, output)
    except ShapeIssue as issue:
        issues.append(issue)
    raise_all(issues)
    window = Window(
        kernel=(
            effective_kernel_size(kernel[0], dilation[0]),
            effective_kernel_size(kernel[1], dilation[1]),
        ),
        stride=stride,
        pad_before=(pads[0][0], pads[1][0]),
    )
    return output, pads, formulas, window


class Conv2D(LayerBase):
    """2-D convolution over an [H, W, C] input."""

    type: Literal["conv2d"] = Field(description="Layer type: conv2d.")
    filters: PositiveInt = filters_field()
    kernel_size: IntPair = kernel_size_field()
    stride: IntPair = stride_field()
    padding: Padding = padding_field()
    dilation: IntPair = dilation_field()
    groups: PositiveInt = Field(
        default=1,
        description="Number of channel groups, dividing both the input channels and filters; "
        "default 1.",
        examples=[2, 4],
    )
    use_bias: bool = use_bias_field()
    activation: ActivationName = activation_field()

    def infer(self, inputs: list[Shape]) -> Inferred:
        shape = require_rank(
            inputs, 3, hint="conv2d works on [H, W, C]; remove the flatten or dense before it"
        )
        channels = shape[2]
        issues: list[ShapeIssue] = []
        if channels % self.groups or self.filters % self.groups:
            issues.append(
                ShapeIssue(
                    "SG204",
                    f"groups={self.groups} must divide both the input channels ({channels}) "
                    f"and filters ({self.filters})",
                    hint="choose groups among the common divisors of the channels and filters",
                    field="groups",
                )
            )
        kernel = self.kernel_size
        output, pads, formulas, window = convolve(
            shape,
            kernel,
            self.stride,
            self.padding,
            self.dilation,
            self.filters,
            self.activation,
            issues,
        )
        h, w, _ = output
        return Inferred(
            output=output,
            padding=pads,
            params=conv_params(kernel, channels, self.filters, self.groups, self.use_bias),
            macs=h * w * self.filters * kernel[0] * kernel[1] * (channels // self.groups),
            window=window,
            formulas=formulas,
        )
