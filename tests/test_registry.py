"""One layer registry (specgen.layers.LAYER_TYPES) and everything that must follow it.

The discriminated union, the JSON Schema (tests/test_schema.py) and the README's layer
table come from the registry; these tests fail when a layer type lacks what every layer
type needs: a case file (which tests/test_equivalence.py runs through both frameworks,
weight transfer in both directions included, so a missing weight layout in
specgen.transfer fails there), a lowering in each target, or an activation in a target.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from specgen.activations import ACTIVATION_NAMES, canonical_activation
from specgen.check import check_file
from specgen.docs import layer_table
from specgen.layers import LAYER_TYPES
from specgen.targets import TARGETS
from specgen.targets.keras import KerasTarget
from specgen.targets.pytorch import _ACTIVATIONS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CASES = sorted((ROOT / "tests" / "cases").glob("*.yaml"))


def test_readme_layer_table_is_generated_from_the_registry() -> None:
    shown = README.split("<!-- layer-table", 1)[1].split("-->", 1)[1]
    shown = shown.split("<!-- /layer-table -->", 1)[0].strip()
    assert shown == layer_table(), "regenerate with specgen.docs.layer_table()"


def test_every_layer_type_is_exercised_by_a_case_file() -> None:
    used: dict[str, list[str]] = {}
    for path in CASES:
        result = check_file(path)
        assert result.graph is not None, path.name
        for node in result.graph.layers():
            used.setdefault(node.kind, []).append(path.name)
    missing = sorted(set(LAYER_TYPES) - set(used))
    assert missing == [], f"layer types with no case file in tests/cases: {missing}"


def test_case_files_are_named_after_what_they_test() -> None:
    # fuzz_*: networks the differential test found (tests/test_differential.py).
    prefixes = {*LAYER_TYPES, "graph", "block", "activation", "conv", "batch_norm", "flatten"}
    prefixes.add("fuzz")
    unnamed = [p.name for p in CASES if not any(p.stem.startswith(x) for x in prefixes)]
    assert unnamed == []


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_layer_type_has_a_lowering_in_every_target(target: str) -> None:
    cls = TARGETS[target]
    missing = [kind for kind in LAYER_TYPES if not cls.supports(kind)]
    assert missing == [], f"{target} has no lower_<type> for {missing}"


def test_every_activation_has_a_lowering_in_every_target() -> None:
    canonical = {canonical_activation(name) for name in ACTIVATION_NAMES}
    assert canonical <= set(_ACTIVATIONS), canonical - set(_ACTIVATIONS)
    target = KerasTarget.__new__(KerasTarget)
    for name in sorted(canonical):
        assert name is not None
        call = target.activation_call(name, "a")
        assert re.match(r"layers\.\w+$", call.callee), (name, call.callee)
