"""activation: schema and shape rule."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from specgen.layers.base import ActivationName, Inferred, LayerBase, Shape, check_softmax


class Activation(LayerBase):
    """A stand-alone activation function."""

    type: Literal["activation"] = Field(description="Layer type: activation.")
    activation: ActivationName = Field(
        description="The activation function to apply.", examples=["relu", "sigmoid"]
    )

    def infer(self, inputs: list[Shape]) -> Inferred:
        (shape,) = inputs
        check_softmax(self.activation, shape)
        return Inferred(output=shape)
