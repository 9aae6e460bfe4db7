"""flatten: schema and shape rule."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from specgen.layers.base import Inferred, LayerBase, Shape, require_rank


class Flatten(LayerBase):
    """[H, W, C] -> [H*W*C], in channels-last (row-major H, W, C) order.

    The PyTorch target permutes NCHW to NHWC first, so both targets produce the
    same vector and dense weights transfer without reordering surprises.
    """

    type: Literal["flatten"] = Field(description="Layer type: flatten.")

    def infer(self, inputs: list[Shape]) -> Inferred:
        h, w, c = require_rank(inputs, 3, hint="the input is already flat: remove this flatten")
        return Inferred(output=(h * w * c,))
