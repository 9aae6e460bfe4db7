"""The spec document model (strict pydantic) and its findings, located in the source file.

Pydantic reports errors by type; each type maps to one stable code and one message
form here (`_diagnostic`), so no message is built by editing pydantic's text.
"""

from __future__ import annotations

import contextlib
import difflib
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import ErrorDetails

from specgen.diagnostics import Diagnostic, JsonPath, format_json_path, show_value
from specgen.layers import LAYER_TYPES, Layer, LayerBase
from specgen.layers.base import Identifier, LayerName, ShapeSpec, _name_list
from specgen.load import Document

FORMAT_VERSION = 1


class InputSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    shape: ShapeSpec = Field(
        description="[H, W, C], channels-last, without the batch axis.",
        examples=[[224, 224, 3], [784]],
    )


LAYERS_DESCRIPTION = (
    "The layers (or block uses), in order; each takes the previous layer's output unless "
    "it names its inputs."
)


class Spec(BaseModel):
    """A whole spec file."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        title="specgen spec",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    schema_ref: str | None = Field(
        default=None,
        alias="$schema",
        description="Where editors find this schema, e.g. './specgen.schema.json' "
        "(specgen itself ignores it).",
        examples=["./specgen.schema.json"],
    )
    specgen: Literal[1] = Field(description="Format version.")
    name: Identifier = Field(description="Model name: a Python identifier.")
    input: InputSpec = Field(description="The model input: its shape, without the batch axis.")
    # Each layer is validated by its own model, chosen by its `type` (`_validate_layers`),
    # so that only the layer types a spec uses build their validators. The JSON Schema
    # describes the full union (`_SchemaSpec`).
    if TYPE_CHECKING:
        layers: list[LayerBase]
    else:
        layers: list[Any] = Field(min_length=1, description=LAYERS_DESCRIPTION)
    outputs: (
        Annotated[
            list[LayerName],
            BeforeValidator(_name_list),
            WithJsonSchema(
                {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
            ),
        ]
        | None
    ) = Field(
        default=None,
        min_length=1,
        description="The model's outputs, in order (layer names). Default: the last layer.",
    )


@cache
def _schema_model() -> type[Spec]:
    """The spec as the JSON Schema describes it: `layers` as the union of every layer
    type. Made on first use: building it builds every layer model."""

    class Spec(_Spec):  # the same name and docstring: the schema shows both
        """A whole spec file."""

        layers: list[Layer] = Field(min_length=1, description=LAYERS_DESCRIPTION)

    return Spec


_Spec = Spec


@cache
def _union() -> TypeAdapter[LayerBase]:
    """Every layer type, discriminated on `type`: what validates a layer whose `type` is
    missing, unknown or not a string, so that its errors are the union's own."""
    return TypeAdapter[LayerBase](Layer)


def _validate_layer(raw: Any) -> LayerBase:
    """One layer, by the model its `type` names (built on first use); ValidationError
    locations are the discriminated union's: ``(type, field, ...)``."""
    kind = raw.get("type") if isinstance(raw, dict) else None
    model = LAYER_TYPES.get(kind) if isinstance(kind, str) else None
    if model is None:
        return _union().validate_python(raw)
    return model.model_validate(raw)


def _validate_layers(raw_layers: object) -> tuple[list[LayerBase], list[ErrorDetails]]:
    """Every layer of the list, with the errors located as the union would locate them."""
    layers: list[LayerBase] = []
    errors: list[ErrorDetails] = []
    if not isinstance(raw_layers, list):
        return layers, errors  # the Spec model reports the wrong type
    for index, raw in enumerate(raw_layers):
        try:
            layers.append(_validate_layer(raw))
        except ValidationError as error:
            kind = raw.get("type") if isinstance(raw, dict) else None
            tag: tuple[str, ...] = (kind,) if isinstance(kind, str) and kind in LAYER_TYPES else ()
            for found in error.errors():
                found["loc"] = ("layers", index, *tag, *found["loc"])
                errors.append(found)
    return layers, errors


@dataclass(slots=True)
class ParsedSpec:
    """The spec, or as much of it as is valid: the shape pass still checks the valid layers.

    ``layers[i]`` is None where layer i failed the schema; ``spec`` is set only when the
    whole file is valid.
    """

    name: str
    input_shape: tuple[int, ...] | None
    layers: list[LayerBase | None]
    raw_layers: list[Any]
    spec: Spec | None = None
    outputs: list[str] | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)


