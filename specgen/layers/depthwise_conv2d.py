"""depthwise_conv2d: schema and shape rule; the depthwise step separable_conv2d shares.

Each input channel is convolved with its own ``depth_multiplier`` kernels, so
[H, W, C] becomes [H', W', C*dm], output channel ``c*dm + m`` (Keras' and PyTorch's
order alike). The window slides as conv2d's does (`resolve_window`), so the output
size is `conv_output_size` (or `same_output_size` under 'same').
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from specgen.formulas import depthwise_conv_params
from specgen.layers.base import (
    ActivationName,
    Inferred,
    IntPair,
    LayerBase,
    Padding,
    PositiveInt,
    Shape,
    ShapeIssue,
    activation_field,
    depth_multiplier_field,
    dilation_field,
    kernel_size_field,
    padding_field,
    require_rank,
    stride_field,
    use_bias_field,
)
from specgen.layers.conv2d import convolve

if TYPE_CHECKING:
    from specgen.layers.separable_conv2d import SeparableConv2D


def depthwise_step(
    layer: DepthwiseConv2D | SeparableConv2D, inputs: list[Shape], filters: int | None
) -> tuple[int, Inferred]:
    """The input channels, and what the sliding window decides: output shape (`filters`
    channels, or C*depth_multiplier for None), resolved padding, formulas, receptive-field
    window, and the depthwise step's MACs (parameters left at 0)."""
    shape = require_rank(
        inputs, 3, hint=f"{layer.kind} works on [H, W, C]; remove the flatten or dense before it"
    )
    issues: list[ShapeIssue] = []
    # Keras' DepthwiseConv2D and SeparableConv2D refused the pair before Keras PR #22598,
    # then computed wrong values on TensorFlow until PR #23027: the spec keeps it out of
    # these layer types (SG205).
    if max(layer.stride) > 1 and max(layer.dilation) > 1:
        issues.append(
            ShapeIssue(
                "SG205",
                f"stride {list(layer.stride)} together with dilation {list(layer.dilation)}: "
                f"{layer.kind} takes stride > 1 or dilation > 1, not both",
                hint="use stride 1 with dilation, or dilation 1 with stride",
                field="dilation",
            )
        )
    kernel = layer.kernel_size
    channels = shape[2]
    output, pads, formulas, window = convolve(
        shape,
        kernel,
        layer.stride,
        layer.padding,
        layer.dilation,
        channels * layer.depth_multiplier if filters is None else filters,
        layer.activation,
        issues,
    )
    h, w, _ = output
    return channels, Inferred(
        output=output,
        padding=pads,
        macs=h * w * channels * layer.depth_multiplier * kernel[0] * kernel[1],
        window=window,
        formulas=formulas,
    )


class DepthwiseConv2D(LayerBase):
    """Depthwise 2-D convolution: [H, W, C] -> [H', W', C*depth_multiplier]."""

    type: Literal["depthwise_conv2d"] = Field(description="Layer type: depthwise_conv2d.")
    kernel_size: IntPair = kernel_size_field()
    stride: IntPair = stride_field()
    padding: Padding = padding_field()
    dilation: IntPair = dilation_field()
    depth_multiplier: PositiveInt = depth_multiplier_field()
    use_bias: bool = use_bias_field()
    activation: ActivationName = activation_field()

    def infer(self, inputs: list[Shape]) -> Inferred:
        channels, inferred = depthwise_step(self, inputs, None)
        inferred.params = depthwise_conv_params(
            self.kernel_size, channels, self.depth_multiplier, self.use_bias
        )
        return inferred
