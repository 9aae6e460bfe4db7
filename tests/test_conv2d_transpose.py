"""conv2d_transpose end to end where tests/test_equivalence.py cannot take it.

TensorFlow's CPU kernel runs no dilated transposed convolution ("Current CPU
implementations do not yet support dilation rates larger than 1"), so the dilation case
file lives in tests/cases_keras_torch_backend: its emitted Keras code runs on Keras'
torch backend (one subprocess) against the emitted PyTorch model, weights moved both ways.
The arithmetic itself is proven over a grid in tests/test_formulas_frameworks.py.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import importlib.util
import itertools
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf
import torch

from specgen import keras_to_torch, torch_to_keras
from specgen.check import check_file
from specgen.graph import Graph
from specgen.targets import emit_source, lower

ROOT = Path(__file__).resolve().parent.parent
DILATION = ROOT / "tests" / "cases_keras_torch_backend" / "conv2d_transpose_dilation.yaml"
TOLERANCE = 1e-4
BATCH = 2

_counter = itertools.count()


def _import(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"_transpose_e2e_{next(_counter)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _emit(path: Path, directory: Path) -> tuple[Graph, Path, Path]:
    result = check_file(path)
    assert result.graph is not None and result.document is not None, result.report.errors
    files = []
    for target in ("keras", "pytorch"):
        source, findings = emit_source(result.graph, target, str(path), result.document.raw)
        assert source is not None, [str(d) for d in findings]
        files.append(directory / f"{path.stem}_{target}.py")
        files[-1].write_text(source, encoding="utf-8")
    return result.graph, files[0], files[1]


# argv: the emitted Keras file, the Keras layers to report (comma-separated), the output
# file, then one .npz per run holding the input x and the weights w0, w1, ...
_KERAS_TORCH_BACKEND = r"""
import importlib.util
import sys

import keras
import numpy as np

assert keras.backend.backend() == "torch", keras.backend.backend()
spec = importlib.util.spec_from_file_location("emitted", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
model = module.build_model()
names = sys.argv[2].split(",")
probe = keras.Model(model.input, [model.get_layer(name).output for name in names])
out = {"count_params": model.count_params()}
for run, path in enumerate(sys.argv[4:]):
    data = np.load(path)
    model.set_weights([data[f"w{i}"] for i in range(int(data["n_weights"]))])
    values = probe(data["x"], training=False)
    out |= {f"{run}:{name}": keras.ops.convert_to_numpy(v) for name, v in zip(names, values)}
np.savez(sys.argv[3], **out)
"""


def _last_keras_layers(graph: Graph) -> dict[str, str]:
    """Spec layer -> the Keras layer that gives its output (an activation after it)."""
    return dict(lower(graph, "keras").paths)


def _torch_values(model: torch.nn.Module, graph: Graph, x: np.ndarray) -> dict[str, np.ndarray]:
    """Each spec layer's output (after its activation), channels-last, via forward hooks."""
    last = dict(lower(graph, "pytorch").paths)
    modules = dict(model.named_modules())
    seen: dict[str, np.ndarray] = {}
    handles = [
        modules[path].register_forward_hook(
            lambda _m, _a, y, name=name: seen.__setitem__(name, y.numpy().transpose(0, 2, 3, 1))
        )
        for name, path in last.items()
    ]
    try:
        with torch.no_grad():
            model.eval()(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))))
    finally:
        for handle in handles:
            handle.remove()
    return seen


