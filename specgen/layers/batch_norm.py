"""batch_norm: schema and shape rule.

specgen's defaults and momentum convention are Keras': ``moving = momentum * moving +
(1 - momentum) * batch``, epsilon 1e-3, momentum 0.99. PyTorch's convention is the
reverse (its momentum weighs the *batch*), so the PyTorch target passes
``1 - momentum`` and both targets always receive explicit values.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from specgen.layers.base import Inferred, LayerBase, Shape

BATCH_NORM_EPSILON = 1e-3
BATCH_NORM_MOMENTUM = 0.99


class BatchNorm(LayerBase):
    """Batch normalization over the channel (last) axis."""

    type: Literal["batch_norm"] = Field(description="Layer type: batch_norm.")
    epsilon: float = Field(
        default=BATCH_NORM_EPSILON,
        gt=0.0,
        allow_inf_nan=False,
        description="Small number added to the variance before its square root; default 0.001.",
        examples=[1e-05],
    )
    momentum: float = Field(
        default=BATCH_NORM_MOMENTUM,
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="Weight of the old moving mean and variance in each update (Keras' "
        "convention); default 0.99.",
        examples=[0.9],
    )
    center: bool = Field(
        default=True,
        description="Whether to learn an offset (beta) added after normalizing; default true.",
        examples=[False],
    )
    scale: bool = Field(
        default=True,
        description="Whether to learn a factor (gamma) applied after normalizing; default true.",
        examples=[False],
    )

    def infer(self, inputs: list[Shape]) -> Inferred:
        (shape,) = inputs
        channels = shape[-1]
        # Keras counts gamma/beta as trainable and the moving mean/variance as not.
        trainable = channels * (int(self.center) + int(self.scale))
        return Inferred(output=shape, params=trainable, non_trainable=2 * channels)
