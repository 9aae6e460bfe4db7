"""upsample2d: schema and shape rule.

Every row is repeated ``size[0]`` times and every column ``size[1]`` times (nearest),
or the image is resized to ``H*s x W*s`` by bilinear interpolation with half-pixel
centres: output pixel ``i`` samples input coordinate ``(i + 0.5) / s - 0.5``, clamped
to the image, so the border rows copy the edge pixel. That is Keras' UpSampling2D and
PyTorch's ``nn.Upsample(mode="bilinear", align_corners=False)``; ``align_corners=True``
would be another function.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from specgen.formulas import explain_upsample_output_size, upsample_output_size
from specgen.layers.base import Inferred, Interpolation, IntPair, LayerBase, Shape, require_rank


class UpSample2D(LayerBase):
    """Enlarges H and W `size` times: repeats pixels (`nearest`) or interpolates (`bilinear`,
    half-pixel centres).

    The receptive field is not defined after it: neighbouring output pixels step through
    the input by a fraction of a pixel.
    """

    type: Literal["upsample2d"] = Field(description="Layer type: upsample2d.")
    size: IntPair = Field(
        default=(2, 2),
        description="How many times H and W are enlarged: an int or [h, w]; default 2.",
        examples=[2, [2, 1]],
    )
    interpolation: Interpolation = Field(
        default="nearest",
        description="'nearest' repeats pixels, 'bilinear' interpolates (half-pixel centres); "
        "default 'nearest'.",
        examples=["bilinear"],
    )

    def infer(self, inputs: list[Shape]) -> Inferred:
        h, w, c = require_rank(
            inputs, 3, hint="upsample2d works on [H, W, C]; reshape a flat input to [H, W, C] first"
        )
        sh, sw = self.size
        return Inferred(
            output=(upsample_output_size(h, sh), upsample_output_size(w, sw), c),
            formulas=(explain_upsample_output_size(h, sh), explain_upsample_output_size(w, sw)),
            fixed_window=False,
        )