def _random_keras(model: Any, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights(
                [0.3 * rng.standard_normal(w.shape).astype(np.float32) for w in weights]
            )


def _random_torch(model: torch.nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in model.parameters():
            tensor.copy_(0.3 * torch.randn(tensor.shape, generator=generator))


def test_dilated_transpose_on_keras_torch_backend_equals_emitted_pytorch(tmp_path: Path) -> None:
    """Shapes, parameter counts and every layer's values, after keras_to_torch and after
    torch_to_keras; the Keras model is built on TensorFlow (to hold the weights) and run
    on the torch backend."""
    graph, keras_file, torch_file = _emit(DILATION, tmp_path)
    names = [node.name for node in graph.layers()]
    last = _last_keras_layers(graph)
    keras_model = _import(keras_file).build_model()
    torch_module = _import(torch_file)
    x = np.random.default_rng(1).standard_normal((BATCH, *graph.input_shape)).astype(np.float32)

    # Keras -> PyTorch: random Keras weights (biases too), copied by keras_to_torch.
    _random_keras(keras_model, seed=2)
    forward = torch_module.build_model()
    keras_to_torch(keras_model, forward)
    runs = [(tmp_path / "forward.npz", keras_model.get_weights(), forward)]
    # PyTorch -> Keras: random PyTorch weights, copied by torch_to_keras.
    backward = torch_module.build_model()
    _random_torch(backward, seed=3)
    torch_to_keras(backward, keras_model)
    runs.append((tmp_path / "backward.npz", keras_model.get_weights(), backward))
    for path, weights, _ in runs:
        arrays = {f"w{i}": w for i, w in enumerate(weights)}
        np.savez(path, x=x, n_weights=len(weights), **arrays)

    shown = ",".join(last[name] for name in names)
    result = tmp_path / "keras_torch_backend.npz"
    proc = subprocess.run(
        [sys.executable, "-c", _KERAS_TORCH_BACKEND, str(keras_file), shown, str(result)]
        + [str(path) for path, _, _ in runs],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "torch"},
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    assert keras_model.count_params() == graph.total_params
    assert sum(p.numel() for p in forward.parameters()) == graph.total_params
    keras_values = np.load(result)
    assert int(keras_values["count_params"]) == graph.total_params
    problems = []
    for run, (path, _, torch_model) in enumerate(runs):
        torch_values = _torch_values(torch_model, graph, x)
        for node in graph.layers():
            k = keras_values[f"{run}:{last[node.name]}"]
            t = torch_values[node.name]
            if k.shape != (BATCH, *node.output) or t.shape != k.shape:
                problems.append(f"{path.stem} {node.name}: {k.shape} {t.shape} {node.output}")
            elif not np.max(np.abs(k - t)) < TOLERANCE:
                problems.append(f"{path.stem} {node.name}: max diff {np.max(np.abs(k - t)):.3g}")
    assert not problems, "\n".join(problems)


def test_tensorflow_cpu_still_refuses_dilated_transposed_convolutions(tmp_path: Path) -> None:
    """Why the dilation case file is not in tests/cases. When this fails, TensorFlow runs
    them: move the file there and drop the subprocess above."""
    _, keras_file, _ = _emit(DILATION, tmp_path)
    model = _import(keras_file).build_model()
    x = np.zeros((1, *model.input.shape[1:]), dtype=np.float32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="dilation rates larger than 1"):
        model(x)


# 40-character names (the schema's limit), the helper with an end crop on one axis and
# output_padding on the other, and a separate activation layer.
LONG_NAMES = f"""\
specgen: 1
name: {"m" * 40}
input: {{shape: [5, 7, 3]}}
layers:
  - {{type: conv2d_transpose, name: {"t" * 40}, filters: 4, kernel_size: [3, 1],
     stride: [2, 3], padding: same, use_bias: false, activation: leaky_relu}}
  - {{type: conv2d_transpose, name: {"u" * 40}, filters: 2, kernel_size: [4, 2],
     stride: 2, padding: same, output_padding: [1, 1], dilation: 1}}
"""


def test_emitted_code_is_ruff_clean_under_default_settings(tmp_path: Path) -> None:
    """What every conv2d_transpose case emits, the ConvTranspose2dSame helper included,
    passes ruff format and ruff check without configuration (as tests/test_emit.py
    checks the golden files)."""
    long_names = tmp_path / "long_names.yaml"
    long_names.write_text(LONG_NAMES, encoding="utf-8")
    specs = [*sorted((ROOT / "tests" / "cases").glob("conv2d_transpose*.yaml")), DILATION]
    files = []
    for spec in [*specs, long_names]:
        _, keras_file, torch_file = _emit(spec, tmp_path)
        files += [keras_file, torch_file]
    assert "class ConvTranspose2dSame(nn.ConvTranspose2d):" in files[-1].read_text()
    ruff = [sys.executable, "-m", "ruff"]
    formatted = subprocess.run(
        [*ruff, "format", "--isolated", "--check", "--diff", *map(str, files)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr
    checked = subprocess.run(
        [*ruff, "check", "--isolated", "--no-cache", "--select", "E,F,W,I,UP,B", *map(str, files)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
