"""What every layer type shares: strict field types, the base model, and the shape-rule protocol.

A layer type is one pydantic model with a ``type`` literal (the discriminator) and an
``infer`` method: its shape rule. Both stay framework-neutral; targets read the
validated model and the `Inferred` facts, never the other way round.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from specgen.activations import ACTIVATION_NAMES, canonical_activation
from specgen.diagnostics import CODES, WARNING_CODES, show_value

Shape = tuple[int, ...]
Pair = tuple[int, int]
# ((top, bottom), (left, right)): the one resolved form of every padding in specgen.
Pads = tuple[Pair, Pair]

# Big enough for any real network, small enough that emitted code and arithmetic stay sane.
MAX_DIM = 2**31 - 1
# Names become Python attributes and Keras layer names; 40 characters keep every emitted
# line within ruff's default 88 columns, with room for helper suffixes like `_pad`.
MAX_NAME = 40

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


# `at` in an error's context is the path below the field to the offending element, so
# that `kernel_size: [3, 0]` is reported at the 0 (see specgen.spec._diagnostic).
def _wrong_type(expected: str, value: object, at: tuple[int, ...] = ()) -> PydanticCustomError:
    return PydanticCustomError(
        "SG103",
        "expected {expected}, got {got}",
        {"expected": expected, "got": show_value(value), "at": at},
    )


def _out_of_range(message: str, value: object, at: tuple[int, ...] = ()) -> PydanticCustomError:
    return PydanticCustomError(
        "SG104", "{message}, got {got}", {"message": message, "got": show_value(value), "at": at}
    )


def _is_int(value: object) -> bool:
    # bool is an int subclass in Python; a spec's `true` is never the int 1.
    return type(value) is int


def _strict_int(value: object, *, minimum: int, what: str, at: tuple[int, ...] = ()) -> int:
    if not _is_int(value):
        raise _wrong_type(what, value, at)
    assert isinstance(value, int)
    if not minimum <= value <= MAX_DIM:
        raise _out_of_range(f"expected {what} between {minimum} and {MAX_DIM}", value, at)
    return value


def _int_pair(value: object) -> Pair:
    if _is_int(value):
        n = _strict_int(value, minimum=1, what="a positive int")
        return (n, n)
    if isinstance(value, list) and len(value) == 2:
        h = _strict_int(value[0], minimum=1, what="a positive int", at=(0,))
        w = _strict_int(value[1], minimum=1, what="a positive int", at=(1,))
        return (h, w)
    raise _wrong_type("a positive int or a list [h, w] of positive ints", value)


def _explicit_padding(value: object) -> Pads | None:
    """int, [ph, pw] or [[top, bottom], [left, right]] of non-negative ints; None if not one."""
    nonneg = "a non-negative int"
    if _is_int(value):
        p = _strict_int(value, minimum=0, what=nonneg)
        return ((p, p), (p, p))
    if not isinstance(value, list) or len(value) != 2:
        return None
    if not any(isinstance(v, list) for v in value):
        ph = _strict_int(value[0], minimum=0, what=nonneg, at=(0,))
        pw = _strict_int(value[1], minimum=0, what=nonneg, at=(1,))
        return ((ph, ph), (pw, pw))
    if all(isinstance(v, list) and len(v) == 2 for v in value):
        t, b, left, right = (
            _strict_int(value[i][j], minimum=0, what=nonneg, at=(i, j))
            for i in (0, 1)
            for j in (0, 1)
        )
        return ((t, b), (left, right))
    return None


def _padding(value: object) -> Literal["valid", "same"] | Pads:
    if value == "valid" or value == "same":
        return value
    if isinstance(value, str):
        raise _out_of_range("expected padding 'valid' or 'same'", value)
    pads = _explicit_padding(value)
    if pads is None:
        raise _wrong_type(
            "'valid', 'same', an int, [ph, pw] or [[top, bottom], [left, right]]", value
        )
    return pads


def _zero_padding(value: object) -> Pads:
    pads = _explicit_padding(value)
    if pads is None:
        raise _wrong_type("an int, [ph, pw] or [[top, bottom], [left, right]]", value)
    return pads


def _identifier(value: object) -> str:
    if not isinstance(value, str):
        raise _wrong_type("a name (string)", value)
    if not _IDENTIFIER.match(value) or len(value) > MAX_NAME:
        raise _out_of_range(
            f"expected an identifier matching [A-Za-z_][A-Za-z0-9_]* (at most {MAX_NAME} "
            "characters)",
            value,
        )
    if keyword.iskeyword(value):
        raise _out_of_range("a Python keyword cannot be a name", value)
    return value


def _layer_name(value: object) -> str:
    name = _identifier(value)
    if name == "input":
        raise _out_of_range("'input' is reserved for the model input", value)
    return name


def _warning_code(value: object) -> str:
    if not isinstance(value, str):
        raise _wrong_type("a warning code (string, e.g. 'SG301')", value)
    if value not in WARNING_CODES:
        if value in CODES:
            raise _out_of_range(
                "only warnings (" + ", ".join(WARNING_CODES) + ") can be allowed; an "
                "error must be fixed",
                value,
            )
        raise _out_of_range("expected a warning code: " + ", ".join(WARNING_CODES), value)
    return value


def _one_or_list(value: object) -> object:
    """One code stands for a list of one; a list becomes a tuple (errors carry an index)."""
    if isinstance(value, str):
        return (value,)
    return tuple(value) if isinstance(value, list) else value


def _name_list(value: object) -> object:
    """A single name stands for a list of one: ``inputs: conv1`` is ``inputs: [conv1]``."""
    return [value] if isinstance(value, str) else value


def _shape_list(value: object) -> tuple[object, ...]:
    # Before element validation: a list becomes a tuple, so that each element's error
    # carries its index (and the file position of that element).
    if not isinstance(value, list):
        raise _wrong_type("a shape: [H, W, C] or [N] of positive ints", value)
    return tuple(value)


def _shape_rank(value: Shape) -> Shape:
    if len(value) not in (1, 3):
        raise _out_of_range("expected a shape [H, W, C] or [N]", list(value))
    return value


def _activation(value: object) -> str:
    if not isinstance(value, str):
        raise _wrong_type("an activation name (string)", value)
    if canonical_activation(value) is None:
        raise PydanticCustomError("SG104", "unknown activation {got}", {"got": repr(value)})
    return value


_POS_INT = {"type": "integer", "minimum": 1, "maximum": MAX_DIM}
_NONNEG_INT = {"type": "integer", "minimum": 0, "maximum": MAX_DIM}
_PAIR = {"type": "array", "items": _POS_INT, "minItems": 2, "maxItems": 2}
_EXPLICIT_PADDING_SCHEMA: list[dict[str, Any]] = [
    _NONNEG_INT,
    {"type": "array", "items": _NONNEG_INT, "minItems": 2, "maxItems": 2},
    {
        "type": "array",
        "minItems": 2,
        "maxItems": 2,
        "items": {"type": "array", "items": _NONNEG_INT, "minItems": 2, "maxItems": 2},
    },
]
# The JSON Schema says what `_identifier` checks: Python keywords are refused too.
_NOT_KEYWORD = "(?!(?:" + "|".join(keyword.kwlist) + ")$)"
_IDENT_SCHEMA = {
    "type": "string",
    "pattern": f"^{_NOT_KEYWORD}[A-Za-z_][A-Za-z0-9_]*$",
    "maxLength": MAX_NAME,
}
_LAYER_NAME_SCHEMA = {**_IDENT_SCHEMA, "not": {"const": "input"}}

PositiveInt = Annotated[
    int,
    PlainValidator(lambda v: _strict_int(v, minimum=1, what="a positive int")),
    WithJsonSchema(_POS_INT),
]
IntPair = Annotated[Pair, PlainValidator(_int_pair), WithJsonSchema({"anyOf": [_POS_INT, _PAIR]})]
Padding = Annotated[
    Literal["valid", "same"] | Pads,
    PlainValidator(_padding),
    WithJsonSchema({"anyOf": [{"enum": ["valid", "same"]}, *_EXPLICIT_PADDING_SCHEMA]}),
]
ExplicitPadding = Annotated[
    Pads, PlainValidator(_zero_padding), WithJsonSchema({"anyOf": _EXPLICIT_PADDING_SCHEMA})
]
Identifier = Annotated[str, PlainValidator(_identifier), WithJsonSchema(_IDENT_SCHEMA)]
LayerName = Annotated[str, PlainValidator(_layer_name), WithJsonSchema(_LAYER_NAME_SCHEMA)]
ShapeSpec = Annotated[
    tuple[PositiveInt, ...],
    BeforeValidator(_shape_list),
    AfterValidator(_shape_rank),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "array", "items": _POS_INT, "minItems": 3, "maxItems": 3},
                {"type": "array", "items": _POS_INT, "minItems": 1, "maxItems": 1},
            ]
        }
    ),
]
_WARNING_CODE_SCHEMA = {"enum": list(WARNING_CODES)}
WarningCode = Annotated[str, PlainValidator(_warning_code), WithJsonSchema(_WARNING_CODE_SCHEMA)]
AllowList = Annotated[
    tuple[WarningCode, ...],
    BeforeValidator(_one_or_list),
    WithJsonSchema(
        {
            "anyOf": [
                _WARNING_CODE_SCHEMA,
                {"type": "array", "items": _WARNING_CODE_SCHEMA, "minItems": 1},
            ]
        }
    ),
]
# A list of names; one name alone stands for a list of one.
NameList = Annotated[
    list[Identifier],
    BeforeValidator(_name_list),
    WithJsonSchema(
        {"anyOf": [_IDENT_SCHEMA, {"type": "array", "items": _IDENT_SCHEMA, "minItems": 1}]}
    ),
]
ActivationName = Annotated[
    str, PlainValidator(_activation), WithJsonSchema({"enum": sorted(ACTIVATION_NAMES)})
]


class ShapeIssue(Exception):
    """A finding raised by a shape rule; the graph pass adds the layer's identity.

    `show_inputs`: the graph pass appends every input's name and shape (merges).
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        hint: str | None = None,
        field: str | None = None,
        show_inputs: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.field = field
        self.show_inputs = show_inputs


