"""separable_conv2d: schema and shape rule.

A depthwise step (kernel, stride, padding and dilation all act here, without a bias)
followed by a 1x1 pointwise convolution to ``filters`` channels that adds the bias, as
Keras' SeparableConv2D computes it. The output size is the depthwise step's.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from specgen.formulas import separable_conv_params
from specgen.layers.base import (
    ActivationName,
    Inferred,
    IntPair,
    LayerBase,
    Padding,
    PositiveInt,
    Shape,
)
from specgen.layers.depthwise_conv2d import depthwise_step


class SeparableConv2D(LayerBase):
    """Depthwise then pointwise 2-D convolution: [H, W, C] -> [H', W', filters]."""

    type: Literal["separable_conv2d"] = Field(description="Layer type: separable_conv2d.")
    filters: PositiveInt = Field(description="Number of output channels.", examples=[32, 64])
    kernel_size: IntPair = Field(
        description="Kernel height and width: an int or [h, w].", examples=[3, [1, 7]]
    )
    stride: IntPair = Field(
        default=(1, 1),
        description="Step of the kernel over H and W: an int or [h, w]; default 1.",
        examples=[2, [2, 1]],
    )
    padding: Padding = Field(
        default="valid",
        description="'valid' (none), 'same', an int, [ph, pw] or [[top, bottom], [left, right]]; "
        "default 'valid'.",
        examples=["same", [[1, 1], [0, 1]]],
    )
    dilation: IntPair = Field(
        default=(1, 1),
        description="Spacing between the kernel's taps: an int or [h, w]; default 1.",
        examples=[2, [2, 1]],
    )
    depth_multiplier: PositiveInt = Field(
        default=1,
        description="Output channels per input channel in the depthwise step; default 1.",
        examples=[2],
    )
    use_bias: bool = Field(
        default=True, description="Whether the layer adds a bias; default true.", examples=[False]
    )
    activation: ActivationName = Field(
        default="linear",
        description="Activation applied to the output; default 'linear' (none).",
        examples=["relu", "gelu"],
    )

    def infer(self, inputs: list[Shape]) -> Inferred:
        channels, inferred = depthwise_step(self, inputs, self.filters)
        h, w = inferred.output[:2]
        inferred.params = separable_conv_params(
            self.kernel_size, channels, self.depth_multiplier, self.filters, self.use_bias
        )
        inferred.macs += h * w * channels * self.depth_multiplier * self.filters  # pointwise
        return inferred
