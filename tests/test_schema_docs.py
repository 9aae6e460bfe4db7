"""The JSON Schema documents itself: every property has a description, and every layer
field has examples that specgen accepts.

Editors show a property's description and offer its examples while a spec is typed, so
both come from the pydantic models (specgen/layers/*.py, specgen/spec.py) and an example
that specgen would refuse is a bug like any other.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from specgen.check import check_bytes
from specgen.layers import LAYER_TYPES
from specgen.spec import json_schema

SCHEMA = json_schema()

# A minimal valid layer of each type, for an input of INPUT_SHAPE (RANK1_SHAPE for the
# types in RANK1). Merges get their inputs from two branches the test adds in front.
INPUT_SHAPE = [32, 32, 8]
RANK1_SHAPE = [64]
RANK1 = {"dense"}
MERGE_INPUTS = ["branch_a", "branch_b"]
MINIMAL: dict[str, dict[str, Any]] = {
    "conv2d": {"filters": 16, "kernel_size": 3},
    "max_pool2d": {"pool_size": 2},
    "avg_pool2d": {"pool_size": 2},
    "global_avg_pool2d": {},
    "global_max_pool2d": {},
    "flatten": {},
    "dense": {"units": 10},
    "dropout": {"rate": 0.5},
    "batch_norm": {},
    "activation": {"activation": "relu"},
    "zero_padding2d": {"padding": 1},
    "add": {"inputs": MERGE_INPUTS},
    "subtract": {"inputs": MERGE_INPUTS},
    "multiply": {"inputs": MERGE_INPUTS},
    "average": {"inputs": MERGE_INPUTS},
    "maximum": {"inputs": MERGE_INPUTS},
    "minimum": {"inputs": MERGE_INPUTS},
    "concatenate": {"inputs": MERGE_INPUTS},
    "depthwise_conv2d": {"kernel_size": 3},
    "separable_conv2d": {"filters": 16, "kernel_size": 3},
    "rescaling": {"scale": 0.5},
    # Both or neither: an example of one is tried with the other present.
    "normalization": {"mean": 0.0, "variance": 1.0},
    "upsample2d": {},
    "reshape": {"target_shape": [-1]},
    "cropping2d": {"cropping": 1},
    # Stride 2, so that an output_padding of 1 is in range.
    "conv2d_transpose": {"filters": 16, "kernel_size": 3, "stride": 2},
}

# The schema's own codes: a value (or the layer it is in) that the schema stage refuses.
SCHEMA_CODES = {"SG101", "SG102", "SG103", "SG104", "SG105"}


def _properties_without_description(node: Any, path: str) -> list[str]:
    found = []
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(properties, dict):
            for key, value in properties.items():
                text = value.get("description") if isinstance(value, dict) else None
                if not (isinstance(text, str) and text.strip()):
                    found.append(f"{path}/properties/{key}")
        for key, value in node.items():
            found += _properties_without_description(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _properties_without_description(value, f"{path}/{index}")
    return found


def test_every_schema_property_has_a_description() -> None:
    missing = _properties_without_description(SCHEMA, "#")
    assert missing == [], f"{len(missing)} properties without a description:\n" + "\n".join(missing)


def _layer_properties(kind: str) -> dict[str, Any]:
    properties = SCHEMA["$defs"][LAYER_TYPES[kind].__name__]["properties"]
    assert isinstance(properties, dict)
    return properties


def _spec_with(kind: str, layer: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """A spec whose last layer is `layer`, and that layer's index. Every name it lists in
    `inputs` is an identity layer on the model input in front of it."""
    inputs = layer.get("inputs", [])
    names = [inputs] if isinstance(inputs, str) else inputs if isinstance(inputs, list) else []
    context = [
        {"type": "activation", "activation": "linear", "name": name, "inputs": "input"}
        for name in dict.fromkeys(names)
        if isinstance(name, str) and name != "input"
    ]
    spec = {
        "specgen": 1,
        "name": "schema_example",
        "input": {"shape": RANK1_SHAPE if kind in RANK1 else INPUT_SHAPE},
        "layers": [*context, {"type": kind, **layer}],
    }
    return spec, len(context)


def _schema_errors(spec: dict[str, Any], index: int, field: str) -> list[str]:
    """Schema findings at the field (or anywhere inside its value), or on the layer itself."""
    result = check_bytes(json.dumps(spec).encode(), "x.json", "json")
    layer_path = ("layers", index)
    return [
        f"{d.code} {d.message}"
        for d in result.report.diagnostics
        if d.code in SCHEMA_CODES
        and (d.json_path == layer_path or d.json_path[:3] == (*layer_path, field))
    ]


def test_minimal_layers_cover_the_registry_and_are_valid() -> None:
    assert set(MINIMAL) == set(LAYER_TYPES), "add a minimal layer for each new layer type"
    for kind, layer in MINIMAL.items():
        spec, _ = _spec_with(kind, layer)
        result = check_bytes(json.dumps(spec).encode(), "x.json", "json")
        errors = [f"{d.code} {d.message}" for d in result.report.errors]
        assert errors == [], f"{kind}: the minimal layer is not valid: {errors}"


LAYER_FIELDS = [
    (kind, field)
    for kind, model in LAYER_TYPES.items()
    for field in model.model_fields
    if field != "type"
]


@pytest.mark.parametrize(("kind", "field"), LAYER_FIELDS, ids=[f"{k}.{f}" for k, f in LAYER_FIELDS])
def test_every_layer_field_has_examples_that_specgen_accepts(kind: str, field: str) -> None:
    examples = _layer_properties(kind)[field].get("examples")
    assert isinstance(examples, list) and examples, f"{kind}.{field} has no examples"
    for example in examples:
        layer = {**MINIMAL[kind], field: example}
        spec, index = _spec_with(kind, layer)
        errors = _schema_errors(spec, index, field)
        assert errors == [], f"{kind}.{field} example {json.dumps(example)} is refused: {errors}"


def test_the_type_discriminator_is_described_and_stays_a_literal() -> None:
    for kind in LAYER_TYPES:
        prop = _layer_properties(kind)["type"]
        assert prop.get("const") == kind, kind
        assert prop.get("description") == f"Layer type: {kind}.", kind