class ShapeIssues(Exception):
    """Several independent findings of one shape rule: one run reports them all."""

    def __init__(self, issues: list[ShapeIssue]) -> None:
        super().__init__("; ".join(issue.message for issue in issues))
        self.issues = issues


def raise_all(issues: list[ShapeIssue]) -> None:
    """Raise the findings collected so far, if any."""
    if len(issues) == 1:
        raise issues[0]
    if issues:
        raise ShapeIssues(issues)


@dataclass(frozen=True, slots=True)
class Window:
    """How one output pixel sees its input, per axis (h, w): for the receptive field."""

    kernel: Pair  # effective extent, dilation included
    stride: Pair
    pad_before: Pair  # top, left


@dataclass(slots=True)
class Inferred:
    """What the shape rule of a layer knows about one node."""

    output: Shape
    padding: Pads | None = None
    params: int = 0  # trainable
    non_trainable: int = 0
    macs: int = 0
    window: Window | None = None  # None: pointwise, or a rank-1 output
    formulas: tuple[str, ...] = ()  # one per spatial axis, numbers filled in
    warnings: list[ShapeIssue] = field(default_factory=list)
    # False: output pixels see unequal numbers of input pixels (a transposed convolution
    # scatters onto a finer grid), so no receptive field is defined from here on.
    fixed_window: bool = True


