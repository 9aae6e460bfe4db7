"""zero_padding2d: schema and shape rule."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from specgen.layers.base import (
    ExplicitPadding,
    Inferred,
    LayerBase,
    Shape,
    Window,
    require_rank,
)


class ZeroPadding2D(LayerBase):
    """Pads H and W with zeros: int, [ph, pw] or [[top, bottom], [left, right]]."""

    type: Literal["zero_padding2d"] = Field(description="Layer type: zero_padding2d.")
    padding: ExplicitPadding = Field(
        description="Zeros added around H and W: an int, [ph, pw] or [[top, bottom], [left, "
        "right]].",
        examples=[1, [[0, 1], [0, 1]]],
    )

    def infer(self, inputs: list[Shape]) -> Inferred:
        h, w, c = require_rank(inputs, 3, hint="zero_padding2d works on [H, W, C]")
        (t, b), (left, right) = self.padding
        return Inferred(
            output=(h + t + b, w + left + right, c),
            padding=self.padding,
            window=Window(kernel=(1, 1), stride=(1, 1), pad_before=(t, left)),
        )
