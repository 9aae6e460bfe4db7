"""dropout: schema and shape rule."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from specgen.layers.base import Inferred, LayerBase, Shape


class Dropout(LayerBase):
    """Element-wise dropout; the identity at inference."""

    type: Literal["dropout"] = Field(description="Layer type: dropout.")
    rate: float = Field(
        ge=0.0,
        lt=1.0,
        allow_inf_nan=False,
        description="Fraction of the inputs set to zero in training, from 0 up to (not including) "
        "1.",
        examples=[0.5, 0.25],
    )

    def infer(self, inputs: list[Shape]) -> Inferred:
        (shape,) = inputs
        return Inferred(output=shape)
