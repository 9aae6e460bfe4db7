"""rescaling: schema and shape rule.

``y = x * scale + offset`` (Keras' Rescaling), on any rank; a list gives one value per
channel (the last axis). The layer holds no weights: both targets write the numbers
into the emitted code.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from specgen.layers.base import (
    Inferred,
    LayerBase,
    PerChannel,
    Shape,
    ShapeIssue,
    check_per_channel,
    raise_all,
)


class Rescaling(LayerBase):
    """x * scale + offset; each a number or one per channel (the last axis)."""

    type: Literal["rescaling"] = Field(description="Layer type: rescaling.")
    scale: PerChannel = Field(
        description="Factor the input is multiplied by: a number or one per channel.",
        examples=[0.00392156862745098, 0.00784313725490196],
    )
    offset: PerChannel = Field(
        default=0.0,
        description="Number added after scaling: a number or one per channel; default 0.0.",
        examples=[-1.0],
    )

    def infer(self, inputs: list[Shape]) -> Inferred:
        (shape,) = inputs
        issues: list[ShapeIssue] = []
        for field in ("scale", "offset"):
            try:
                check_per_channel(getattr(self, field), shape[-1], field)
            except ShapeIssue as issue:
                issues.append(issue)
        raise_all(issues)
        return Inferred(output=shape)
