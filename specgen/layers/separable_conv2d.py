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

    type: Literal["separable_conv2d"]
    filters: PositiveInt
    kernel_size: IntPair
    stride: IntPair = (1, 1)
    padding: Padding = "valid"
    dilation: IntPair = (1, 1)
    depth_multiplier: PositiveInt = 1
    use_bias: bool = True
    activation: ActivationName = Field(default="linear")

    def infer(self, inputs: list[Shape]) -> Inferred:
        channels, inferred = depthwise_step(self, inputs, self.filters)
        h, w = inferred.output[:2]
        inferred.params = separable_conv_params(
            self.kernel_size, channels, self.depth_multiplier, self.filters, self.use_bias
        )
        inferred.macs += h * w * channels * self.depth_multiplier * self.filters  # pointwise
        return inferred
