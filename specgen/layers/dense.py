"""dense: schema and shape rule."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from specgen.formulas import dense_params
from specgen.layers.base import (
    ActivationName,
    Inferred,
    LayerBase,
    PositiveInt,
    Shape,
    check_softmax,
    require_rank,
    use_bias_field,
)


class Dense(LayerBase):
    """Fully connected layer on a rank-1 input."""

    type: Literal["dense"] = Field(description="Layer type: dense.")
    units: PositiveInt = Field(description="Number of output features.", examples=[64, 10])
    use_bias: bool = use_bias_field()
    activation: ActivationName = Field(
        default="linear",
        description="Activation applied to the output; default 'linear' (none).",
        examples=["relu", "softmax"],
    )

    def infer(self, inputs: list[Shape]) -> Inferred:
        # Keras would apply dense to the last axis of [H, W, C] and PyTorch's Linear to
        # the last axis of NCHW: different axes, so specgen refuses rank 3 outright.
        (features,) = require_rank(
            inputs, 1, hint="add a flatten or a global pooling layer before it"
        )
        output = (self.units,)
        check_softmax(self.activation, output)
        return Inferred(
            output=output,
            params=dense_params(features, self.units, self.use_bias),
            macs=features * self.units,
        )