def parse_spec(document: Document, holes: frozenset[int] | set[int] = frozenset()) -> ParsedSpec:
    """Validate the whole document strictly, keeping every valid layer for the shape pass.

    `holes` are flat layers that block expansion already reported as broken: they get
    no further findings here and stand as None in ``layers``.
    """
    data = document.data
    raw_layers = data.get("layers")
    raw_layers = raw_layers if isinstance(raw_layers, list) else []
    parsed = ParsedSpec(str(data.get("name", "model")), None, [], raw_layers)
    spec, found = _validate(document)
    parsed.diagnostics = [d for d in found if not _in_hole(d.json_path, holes)]
    if spec is not None and not holes:
        parsed.spec, parsed.layers, parsed.input_shape = spec, list(spec.layers), spec.input.shape
        parsed.outputs = spec.outputs
        return parsed
    if any(d.code == "SG106" for d in parsed.diagnostics):
        return parsed
    with contextlib.suppress(ValidationError):
        parsed.input_shape = InputSpec.model_validate(data.get("input")).shape
    for index, raw in enumerate(raw_layers):
        parsed.layers.append(None if index in holes else _recovered_layer(raw))
    outputs = data.get("outputs")
    names = [outputs] if isinstance(outputs, str) else outputs
    if isinstance(names, list) and all(isinstance(n, str) for n in names) and names:
        parsed.outputs = list(names)
    return parsed


def _in_hole(path: JsonPath, holes: frozenset[int] | set[int]) -> bool:
    return len(path) >= 2 and path[0] == "layers" and path[1] in holes


def _recovered_layer(raw: Any) -> LayerBase | None:
    """The layer, for the shape pass: as written, or with its typos set aside.

    A layer whose only problems are unknown keys still takes part in the shape pass with
    those keys ignored; a typo of a missing key (``kernal_size``) counts as that key.
    The file has failed already: this only lets one run report what comes after.
    """
    try:
        return _validate_layer(raw)
    except ValidationError as error:
        errors = error.errors()
    if not isinstance(raw, dict) or not all(
        e["type"] in ("extra_forbidden", "missing") for e in errors
    ):
        return None
    kind = raw.get("type")
    model = LAYER_TYPES.get(kind) if isinstance(kind, str) else None
    if model is None:
        return None
    allowed = list(model.model_fields)
    fixed = {}
    for key, value in raw.items():
        if key in allowed:
            fixed[key] = value
            continue
        suggestion = _suggest(key, _fields(model))
        if suggestion is not None and suggestion not in raw:
            fixed[suggestion] = value
    try:
        return _validate_layer(fixed)
    except ValidationError:
        return None


def _validate(document: Document) -> tuple[Spec | None, list[Diagnostic]]:
    data = document.data
    version = data.get("specgen")
    if "specgen" not in data or type(version) is not int or version != FORMAT_VERSION:
        got = "missing" if "specgen" not in data else f"got {show_value(version)}"
        return None, [
            Diagnostic(
                "SG106",
                f"unsupported format version: {got}; this specgen reads 'specgen: 1'",
                hint="put 'specgen: 1' at the top of the file",
                json_path=("specgen",),
                position=document.locate(("specgen",)),
            )
        ]
    errors: list[ErrorDetails] = []
    spec: Spec | None = None
    try:
        spec = Spec.model_validate(data)
    except ValidationError as error:
        errors = error.errors()
    layers, layer_errors = _validate_layers(data.get("layers"))
    if errors or layer_errors:
        # In the model's field order, as one validation would list them.
        errors = _in_field_order([*errors, *layer_errors])
        # `kernal_size` gives 'unknown key' (did you mean 'kernel_size'?) and 'missing
        # kernel_size': one mistake, so only the first, which names the fix, is kept.
        fixes = {fix for e in errors if (fix := _typo_fix(e, document)) is not None}
        diagnostics = [
            d
            for d in map(_diagnostic, errors, [document] * len(errors))
            if not (d.code == "SG101" and d.json_path in fixes)
        ]
        return None, _dedupe(diagnostics)
    assert spec is not None
    return spec.model_copy(update={"layers": layers}), []


