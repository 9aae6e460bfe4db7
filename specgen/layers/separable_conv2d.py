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
    activation_field,
    depth_multiplier_field,
    dilation_field,
    filters_field,
    kernel_size_field,
    padding_field,
    stride_field,
    use_bias_field,
)
from specgen.layers.depthwise_conv2d import depthwise_step


class SeparableConv2D(LayerBase):
    """Depthwise then pointwise 2-D convolution: [H, W, C] -> [H', W', filters]."""

    type: Literal["separable_conv2d"] = Field(description="Layer type: separable_conv2d.")
    filters: PositiveInt = filters_field()
    kernel_size: IntPair = kernel_size_field()
    stride: IntPair = stride_field()
    padding: Padding = padding_field()
    dilation: IntPair = dilation_field()
    depth_multiplier: PositiveInt = depth_multiplier_field()
    use_bias: bool = use_bias_field()
    activation: ActivationName = activation_field()

    def infer(self, inputs: list[Shape]) -> Inferred:
        channels, inferred = depthwise_step(self, inputs, self.filters)
        h, w = inferred.output[:2]
        inferred.params = separable_conv_params(
            self.kernel_size, channels, self.depth_multiplier, self.filters, self.use_bias
        )
        inferred.macs += h * w * channels * self.depth_multiplier * self.filters  # pointwise
        return inferred