# Fields the sliding-window layers (and dense) declare alike, one definition each: the
# same default, description and examples in every layer type that has them.
def filters_field() -> Any:
    return Field(description="Number of output channels.", examples=[32, 64])


def kernel_size_field() -> Any:
    return Field(description="Kernel height and width: an int or [h, w].", examples=[3, [1, 7]])


def depth_multiplier_field() -> Any:
    return Field(
        default=1,
        description="Output channels per input channel in the depthwise step; default 1.",
        examples=[2],
    )


def stride_field() -> Any:
    return Field(
        default=(1, 1),
        description="Step of the kernel over H and W: an int or [h, w]; default 1.",
        examples=[2, [2, 1]],
    )


def padding_field() -> Any:
    return Field(
        default="valid",
        description="'valid' (none), 'same', an int, [ph, pw] or [[top, bottom], [left, right]]; "
        "default 'valid'.",
        examples=["same", [[1, 1], [0, 1]]],
    )


def dilation_field() -> Any:
    return Field(
        default=(1, 1),
        description="Spacing between the kernel's taps: an int or [h, w]; default 1.",
        examples=[2, [2, 1]],
    )


def use_bias_field() -> Any:
    return Field(
        default=True, description="Whether the layer adds a bias; default true.", examples=[False]
    )


