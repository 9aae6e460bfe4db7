"""normalization: schema and shape rule.

Keras' Normalization over the last axis: ``y = (x - mean) / max(sqrt(variance), eps)``
with ``eps`` Keras' backend epsilon (`NORMALIZATION_EPSILON`, 1e-7): the epsilon bounds
the standard deviation from below, it is not added to the variance.

With `mean` and `variance` given (a number or one per channel, both or neither) they
are constants and the layer has no weights. Without them the layer holds adaptable
state, as Keras keeps it: the mean (C,), the variance (C,) and a sample count (),
all non-trainable, so they count ``2*C + 1`` (`normalization_params`). The PyTorch
target keeps the same three tensors as buffers of an emitted helper module.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from specgen.formulas import normalization_params
from specgen.layers.base import (
    Inferred,
    LayerBase,
    NonNegativePerChannel,
    PerChannel,
    Shape,
    ShapeIssue,
    check_per_channel,
    raise_all,
)

# keras.config.epsilon()'s default; the emitted PyTorch code writes it out.
NORMALIZATION_EPSILON = 1e-7


class Normalization(LayerBase):
    """(x - mean) / max(sqrt(variance), 1e-7) per channel; without mean and variance, they
    are adaptable state (non-trainable weights)."""

    # The JSON Schema says "both or neither" too.
    model_config = ConfigDict(
        json_schema_extra={"dependentRequired": {"mean": ["variance"], "variance": ["mean"]}}
    )

    type: Literal["normalization"] = Field(description="Layer type: normalization.")
    mean: PerChannel | None = Field(
        default=None,
        description="Mean subtracted: a number or one per channel; optional, given together with "
        "variance.",
        examples=[0.5, [0.485, 0.456, 0.406]],
    )
    variance: NonNegativePerChannel | None = Field(
        default=None,
        description="Variance whose square root divides: a number >= 0 or one per channel; "
        "optional, given together with mean.",
        examples=[0.25, [0.052441, 0.050176, 0.050625]],
    )

    @model_validator(mode="after")
    def _both_or_neither(self) -> Self:
        if (self.mean is None) != (self.variance is None):
            given, missing = ("mean", "variance") if self.variance is None else ("variance", "mean")
            raise PydanticCustomError(
                "SG101",
                "missing required key {key}: {given} and {missing} go together",
                {
                    "key": repr(missing),
                    "missing": missing,
                    "given": given,
                    "hint": f"give {missing} too, or neither to let the layer hold adaptable "
                    "state (mean, variance and count)",
                },
            )
        return self

    @property
    def adaptable(self) -> bool:
        """No fixed values: the layer holds its statistics as (non-trainable) state."""
        return self.mean is None

    def infer(self, inputs: list[Shape]) -> Inferred:
        (shape,) = inputs
        channels = shape[-1]
        if self.adaptable:
            return Inferred(output=shape, non_trainable=normalization_params(channels))
        issues: list[ShapeIssue] = []
        for field in ("mean", "variance"):
            try:
                check_per_channel(getattr(self, field), channels, field)
            except ShapeIssue as issue:
                issues.append(issue)
        raise_all(issues)
        return Inferred(output=shape)
