"""rescaling: schema and shape rule.

``y = x * scale + offset`` (Keras' Rescaling), on any rank; a list gives one value per
channel (the last axis). The layer holds no weights: both targets write the numbers
into the emitted code.
"""

from __future__ import annotations

from typing import Literal

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

    type: Literal["rescaling"]
    scale: PerChannel
    offset: PerChannel = 0.0

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
