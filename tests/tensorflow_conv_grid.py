"""Issue 8: does TensorFlow's CPU convolution miscompute some geometries? A grid against PyTorch.

Not a test module (pytest does not collect it) and not a benchmark: run it by hand, e.g.

    nice .venv/bin/python tests/tensorflow_conv_grid.py            # TensorFlow's default kernels
    nice .venv/bin/python tests/tensorflow_conv_grid.py --onednn   # TF_ENABLE_ONEDNN_OPTS=1
    nice .venv/bin/python tests/tensorflow_conv_grid.py --shapes=0:10  # the first 10 inputs

Every geometry is one layer of a spec that specgen emits for both targets: one spec per
input shape, every layer reading ``input`` and every layer an output, so one model call
runs them all. The Keras model gets random weights (bias too), `keras_to_torch` copies
them, and each Keras output is compared with PyTorch's (its own kernels, oneDNN off, so
the reference never shares a kernel with TensorFlow) over several calls, on a repeated
input and on new ones (the reported bug changes from call to call). The emitted code is
what users run: explicit padding is a ZeroPadding2D in front, separable is one
SeparableConv2D, grouped convolutions take Keras' XLA path.

The reported condition (issue 8) is the Keras target's SG303 condition,
`specgen.targets.framework_bugs.tensorflow_conv2d_bug`; the script prints, per layer type,
how many geometries inside and outside it TensorFlow got wrong.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":  # before TensorFlow is imported: it reads them once
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if "--onednn" in sys.argv else "0"
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import importlib.util
import itertools
import json
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from specgen import keras_to_torch
from specgen.check import check_file
from specgen.graph import Node
from specgen.targets import emit_source, lower
from specgen.targets.framework_bugs import tensorflow_conv2d_bug as reported_predicate

CALLS = 3  # model calls per input shape: the reported wrong values change between calls
BATCH = 2
# Wrong: off by more than this, relative to the output's scale (float32 sums of a few
# dozen products agree to ~1e-6; the reported errors are 1e15 or NaN).
RELATIVE = 1e-3


@dataclass(frozen=True, slots=True)
class Geometry:
    """One layer on one input: the layer's spec fields (its type aside)."""

    kind: str
    input_shape: tuple[int, int, int]
    fields: tuple[tuple[str, object], ...]


# --- the grid ---------------------------------------------------------------------------

SIZES = (1, 2, 3, 5, 8)
KERNELS = [(kh, kw) for kh in (1, 2, 3) for kw in (1, 2, 3)]
STRIDES = [(sh, sw) for sh in (1, 2, 4) for sw in (1, 2, 4)]
DILATIONS = [(1, 2), (2, 1), (2, 2)]  # Keras takes dilation > 1 with stride 1 only
PADDINGS: list[object] = ["valid", "same", [[0, 1], [1, 0]]]  # explicit: a ZeroPadding2D


def geometries() -> Iterator[Geometry]:
    for h, w, c in itertools.product(SIZES, SIZES, (1, 3)):
        shape = (h, w, c)
        n = 0
        for kernel, stride, padding in itertools.product(KERNELS, STRIDES, PADDINGS):
            n += 1
            common = {
                "kernel_size": list(kernel),
                "stride": list(stride),
                "padding": padding,
                "use_bias": n % 3 != 0,
            }
            for groups in (1, 3) if c == 3 else (1,):
                filters = 3 if groups == 3 else 1 + n % 2
                yield Geometry("conv2d", shape, _items(common, filters=filters, groups=groups))
            if stride[0] == stride[1]:  # TensorFlow's depthwise kernel: equal strides only
                dm = {"depth_multiplier": 1 + n % 2}
                yield Geometry("depthwise_conv2d", shape, _items(common, **dm))
                yield Geometry("separable_conv2d", shape, _items(common, filters=2, **dm))
            if isinstance(padding, str):
                yield Geometry("conv2d_transpose", shape, _items(common, filters=1 + n % 2))
        for kernel, dilation, padding in itertools.product(KERNELS, DILATIONS, PADDINGS):
            n += 1
            common = {
                "kernel_size": list(kernel),
                "dilation": list(dilation),
                "padding": padding,
                "use_bias": n % 3 != 0,
            }
            yield Geometry("conv2d", shape, _items(common, filters=2))
            yield Geometry("depthwise_conv2d", shape, _items(common))
            yield Geometry("separable_conv2d", shape, _items(common, filters=2))
            # (no dilated conv2d_transpose: TensorFlow's CPU kernel refuses dilation > 1)


def _items(common: dict[str, object], **more: object) -> tuple[tuple[str, object], ...]:
    return tuple({**common, **more}.items())