def _in_field_order(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    order = {name: index for index, name in enumerate(Spec.model_fields)}
    order["$schema"] = order.get("schema_ref", 0)
    return sorted(errors, key=lambda e: order.get(str(e["loc"][0]), len(order)) if e["loc"] else -1)


def _typo_fix(error: ErrorDetails, document: Document) -> JsonPath | None:
    """For an unknown key close to an allowed one: the path of the key it was meant to be."""
    if error["type"] != "extra_forbidden":
        return None
    path = _data_path(error["loc"], document.data)
    model = _model_at(path[:-1], document.data)
    suggestion = _suggest(str(path[-1]), _fields(model)) if model else None
    return (*path[:-1], suggestion) if suggestion else None


def _dedupe(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple[str, JsonPath, str]] = set()
    out = []
    for d in diagnostics:
        key = (d.code, d.json_path, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def _data_path(loc: tuple[int | str, ...], data: Any) -> JsonPath:
    """Map a pydantic error location onto the document, dropping union-tag segments.

    Pydantic inserts the discriminator value (``('layers', 3, 'conv2d', 'filters')``);
    walking the real data keeps exactly the segments that exist in the file.
    """
    path: list[str | int] = []
    node = data
    for part in loc:
        in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
            path.append(part)
        elif isinstance(node, dict) and isinstance(part, str) and part not in LAYER_TYPES:
            # A key that is not in the data: a missing field or an unknown one.
            path.append(part)
            node = None
    return tuple(path)


def _model_at(path: JsonPath, data: Any) -> type[BaseModel] | None:
    """The model that validates the mapping at `path`, for 'did you mean' hints."""
    if path == ():
        return Spec
    if path == ("input",):
        return InputSpec
    if len(path) == 2 and path[0] == "layers":
        kind = _raw_type(path, data)
        if isinstance(kind, str):
            return LAYER_TYPES.get(kind)
    return None


def _suggest(word: str, choices: list[str]) -> str | None:
    matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in choices}
        if word.lower() in lowered:
            return lowered[word.lower()]
        return None
    return matches[0]


def _layer_label(path: JsonPath, data: Any) -> str:
    if len(path) >= 2 and path[0] == "layers" and isinstance(path[1], int):
        layer = data["layers"][path[1]]
        kind = _raw_type(path, data)
        name = layer.get("name") if isinstance(layer, dict) else None
        # An unknown or ill-typed type is user text: quote it like any other.
        shown = kind if isinstance(kind, str) and kind in LAYER_TYPES else None
        if shown is None and isinstance(kind, str):
            shown = repr(kind)[:40]
        if isinstance(name, str) and shown is not None:
            return f"layer {name!r} ({shown}): "
        if shown is not None:
            return f"layers[{path[1]}] ({shown}): "
        return f"layers[{path[1]}]: "
    return ""


def _raw_type(path: JsonPath, data: Any) -> object:
    """The `type` value, as written, of the layer that `path` leads into (None if none)."""
    in_layer = len(path) >= 2 and path[0] == "layers" and isinstance(path[1], int)
    layer = data["layers"][path[1]] if in_layer else None
    return layer.get("type") if isinstance(layer, dict) else None


def _fields(model: type[BaseModel]) -> list[str]:
    return [name for name in model.model_fields if name != "type"] if model else []


def _diagnostic(error: ErrorDetails, document: Document) -> Diagnostic:
    data = document.data
    path = _data_path(error["loc"], data)
    kind = error["type"]
    at = error.get("ctx", {}).get("at", ())
    if at:  # an element inside the field's value: point at it
        path = (*path, *at)
    prefix = _layer_label(path, data)
    field_name = path[-1] if path and isinstance(path[-1], str) else None
    # The value's path below its layer (or from the top): 'kernel_size', 'input.shape[1]'.
    relative = path[2:] if prefix else path
    where = format_json_path(relative)[1:].lstrip(".") + ": " if relative else ""
    position = document.locate(path)
    hint: str | None = None

    if kind == "extra_forbidden":
        code = "SG102"
        parent = path[:-1]
        model = _model_at(parent, data)
        allowed = _fields(model) if model else []
        message = f"{prefix}unknown key {field_name!r}"
        fix = _typo_fix(error, document)
        if fix is not None:
            hint = f"did you mean {fix[-1]!r}?"
        elif allowed:
            hint = "allowed keys: " + ", ".join(allowed)
        position = document.locate(path, key=True)
    elif kind == "missing":
        code = "SG101"
        model = _model_at(path[:-1], data)
        message = f"{prefix}missing required key {field_name!r}"
        if model is not None and issubclass(model, LayerBase):
            required = [n for n, f in model.model_fields.items() if f.is_required() and n != "type"]
            hint = f"{_raw_type(path, data)} needs: " + ", ".join(required)
    elif kind == "union_tag_invalid" and not isinstance(_raw_type(path, data), str):
        code = "SG103"
        got = show_value(_raw_type(path, data))
        path = (*path, "type")
        position = document.locate(path)
        message = f"{prefix}type: expected a layer type name (string), got {got}"
        hint = "layer types: " + ", ".join(sorted(LAYER_TYPES))
    elif kind == "union_tag_invalid":
        code = "SG105"
        tag = str(_raw_type(path, data))
        path = (*path, "type")
        position = document.locate(path)
        message = f"{prefix}unknown layer type {tag!r}"
        suggestion = _suggest(tag, sorted(LAYER_TYPES))
        hint = (
            f"did you mean {suggestion!r}?"
            if suggestion
            else "layer types: " + ", ".join(sorted(LAYER_TYPES))
        )
    elif kind == "union_tag_not_found":
        code = "SG101"
        message = f"{prefix}missing required key 'type'"
        hint = "layer types: " + ", ".join(sorted(LAYER_TYPES))
    elif kind in ("SG101", "SG103", "SG104"):  # raised by specgen's own validators
        code = kind
        message = f"{prefix}{where}{error['msg']}"
        hint = error.get("ctx", {}).get("hint")
        if kind == "SG104" and field_name == "activation" and isinstance(error["input"], str):
            from specgen.activations import ACTIVATION_NAMES

            suggestion = _suggest(error["input"], sorted(ACTIVATION_NAMES))
            hint = (
                f"did you mean {suggestion!r}?"
                if suggestion
                else "activations: " + ", ".join(sorted(ACTIVATION_NAMES))
            )
    elif kind.endswith("_type") or kind in ("literal_error", "model_type", "model_attributes_type"):
        code = "SG103"
        expected = _EXPECTED.get(kind, error["msg"].removeprefix("Input should be ").lower())
        got = show_value(error["input"])
        message = f"{prefix}{where}expected {expected}, got {got}"
    else:  # bounds: greater_than, less_than_equal, too_short, ...
        code = "SG104"
        message = f"{prefix}{where}{_bound_message(error)}, got {show_value(error['input'])}"
    return Diagnostic(code, message, hint=hint, json_path=path, position=position)


_EXPECTED = {
    "int_type": "an int",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _bound_message(error: ErrorDetails) -> str:
    ctx = error.get("ctx", {})
    kind = error["type"]
    bounds = {
        "greater_than": "expected a value > {gt}",
        "greater_than_equal": "expected a value >= {ge}",
        "less_than": "expected a value < {lt}",
        "less_than_equal": "expected a value <= {le}",
        "too_short": "expected at least {min_length} item(s)",
        "too_long": "expected at most {max_length} item(s)",
        "finite_number": "expected a finite number",
    }
    template = bounds.get(kind)
    if template is None:
        return str(error["msg"])
    try:
        return template.format(**ctx)
    except KeyError:
        return str(error["msg"])


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the spec format, blocks included.

    The pydantic model describes the flat spec that the schema stage checks after
    block expansion; blocks and block uses are added here. Layers inside a block may
    hold ``$param`` strings anywhere, so they are described loosely (a mapping with a
    ``type``); specgen checks them fully once expanded.
    """
    from specgen.expand import MAX_REPEAT

    schema = _schema_model().model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "urn:specgen:spec:1"  # the format version, `specgen: 1`
    defs = schema["$defs"]
    names = {"type": "string", "pattern": "^[A-Za-z0-9_{}]+$"}
    defs["BlockUse"] = {
        "type": "object",
        "description": "Use of a block defined under 'blocks'.",
        "properties": {
            "block": {"type": "string", "description": "The block's name."},
            "name": {
                **names,
                "description": "Instance name; '{i}' is replaced by the repeat index.",
            },
            "repeat": {
                "anyOf": [
                    {"type": "integer", "minimum": 1, "maximum": MAX_REPEAT},
                    {"type": "string", "pattern": "^\\$"},
                ],
                "description": "How many instances, each fed by the one before.",
            },
            "with": {"type": "object", "description": "Values of the block's params."},
            "inputs": {
                "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                "description": "The one layer that feeds the first instance.",
            },
        },
        "required": ["block"],
        "additionalProperties": False,
    }
    defs["BlockLayer"] = {
        "type": "object",
        "description": "A layer inside a block: values may be '$param' strings.",
        "properties": {"type": {"type": "string", "description": "Layer type, e.g. conv2d."}},
        "required": ["type"],
    }
    defs["Block"] = {
        "type": "object",
        "properties": {
            "params": {
                "type": "object",
                "description": "Parameter names and defaults; null means required.",
            },
            "layers": {
                "type": "array",
                "description": "The block's layers (or block uses), in order.",
                "minItems": 1,
                "items": {"anyOf": [{"$ref": "#/$defs/BlockUse"}, {"$ref": "#/$defs/BlockLayer"}]},
            },
        },
        "required": ["layers"],
        "additionalProperties": False,
    }
    schema["properties"]["blocks"] = {
        "type": "object",
        "description": "Reusable, parameterised groups of layers.",
        "additionalProperties": {"$ref": "#/$defs/Block"},
    }
    layer = schema["properties"]["layers"]["items"]
    schema["properties"]["layers"]["items"] = {"anyOf": [{"$ref": "#/$defs/BlockUse"}, layer]}
    return schema