def activation_field() -> Any:
    return Field(
        default="linear",
        description="Activation applied to the output; default 'linear' (none).",
        examples=["relu", "gelu"],
    )


class LayerBase(BaseModel):
    """Fields every layer type has. Subclasses add ``type`` and their own fields.

    Each layer model builds its validator on first use (``defer_build``): a spec uses a
    handful of the layer types, and building all of them at import was a third of
    `specgen validate`'s start-up. `specgen.spec` validates each layer with its own
    model, chosen by ``type``.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)

    # How many inputs the layer takes: merges take two or more (None: no upper bound).
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1

    name: LayerName | None = Field(
        default=None,
        description="Unique layer name; generated as <type>_<n> when absent.",
        examples=["conv1", "block2_pool"],
    )
    expect: ShapeSpec | None = Field(
        default=None,
        description="The output shape the author claims, channels-last; a mismatch is an error.",
        examples=[[16, 16, 32], [10]],
    )
    inputs: NameList | None = Field(
        default=None,
        min_length=1,
        description="Earlier layer names (or 'input'); a single name may be written without "
        "the list. Default: the previous layer.",
        examples=["conv1", ["branch_a", "branch_b"]],
    )
    allow: AllowList | None = Field(
        default=None,
        min_length=1,
        description="Warnings acknowledged on this layer (e.g. [SG301]): not printed, and "
        "`validate --strict` passes; `--format json` still lists them as allowed.",
        examples=[["SG301"]],
    )

    @property
    def kind(self) -> str:
        return str(getattr(self, "type"))  # noqa: B009 - every subclass declares it

    def infer(self, inputs: list[Shape]) -> Inferred:
        raise NotImplementedError


def require_rank(inputs: list[Shape], rank: int, *, hint: str) -> Shape:
    (shape,) = inputs
    if len(shape) != rank:
        want = "[H, W, C]" if rank == 3 else "[N]"
        raise ShapeIssue(
            "SG203",
            f"expects a rank-{rank} input {want}, got {list(shape)}",
            hint=hint,
        )
    return shape


def check_softmax(activation: str, output: Shape, field: str = "activation") -> None:
    if canonical_activation(activation) == "softmax" and len(output) != 1:
        raise ShapeIssue(
            "SG206",
            f"softmax needs a rank-1 output (classes on the last axis), got {list(output)}",
            hint="apply softmax after flatten or global pooling and a dense layer; on [H, W, C] "
            "the channel axis is last in Keras but second in PyTorch",
            field=field,
        )


def _number(value: object, *, minimum: float | None, at: tuple[int, ...] = ()) -> float:
    """A finite number (an int or a float, never a bool) as a float."""
    if type(value) is not int and type(value) is not float:
        raise _wrong_type("a number", value, at)
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise _out_of_range("expected a finite number", value, at)
    if minimum is not None and number < minimum:
        raise _out_of_range(f"expected a number >= {minimum:g}", value, at)
    return number


def _per_channel(value: object, *, minimum: float | None) -> float | tuple[float, ...]:
    if isinstance(value, list):
        if not value:
            raise _out_of_range("expected a number or a non-empty list of numbers", value)
        return tuple(_number(v, minimum=minimum, at=(i,)) for i, v in enumerate(value))
    if type(value) is int or type(value) is float:
        return _number(value, minimum=minimum)
    raise _wrong_type("a number or a list of numbers (one per channel)", value)


_NUMBER = {"type": "number"}
_NONNEG_NUMBER = {"type": "number", "minimum": 0}

# A number, or one number per channel (the last axis): `scale`, `mean`, ...
PerChannel = Annotated[
    float | tuple[float, ...],
    PlainValidator(lambda v: _per_channel(v, minimum=None)),
    WithJsonSchema({"anyOf": [_NUMBER, {"type": "array", "items": _NUMBER, "minItems": 1}]}),
]
# The same, never negative (a variance).
NonNegativePerChannel = Annotated[
    float | tuple[float, ...],
    PlainValidator(lambda v: _per_channel(v, minimum=0.0)),
    WithJsonSchema(
        {"anyOf": [_NONNEG_NUMBER, {"type": "array", "items": _NONNEG_NUMBER, "minItems": 1}]}
    ),
]


def check_per_channel(value: float | tuple[float, ...], channels: int, field: str) -> None:
    """A per-channel list must hold one number per channel of the input (its last axis)."""
    if isinstance(value, tuple) and len(value) != channels:
        raise ShapeIssue(
            "SG209",
            f"{field} has {len(value)} values for an input with {channels} channels",
            hint=f"give one {field} per channel ({channels}), or a single number for all",
            field=field,
        )


def _cropping(value: object) -> Pads:
    pads = _explicit_padding(value)
    if pads is None:
        raise _wrong_type("an int, [ch, cw] or [[top, bottom], [left, right]]", value)
    return pads


def _target_shape(value: object) -> Shape:
    """A reshape's target: rank 3 or 1 like every specgen shape, positive ints and at most
    one -1 (the size to infer)."""
    if not isinstance(value, list):
        raise _wrong_type("a list [H, W, C] or [N] of positive ints (one may be -1)", value)
    if len(value) not in (1, 3):
        raise PydanticCustomError(
            "SG104",
            "expected rank 3 [H, W, C] or rank 1 [N], got rank {rank}: {got}",
            {
                "rank": len(value),
                "got": show_value(value),
                "hint": "specgen's shapes are rank 3 (channels-last) or rank 1; reshape to "
                "[N] and use dense layers, or to [H, W, C]",
            },
        )
    inferred: int | None = None
    for i, n in enumerate(value):
        if not _is_int(n):
            raise _wrong_type("a positive int or -1", n, (i,))
        if n == -1 and inferred is None:
            inferred = i
        elif n == -1:
            raise PydanticCustomError(
                "SG104",
                "a second -1: only one size may be inferred, and index {first} is -1",
                {
                    "first": inferred,
                    "at": (i,),
                    "hint": "write out all sizes but one",
                },
            )
        elif not 1 <= n <= MAX_DIM:
            raise _out_of_range(f"expected a positive int (at most {MAX_DIM}) or -1", n, (i,))
    return tuple(value)


def _interpolation(value: object) -> str:
    if not isinstance(value, str):
        raise _wrong_type("'nearest' or 'bilinear'", value)
    if value not in ("nearest", "bilinear"):
        raise _out_of_range("expected interpolation 'nearest' or 'bilinear'", value)
    return value


# Amounts cut off each edge: int, [ch, cw] or [[top, bottom], [left, right]].
Cropping = Annotated[
    Pads, PlainValidator(_cropping), WithJsonSchema({"anyOf": _EXPLICIT_PADDING_SCHEMA})
]
_TARGET_SIZE = {"anyOf": [_POS_INT, {"const": -1}]}
_AT_MOST_ONE_MINUS_ONE = {"contains": {"const": -1}, "minContains": 0, "maxContains": 1}
TargetShape = Annotated[
    Shape,
    PlainValidator(_target_shape),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "array", "items": _TARGET_SIZE, "minItems": n, "maxItems": n}
                | _AT_MOST_ONE_MINUS_ONE
                for n in (3, 1)
            ]
        }
    ),
]
Interpolation = Annotated[
    Literal["nearest", "bilinear"],
    PlainValidator(_interpolation),
    WithJsonSchema({"enum": ["nearest", "bilinear"]}),
]