# --- running ----------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    geometry: Geometry
    node: Node
    worst: float  # worst relative difference over the calls (inf: NaN or Inf)


def _import(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"_tf_conv_grid_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _accepted(
    directory: Path, shape: tuple[int, int, int], group: list[Geometry]
) -> tuple[Any, list[Geometry]]:
    """The checked spec (a `FileResult`) of the geometries that specgen takes and the
    Keras target expresses, and those geometries."""
    layers = list(group)
    for _ in range(3):
        spec = {
            "specgen": 1,
            "name": "grid",
            "input": {"shape": list(shape)},
            "layers": [
                {"name": f"l{i}", "type": g.kind, "inputs": "input", **dict(g.fields)}
                for i, g in enumerate(layers)
            ],
            "outputs": [f"l{i}" for i in range(len(layers))],
        }
        path = directory / "grid.json"
        path.write_text(json.dumps(spec), encoding="utf-8")
        result = check_file(path)
        bad = {d.json_path[1] for d in result.report.errors if len(d.json_path) > 1}
        if not bad and result.graph is not None:
            findings = lower(result.graph, "keras").findings
            bad = {d.json_path[1] for d in findings if d.severity == "error"}
            if not bad:
                return result, layers
        layers = [g for i, g in enumerate(layers) if i not in bad]
        if not layers:
            return None, []
    raise AssertionError("the grid spec did not settle")


def run_group(
    directory: Path,
    shape: tuple[int, int, int],
    group: list[Geometry],
    rng: np.random.Generator,
    calls: int = CALLS,
) -> list[Outcome]:
    """Emit, build and compare one input shape's geometries."""
    import keras
    import torch

    result, layers = _accepted(directory, shape, group)
    if not layers:
        return []
    graph = result.graph
    models = []
    for target in ("keras", "pytorch"):
        source, findings = emit_source(graph, target, "grid.json", b"")
        assert source is not None, [str(d) for d in findings]
        path = directory / f"grid_{target}_{'x'.join(map(str, shape))}.py"
        path.write_text(source, encoding="utf-8")
        models.append(_import(path).build_model())
    keras_model, torch_model = models[0], models[1].eval()
    for layer in keras_model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in weights])
    keras_to_torch(keras_model, torch_model)
    worst = [0.0] * len(layers)
    x = rng.standard_normal((BATCH, *shape)).astype(np.float32)
    for call in range(calls):
        if call % 2:  # every other call on a new input, the others repeat the last one
            x = rng.standard_normal((BATCH, *shape)).astype(np.float32)
        # PyTorch's own kernels, not oneDNN: TensorFlow may run oneDNN too (--onednn).
        with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False):
            expected = torch_model(torch.from_numpy(x).permute(0, 3, 1, 2))
        expected = (expected,) if isinstance(expected, torch.Tensor) else expected
        got = keras_model(x, training=False)
        got = got if isinstance(got, list | tuple) else [got]
        for i, (y, ref) in enumerate(zip(got, expected, strict=True)):
            error = relative_error(
                np.asarray(keras.ops.convert_to_numpy(y)), ref.numpy().transpose(0, 2, 3, 1)
            )
            worst[i] = max(worst[i], error)
    nodes = [graph.nodes[f"l{i}"] for i in range(len(layers))]
    return [Outcome(g, n, e) for g, n, e in zip(layers, nodes, worst, strict=True)]


def check(
    directory: Path,
    group: list[Geometry],
    calls: int = CALLS,
    seed: int = 8,
    *,
    progress: bool = False,
) -> list[Outcome]:
    """`run_group` for each input shape among `group` (the geometries specgen takes)."""
    import keras

    rng = np.random.default_rng(seed)
    shapes: dict[tuple[int, int, int], list[Geometry]] = {}
    for g in group:
        shapes.setdefault(g.input_shape, []).append(g)
    outcomes: list[Outcome] = []
    start = time.monotonic()
    for n, (shape, members) in enumerate(shapes.items(), 1):
        outcomes.extend(run_group(directory, shape, members, rng, calls))
        keras.backend.clear_session()  # the models of earlier shapes hold memory
        if progress:
            elapsed = time.monotonic() - start
            print(
                f"[{n}/{len(shapes)}] {shape}: {len(outcomes)} so far, "
                f"{sum(o.worst > RELATIVE for o in outcomes)} wrong, {elapsed:.0f} s",
                flush=True,
            )
    return outcomes


