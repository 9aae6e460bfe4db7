"""The activation vocabulary, and the values specgen fixes where the frameworks disagree.

Both targets receive these constants explicitly; neither framework's default is relied on.
"""

from __future__ import annotations

# Keras 3 defaults to 0.2, PyTorch to 0.01. specgen fixes 0.01 (Maas et al., 2013).
LEAKY_RELU_NEGATIVE_SLOPE = 0.01
# ELU's alpha is 1.0 in both, fixed here so that it is written down once.
ELU_ALPHA = 1.0
# Softmax always runs over the last axis of a rank-1 output (the classes); the shape
# pass refuses it anywhere else (SG206), so both targets agree on the axis.

ACTIVATION_NAMES: frozenset[str] = frozenset(
    {
        "linear",
        "relu",
        "relu6",
        "sigmoid",
        "tanh",
        "softmax",
        "gelu",
        "silu",
        "swish",
        "elu",
        "leaky_relu",
        "hard_sigmoid",
        "hard_swish",
    }
)
_ALIASES = {"swish": "silu"}


def canonical_activation(name: str) -> str | None:
    """The canonical name of an activation, or None if it is unknown.

    >>> canonical_activation("swish")
    'silu'
    >>> canonical_activation("ReLU") is None
    True
    """
    if name not in ACTIVATION_NAMES:
        return None
    return _ALIASES.get(name, name)
