"""Very deep specs still build: Keras maps a functional graph recursively, and a
1,000-layer network used to raise RecursionError in the emitted build_model()."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from specgen.check import check_file
from specgen.targets import emit_source

DEPTH = 2000


def _deep_spec(tmp_path: Path) -> Path:
    # Alternating pointwise convolutions and activations: real weights, so the check
    # below also proves both models are the same network at that depth.
    layers = []
    for i in range(DEPTH // 2):
        layers.append(f"  - {{name: c{i}, type: conv2d, filters: 2, kernel_size: 1}}")
        layers.append(f"  - {{name: a{i}, type: activation, activation: tanh}}")
    path = tmp_path / "deep.yaml"
    path.write_text(
        "specgen: 1\nname: deep\ninput: {shape: [3, 3, 2]}\nlayers:\n" + "\n".join(layers) + "\n",
        encoding="utf-8",
    )
    return path


def _load(source: str, path: Path) -> ModuleType:
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_2000_layer_spec_builds_in_keras_and_pytorch(tmp_path: Path) -> None:
    from specgen import keras_to_torch

    result = check_file(_deep_spec(tmp_path))
    assert result.graph is not None and result.document is not None
    modules = {}
    for target in ("keras", "pytorch"):
        source, findings = emit_source(result.graph, target, "deep.yaml", result.document.raw)
        assert findings == [] and source is not None
        modules[target] = _load(source, tmp_path / f"deep_{target}.py")
    limit = sys.getrecursionlimit()
    keras_model = modules["keras"].build_model()
    assert sys.getrecursionlimit() == limit  # restored after the build
    assert len(keras_model.layers) == DEPTH + 1
    assert keras_model.count_params() == result.graph.total_params == (DEPTH // 2) * 6
    torch_model = modules["pytorch"].build_model().eval()
    keras_to_torch(keras_model, torch_model)
    x = np.random.default_rng(0).standard_normal((1, 3, 3, 2)).astype(np.float32)
    y_keras = np.asarray(keras_model(x, training=False))
    with torch.no_grad():
        y_torch = torch_model(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    assert y_keras.shape == (1, 3, 3, 2)
    assert np.max(np.abs(y_keras - y_torch.numpy())) < 1e-4