def conv2d(
    input_shape: tuple[int, int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: object = "valid",
    filters: int = 2,
    **more: object,
) -> Geometry:
    fields = {"filters": filters, "kernel_size": list(kernel), "stride": list(stride)}
    return Geometry("conv2d", input_shape, _items({**fields, "padding": padding}, **more))


# The report's example and its class (one input channel, vertical stride 1, horizontal
# stride > 1, output width 1, output height >= 2, kernel width >= 2) over input sizes,
# padding forms, filters and bias.
REPORTED = [
    conv2d((2, 3, 1), (1, 3), (1, 4), filters=1),
    conv2d((2, 3, 1), (1, 3), (1, 4), filters=3, use_bias=False),
    conv2d((2, 3, 1), (2, 2), (1, 2), padding=[[1, 0], [0, 0]]),
    conv2d((5, 4, 1), (3, 4), (1, 2)),
    conv2d((5, 4, 1), (1, 3), (1, 5), padding=[[0, 0], [0, 1]]),
    conv2d((8, 2, 1), (3, 2), (1, 3), padding="same", filters=4),
    conv2d((8, 5, 1), (2, 5), (1, 7)),
    conv2d((16, 9, 1), (5, 6), (1, 4), filters=8),
]
# Next to it: each changes one condition (channels, the axes swapped, kernel width 1,
# stride 1, output width 2, output height 1).
NEIGHBOURS = [
    conv2d((2, 3, 3), (1, 3), (1, 4)),
    conv2d((3, 2, 1), (3, 1), (4, 1)),
    conv2d((2, 3, 1), (1, 1), (1, 4)),
    conv2d((2, 3, 1), (1, 3), (1, 1)),
    conv2d((2, 5, 1), (1, 2), (1, 3)),
    conv2d((1, 3, 1), (1, 3), (1, 4)),
]


def relative_error(got: np.ndarray, expected: np.ndarray) -> float:
    """max |got - expected| / (1 + max |expected|); inf where got holds NaN or Inf."""
    if not np.all(np.isfinite(got)):
        return float("inf")
    return float(np.max(np.abs(got - expected)) / (1.0 + np.max(np.abs(expected))))


def main() -> None:
    """The whole grid, summed up per layer type; with ``--reported``, `REPORTED` and
    `NEIGHBOURS` only (10 calls each), one JSON object per geometry (for the tests)."""
    if "--reported" in sys.argv:
        with tempfile.TemporaryDirectory() as tmp:
            for o in check(Path(tmp), REPORTED + NEIGHBOURS, calls=10):
                row = {
                    "input_shape": list(o.geometry.input_shape),
                    "fields": dict(o.geometry.fields),
                    "output": list(o.node.output),
                    "inside": reported_predicate(o.node),
                    "worst": o.worst if np.isfinite(o.worst) else "inf",
                }
                print(json.dumps(row), flush=True)
        return
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        chosen = list(geometries())
        for arg in sys.argv:  # --shapes=i:j, the i-th to j-th input shape (a resumable chunk)
            if arg.startswith("--shapes="):
                first, last = (int(n) for n in arg.removeprefix("--shapes=").split(":"))
                shapes = list(dict.fromkeys(g.input_shape for g in chosen))[first:last]
                chosen = [g for g in chosen if g.input_shape in shapes]
        outcomes = check(Path(tmp), chosen, progress=True)
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    print(f"TF_ENABLE_ONEDNN_OPTS={onednn}: {len(outcomes)} geometries x {CALLS} calls")
    print(f"{'layer':18} {'inside: wrong/total':>20} {'outside: wrong/total':>21}")
    for kind in ("conv2d", "depthwise_conv2d", "separable_conv2d", "conv2d_transpose"):
        mine = [o for o in outcomes if o.geometry.kind == kind]
        inside = [o for o in mine if reported_predicate(o.node)]
        outside = [o for o in mine if not reported_predicate(o.node)]
        counts = [(sum(o.worst > RELATIVE for o in part), len(part)) for part in (inside, outside)]
        shown = [f"{wrong}/{total}" for wrong, total in counts]
        print(f"{kind:18} {shown[0]:>20} {shown[1]:>21}")
    wrong = sorted((o for o in outcomes if o.worst > RELATIVE), key=lambda o: -o.worst)
    for o in wrong[:40]:
        fields = dict(o.geometry.fields)
        shape, out = o.geometry.input_shape, list(o.node.output)
        print("WRONG", o.geometry.kind, shape, fields, "->", out, f"{o.worst:.3g}")
    worst = max((o.worst for o in outcomes), default=0.0)
    print(f"worst relative difference {worst:.3g}; {time.monotonic() - start:.0f} s")


if __name__ == "__main__":
    main()
