"""SG304 pinned against real Keras: broadcasting ``add``/``average`` on the TensorFlow backend.

Keras 3.7 and later (keras-team/keras PR #20386) makes ``keras.ops.add(x1, x2)`` take
``tf.nn.bias_add`` when x2 has one axis larger than 1, batch included, of x1's axis-1 or
last size; for a merge of broadcasting inputs that adds along the wrong axis at some batch
sizes. The differential fuzzer found it (tests/cases/fuzz_broadcast_add_average.yaml).
The Keras target warns with the batch sizes that go wrong (`bias_add_batches`).

These tests hold that prediction to Keras itself, in both directions: every merge and
batch size it names is wrong, every other one right. When Keras fixes the bug the first
assertion fails: then SG304 (and `specgen.targets.framework_bugs.bias_add_batches`) can go.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import importlib.util
import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import torch

from specgen import keras_to_torch
from specgen.check import check_file
from specgen.targets import emit_source
from specgen.targets.framework_bugs import bias_add_batches

CASE = Path(__file__).resolve().parent.parent / "tests/invalid/targets/keras_bias_add_bug.yaml"

# Per-sample shapes of merge inputs: rank 3 and rank 1, a bias that is right, scalars,
# rows, columns and channels, sizes that coincide and sizes that do not, three inputs.
MERGES: list[list[tuple[int, ...]]] = [
    [(4, 4, 3), (1, 1, 1)],
    [(4, 4, 3), (1, 1, 3)],
    [(4, 5, 3), (1, 5, 1)],
    [(4, 3, 3), (1, 3, 1)],
    [(3, 4, 2), (3, 1, 1)],
    [(2, 3, 4), (1, 1, 4), (1, 1, 1)],
    [(1, 1, 1), (5, 5, 2)],
    [(5,), (1,)],
    [(1,), (5,)],
    [(6,), (6,)],
    [(2, 2, 2), (2, 2, 2), (1, 2, 1)],
    [(7, 1, 1), (1, 7, 1)],  # Keras returns the first shape (tests/cases/fuzz_bias_add_...)
]
BATCHES = range(1, 7)


def _wrong(merge: list[tuple[int, ...]], batch: int, kind: str, rng: np.random.Generator) -> bool:
    inputs = [rng.standard_normal((batch, *shape)).astype(np.float32) for shape in merge]
    layer = keras.layers.Add() if kind == "add" else keras.layers.Average()
    got = keras.ops.convert_to_numpy(layer([keras.ops.convert_to_tensor(x) for x in inputs]))
    expected = sum(np.broadcast_arrays(*inputs)) / (1 if kind == "add" else len(inputs))
    return got.shape != expected.shape or not np.allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["add", "average"])
def test_keras_is_wrong_exactly_at_the_predicted_batch_sizes(kind: str) -> None:
    rng = np.random.default_rng(4)
    for merge in MERGES:
        predicted = bias_add_batches(merge)
        observed = [b for b in BATCHES if _wrong(merge, b, kind, rng)]
        assert observed == [b for b in predicted if b in BATCHES], (
            f"{kind} of {merge}: Keras is wrong at batch sizes {observed}, SG304 predicts "
            f"{predicted}. If Keras no longer takes tf.nn.bias_add for broadcasting inputs, "
            "the bug is fixed: drop SG304."
        )
    # The grid holds both answers: merges that go wrong and merges that never do.
    assert any(bias_add_batches(m) for m in MERGES)
    assert any(not bias_add_batches(m) for m in MERGES if len(set(m)) > 1)


def test_the_warned_model_is_wrong_at_the_warned_batch_sizes_only(tmp_path: Path) -> None:
    """The corpus case end to end: its emitted Keras model agrees with the PyTorch one
    after weight transfer at the batch sizes SG304 does not name, and not at those it does."""
    result = check_file(CASE)
    assert result.graph is not None and result.document is not None
    models = []
    for target in ("keras", "pytorch"):
        source, findings = emit_source(result.graph, target, CASE.name, result.document.raw)
        assert source is not None
        warned = sorted({d.code for d in findings})
        assert warned == (["SG304"] if target == "keras" else [])
        path = tmp_path / f"model_{target}.py"
        path.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(f"_bias_add_{target}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        models.append(module.build_model())
    keras_model, torch_model = models[0], models[1].eval()
    keras_to_torch(keras_model, torch_model)
    nodes = {node.name: node for node in result.graph.layers()}
    bad = set(bias_add_batches(nodes["shifted"].input_shapes))
    bad |= set(bias_add_batches(nodes["mixed"].input_shapes))
    assert bad == {1, 4, 6}
    rng = np.random.default_rng(0)
    for batch in (1, 2, 3, 4, 5, 6):
        x = rng.standard_normal((batch, *result.graph.input_shape)).astype(np.float32)
        got = keras.ops.convert_to_numpy(keras_model(x, training=False))
        with torch.no_grad():
            expected = (
                torch_model(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
            )
        agrees = np.allclose(got, expected, atol=1e-4)
        assert agrees == (batch not in bad), f"batch {batch}: agrees={agrees}"


def test_the_warning_through_the_cli() -> None:
    """`validate --target keras` warns (exit 0; 1 with --strict), once per merge, at the
    merge's inputs; the PyTorch target does not."""

    def run(*args: str) -> tuple[int, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "specgen", "validate", "--format", "json", *args, str(CASE)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.returncode, json.loads(done.stdout)

    code, payload = run("--target", "keras")
    assert code == 0
    found = [(d["code"], d["json_path"]) for d in payload["files"][0]["diagnostics"]]
    assert found == [("SG304", "$.layers[3].inputs"), ("SG304", "$.layers[6].inputs")]
    assert run("--strict", "--target", "keras")[0] == 1
    assert run("--strict", "--target", "pytorch")[0] == 0


def test_batch_sizes_are_only_those_the_bias_path_can_take() -> None:
    """`bias_add_batches` tries batch 1 and the axis sizes only; any other batch size is
    right: checked against a brute force over batch sizes up to 12."""
    for merge in MERGES:
        predicted = bias_add_batches(merge)
        for batch in range(1, 13):
            brute = any(
                _path_wrong(list(itertools.accumulate(merge, _broadcast))[i], x2, batch)
                for i, x2 in enumerate(merge[1:])
            )
            assert brute == (batch in predicted), (merge, batch)


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(max(x, y) for x, y in zip(a, b, strict=True))


def _path_wrong(x1: tuple[int, ...], x2: tuple[int, ...], batch: int) -> bool:
    """Keras' condition spelled out once more, per pair, with the batch axis."""
    a, b = (batch, *x1), (batch, *x2)
    squeezed = [n for n in b if n > 1]
    if len(squeezed) != 1 or squeezed[0] not in (a[1], a[-1]):
        return False
    axis = len(a) - 1 if a[-1] == squeezed[0] else 1
    return _broadcast(a, b) != a or [i for i, n in enumerate(b) if n > 1] != [axis]
