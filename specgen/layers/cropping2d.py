"""cropping2d: schema and shape rule."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from specgen.formulas import cropping_output_size, explain_cropping_output_size
from specgen.layers.base import (
    Cropping,
    Inferred,
    LayerBase,
    Shape,
    ShapeIssue,
    Window,
    require_rank,
)


class Cropping2D(LayerBase):
    """Cuts rows and columns off the edges: int, [ch, cw] or [[top, bottom], [left, right]].

    For the receptive field it is a 1x1 window with negative padding: the first output
    pixel is input pixel (top, left).
    """

    type: Literal["cropping2d"] = Field(description="Layer type: cropping2d.")
    cropping: Cropping = Field(
        description="Rows and columns cut off the edges: an int, [ch, cw] or [[top, bottom], "
        "[left, right]].",
        examples=[2, [[0, 1], [0, 1]]],
    )

    def infer(self, inputs: list[Shape]) -> Inferred:
        h, w, c = require_rank(inputs, 3, hint="cropping2d works on [H, W, C]")
        (t, b), (left, right) = self.cropping
        out = (cropping_output_size(h, t, b), cropping_output_size(w, left, right))
        formulas = (
            explain_cropping_output_size(h, t, b),
            explain_cropping_output_size(w, left, right),
        )
        if min(out) < 1:
            bad = " and ".join(
                f"{axis} = {formula}"
                for axis, size, formula in zip("HW", out, formulas, strict=True)
                if size < 1
            )
            raise ShapeIssue(
                "SG201",
                f"cropping {t}+{b} rows and {left}+{right} columns leaves nothing of "
                f"input {h}x{w}: {bad}",
                hint="crop fewer rows and columns than the input has, or crop before a "
                "layer that shrinks the input",
                field="cropping",
            )
        return Inferred(
            output=(out[0], out[1], c),
            window=Window(kernel=(1, 1), stride=(1, 1), pad_before=(-t, -left)),
            formulas=formulas,
        )
