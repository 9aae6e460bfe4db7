"""`specgen schema` is a valid Draft 2020-12 JSON Schema that agrees with specgen itself.

Every example spec must be accepted, and documents that specgen rejects for schema reasons
must be rejected by the published schema too, so editors flag what `validate` flags.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
CIFAR = SPECS / "cifar10_cnn.yaml"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "specgen", "schema"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    loaded = json.loads(proc.stdout)
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema)


def load_spec(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle) if path.suffix == ".json" else yaml.safe_load(handle)


def example_specs() -> list[Path]:
    """Every spec under specs/ (the zoo too), not the schema file beside them."""
    files = sorted(
        p
        for p in SPECS.rglob("*")
        if p.suffix in (".json", ".yaml", ".yml") and not p.name.endswith(".schema.json")
    )
    assert CIFAR in files and len(files) >= 10
    return files


def cifar() -> dict[str, Any]:
    data = load_spec(CIFAR)
    assert isinstance(data, dict)
    return data


def test_schema_is_a_valid_draft_2020_12_schema(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "$defs" in schema
    assert set(schema["required"]) >= {"specgen", "name", "input", "layers"}


def test_schema_accepts_every_example_spec(validator: jsonschema.Draft202012Validator) -> None:
    files = example_specs()
    for path in files:
        errors = [e.message for e in validator.iter_errors(load_spec(path))]
        assert errors == [], f"{path.name}: {errors}"


def test_schema_covers_every_layer_type(schema: dict[str, Any]) -> None:
    from specgen.layers import LAYER_TYPES

    text = json.dumps(schema)
    for layer_type in LAYER_TYPES:
        assert f'"{layer_type}"' in text, layer_type


def _set(path: tuple[str | int, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        node: Any = data
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return apply


def _drop(path: tuple[str | int, ...]) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        node: Any = data
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return apply


INVALID_EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    "unknown-layer-type": _set(("layers", 0, "type"), "conv"),
    "missing-filters": _drop(("layers", 0, "filters")),
    "string-filters": _set(("layers", 0, "filters"), "3"),
    "bool-filters": _set(("layers", 0, "filters"), True),
    "zero-filters": _set(("layers", 0, "filters"), 0),
    "unknown-layer-key": _set(("layers", 0, "kernal_size"), 3),
    "unknown-top-level-key": _set(("extra",), 1),
    "unknown-input-key": _set(("input", "channels"), 3),
    "version-2": _set(("specgen",), 2),
    "version-string": _set(("specgen",), "1"),
    "missing-version": _drop(("specgen",)),
    "missing-layers": _drop(("layers",)),
    "empty-layers": _set(("layers",), []),
    "bad-activation": _set(("layers", 0, "activation"), "ReLU"),
    "bad-padding": _set(("layers", 0, "padding"), "full"),
    "bad-name": _set(("name",), "1net"),
    "layer-missing-type": _drop(("layers", 0, "type")),
    # Shapes are [H, W, C] or [N]: a rank-2 shape is an error for specgen.
    "rank-2-input-shape": _set(("input", "shape"), [32, 32]),
    "rank-2-expect": _set(("layers", 0, "expect"), [30, 30]),
    # Names are identifiers that are not Python keywords; 'input' is reserved for layers.
    "keyword-model-name": _set(("name",), "class"),
    "keyword-layer-name": _set(("layers", 0, "name"), "lambda"),
    "layer-named-input": _set(("layers", 0, "name"), "input"),
    # rescaling and normalization: strict numbers, non-empty lists, mean and variance together.
    "bool-scale": _set(("layers", 0), {"type": "rescaling", "scale": True}),
    "empty-offset": _set(("layers", 0), {"type": "rescaling", "scale": 1, "offset": []}),
    "mean-without-variance": _set(("layers", 0), {"type": "normalization", "mean": 0.5}),
    "variance-without-mean": _set(("layers", 0), {"type": "normalization", "variance": [1, 2]}),
    "negative-variance": _set(
        ("layers", 0), {"type": "normalization", "mean": 0, "variance": [1, -1, 1]}
    ),
}


@pytest.mark.parametrize("edit", list(INVALID_EDITS))
def test_schema_rejects_what_specgen_rejects(
    validator: jsonschema.Draft202012Validator, edit: str, tmp_path: Path
) -> None:
    from specgen.check import check_file

    data = copy.deepcopy(cifar())
    INVALID_EDITS[edit](data)
    # First make sure specgen itself rejects the document (with a schema-level code).
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    report = check_file(path).report
    assert report.errors, f"specgen accepts the {edit!r} document"
    assert all(d.code.startswith("SG1") for d in report.errors), report.errors
    # Then the published schema must reject it too.
    assert not validator.is_valid(data), f"the schema accepts the {edit!r} document"


def test_schema_accepts_the_unedited_base(validator: jsonschema.Draft202012Validator) -> None:
    assert validator.is_valid(cifar())


# --- the committed schema file, for editors -----------------------------------------------


def test_the_committed_schema_file_is_what_specgen_schema_prints() -> None:
    """specs/specgen.schema.json is for editors that read a file (yaml-language-server,
    VS Code's json.schemas); it must never drift from `specgen schema`."""
    proc = subprocess.run(
        [sys.executable, "-m", "specgen", "schema"], capture_output=True, text=True, timeout=120
    )
    committed = (SPECS / "specgen.schema.json").read_text(encoding="utf-8")
    assert committed == proc.stdout, "regenerate: specgen schema > specs/specgen.schema.json"


def test_a_spec_may_name_its_schema(
    validator: jsonschema.Draft202012Validator, tmp_path: Path
) -> None:
    """A JSON spec can carry `"$schema"` (editors follow it); specgen accepts it, the schema
    describes it, and a non-string is refused by both."""
    data = {"$schema": "./specgen.schema.json", **cifar()}
    assert list(validator.iter_errors(data)) == []
    path = tmp_path / "net.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "specgen", "validate", "--strict", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    data["$schema"] = 3
    assert list(validator.iter_errors(data))
    path.write_text(json.dumps(data), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "specgen", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "error[SG103]" in done.stderr


def test_validate_skips_schema_files_beside_the_specs() -> None:
    """`specgen validate specs/*.json` meets specs/specgen.schema.json: skipped with a
    note, not counted, not an error."""
    done = subprocess.run(
        [sys.executable, "-m", "specgen", "validate", *sorted(map(str, SPECS.glob("*.json")))],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert f"skipping {SPECS / 'specgen.schema.json'}: a JSON Schema, not a spec" in done.stderr
    checked = len(list(SPECS.glob("*.json"))) - 1
    assert f"{checked} file{'s' if checked != 1 else ''} checked" in done.stderr
