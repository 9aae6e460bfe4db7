"""Differential property test: random valid networks, specgen against real Keras and PyTorch.

Hypothesis generates whole specs (tests/fuzz_networks.py): every layer type, every
padding form, strides, dilations and groups, tiny and odd sizes, graphs (fan-out,
broadcasting merges, concatenate, several outputs) and blocks (parameters, repeat,
nesting, ``{i}`` names, instance names as inputs). For each network:

1. specgen's front end (`check_file`) must accept it: no errors (the generator makes
   valid networks by construction; a rejection is a generator bug or a specgen bug), with
   the output shapes the generator computed; with blocks, `specgen expand`'s output must
   validate to the same graph;
2. both targets are emitted, imported and built;
3. every spec layer's output shape in Keras (symbolic and computed) and in PyTorch equals
   the shape pass's; the parameter counts agree per layer and in total; and after weight
   transfer in both directions (all weights random, batch norm and normalization
   statistics too; Keras -> PyTorch on a batch of 2, PyTorch -> Keras on a batch of 1)
   every layer's output and every model output agree in float32.

Known upstream bugs, each a Keras-target warning that must be given exactly where the
bug's condition holds: Keras' ``ops.add`` taking ``tf.nn.bias_add`` for broadcasting
``add``/``average`` merges (SG304) is wrong at the batch sizes the warning names, so the
run moves to other batch sizes there (tests/cases/fuzz_bias_add_changes_shape.yaml,
fuzz_broadcast_add_average.yaml); TensorFlow's CPU conv2d with one input channel and
strides [1, > 1] (SG303) is reported wrong at any batch size, so no Keras value computed
from such a layer is compared. Nor are values that overflow float32 (a random chain of
multiplies).

On a failure Hypothesis shrinks the network and prints it as a spec file (YAML): commit
it as tests/cases/fuzz_<what>.yaml.

The number of networks comes from ``SPECGEN_FUZZ_EXAMPLES`` (default 40, a reproducible,
derandomized run of about 15 seconds); with the variable set, examples are
random (``--hypothesis-seed=N`` repeats a run). ``SPECGEN_FUZZ_STATS=path.json`` writes
counts (networks, graphs, blocks, layer types, discrepancies, time). For example::

    SPECGEN_FUZZ_EXAMPLES=5000 SPECGEN_FUZZ_STATS=fuzz.json \\
        nice .venv/bin/pytest tests/test_differential.py -x -q
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import gc
import importlib.util
import itertools
import json
import resource
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import keras
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, note, settings

from specgen import keras_to_torch, torch_to_keras
from specgen.activations import ACTIVATION_NAMES
from specgen.check import check_file
from specgen.diagnostics import Severity
from specgen.expand import flat_json, flat_yaml
from specgen.graph import Graph
from specgen.layers import LAYER_TYPES
from specgen.targets import emit_source, lower, target_findings
from specgen.targets.framework_bugs import keras_bias_add_batches, tensorflow_conv2d_bug
from specgen.transfer import counted_buffers


def _load_strategies() -> ModuleType:
    """tests/fuzz_networks.py (pytest runs with --import-mode=importlib: tests/ is no
    package and not on sys.path)."""
    name = "specgen_fuzz_networks"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).with_name("fuzz_networks.py")
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


fuzz = _load_strategies()

DEFAULT_EXAMPLES = 40
EXAMPLES = int(os.environ.get("SPECGEN_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
# The default run is derandomized: the same networks every time, so CI cannot flake.
DERANDOMIZE = "SPECGEN_FUZZ_EXAMPLES" not in os.environ or bool(os.environ.get("CI"))
STATS_PATH = os.environ.get("SPECGEN_FUZZ_STATS")
TOLERANCE = 1e-4  # max abs difference in float32, relative to outputs larger than 1
# Shapes and Keras -> PyTorch run a batch of 2, PyTorch -> Keras a batch of one; other
# sizes where SG304 names these.
BATCHES = (2, 1)
CLEAR_SESSION_EVERY = 20
COUNTED_BUFFERS = counted_buffers()


# --- statistics ----------------------------------------------------------------------------


class Stats:
    """What the run did, for SPECGEN_FUZZ_STATS (and the closing note of a big run)."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.counts: Counter[str] = Counter()
        self.layer_types: Counter[str] = Counter()  # expanded layers, by type
        self.networks_with: Counter[str] = Counter()  # networks holding each type
        self.features: Counter[str] = Counter()
        self.warnings: Counter[str] = Counter()
        self.seconds: list[float] = []
        self.layers: list[int] = []
        self.discrepancies: list[dict[str, str]] = []  # the first failure of each run
        self.last_failure: dict[str, str] = {}  # after shrinking: the minimal example
        self.failing = False  # after the first failure, runs are Hypothesis shrinking

    def report(self) -> dict[str, Any]:
        seconds = sorted(self.seconds)

        def quantile(q: float) -> float:
            return round(seconds[min(int(q * len(seconds)), len(seconds) - 1)], 3)

        return {
            "examples_requested": EXAMPLES,
            "derandomized": DERANDOMIZE,
            **dict(sorted(self.counts.items())),
            "wall_seconds": round(time.monotonic() - self.start, 1),
            "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
            "seconds_per_network": (
                {
                    "mean": round(sum(seconds) / len(seconds), 3),
                    "median": quantile(0.5),
                    "p95": quantile(0.95),
                    "max": round(seconds[-1], 3),
                }
                if seconds
                else {}
            ),
            "layers_per_network": (
                {"mean": round(sum(self.layers) / len(self.layers), 1), "max": max(self.layers)}
                if self.layers
                else {}
            ),
            "layer_types": dict(sorted(self.layer_types.items())),
            "networks_with_layer_type": dict(sorted(self.networks_with.items())),
            "layer_types_never_generated": sorted(set(LAYER_TYPES) - set(self.layer_types)),
            "warnings": dict(sorted(self.warnings.items())),
            "features": dict(sorted(self.features.items())),
            "discrepancies": self.discrepancies,
            "last_failure": self.last_failure,
        }

    def write(self) -> None:
        if STATS_PATH:
            Path(STATS_PATH).write_text(json.dumps(self.report(), indent=1) + "\n")


STATS = Stats()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is faster, and the CPU is shared
    try:
        yield tmp_path_factory.mktemp("differential")
    finally:
        torch.set_num_threads(threads)
        STATS.write()


# --- building and running -----------------------------------------------------------------

_module_counter = itertools.count()


def _import(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_fuzz_{next(_module_counter)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _to_nchw(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()


def _channels_last(array: np.ndarray) -> np.ndarray:
    return array.transpose(0, 2, 3, 1) if array.ndim == 4 else array


def _numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return _channels_last(value.detach().cpu().numpy())
    return np.asarray(keras.ops.convert_to_numpy(value))


def _as_list(values: Any) -> list[Any]:
    return list(values) if isinstance(values, list | tuple) else [values]


def _last_steps(graph: Graph, target: str) -> dict[str, str]:
    """Spec layer -> the Keras layer / PyTorch module path of the last step made for it."""
    last: dict[str, str] = {}
    for layer, path in lower(graph, target).paths:
        last[layer] = path
    assert list(last) == [node.name for node in graph.layers()]
    return last


def _owners(graph: Graph, target: str) -> dict[str, str]:
    """Keras layer name / PyTorch module path -> the spec layer it belongs to."""
    return {path: layer for layer, path in lower(graph, target).paths}


def _keras_values(model: Any, last: dict[str, str], names: list[str], x: np.ndarray) -> Any:
    """Every spec layer's output (one run of a probe model), and the model's outputs."""
    probe = keras.Model(
        inputs=model.input, outputs=[model.get_layer(last[name]).output for name in names]
    )
    outputs = _as_list(probe(x, training=False))
    values = {name: _numpy(v) for name, v in zip(names, outputs, strict=True)}
    return values, [_numpy(v) for v in _as_list(model(x, training=False))]


def _torch_values(
    model: torch.nn.Module, last: dict[str, str], names: list[str], x: np.ndarray
) -> Any:
    modules = dict(model.named_modules())
    seen: dict[str, np.ndarray] = {}
    handles = []
    for name in names:

        def hook(_module: Any, _args: Any, output: Any, name: str = name) -> None:
            seen[name] = _numpy(output)

        handles.append(modules[last[name]].register_forward_hook(hook))
    try:
        with torch.no_grad():
            final = model(_to_nchw(x)) if x.ndim == 4 else model(torch.from_numpy(x))
    finally:
        for handle in handles:
            handle.remove()
    return seen, [_numpy(v) for v in _as_list(final)]


def _randomize_keras(model: Any, rng: np.random.Generator) -> None:
    """Every weight random: kernels scaled by fan-in, biases and means around 0, batch
    norm gamma and every variance in [0.5, 1.5], normalization counts random."""
    for layer in model.layers:
        for variable in layer.weights:
            leaf = variable.path.rsplit("/", 1)[-1]
            shape = tuple(variable.shape)
            if leaf == "count":
                value: Any = np.asarray(rng.integers(1, 1000), dtype=variable.dtype)
            elif leaf in ("moving_variance", "variance", "gamma"):
                value = rng.uniform(0.5, 1.5, shape)
            elif leaf in ("bias", "beta", "moving_mean", "mean"):
                value = rng.normal(0.0, 0.5, shape)
            else:  # kernels
                fan_in = max(int(np.prod(shape[:-1])), 1)
                value = rng.normal(0.0, fan_in**-0.5, shape)
            variable.assign(np.asarray(value).astype(variable.dtype))
        if layer.weights and hasattr(layer, "finalize_state"):
            layer.finalize_state()  # Normalization: recompute from the new weights


def _randomize_torch(model: torch.nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in itertools.chain(model.named_parameters(), model.named_buffers()):
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "num_batches_tracked":
                continue
            if not tensor.is_floating_point():
                tensor.copy_(torch.randint(1, 1000, tensor.shape, generator=generator))
            elif leaf in ("running_var", "variance") or (leaf == "weight" and tensor.ndim == 1):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
            else:
                fan_in = int(np.prod(tensor.shape[1:])) if tensor.ndim > 1 else 4
                scale = (1.0 / fan_in) ** 0.5 if leaf == "weight" else 0.5
                tensor.copy_(scale * torch.randn(tensor.shape, generator=generator))


def _downstream(graph: Graph, roots: set[str]) -> set[str]:
    """`roots` and every layer that reads them, directly or not."""
    found = set(roots)
    for node in graph.layers():
        if any(name in found for name in node.inputs):
            found.add(node.name)
    return found


class Discrepancy(AssertionError):
    """specgen and a framework disagree (or specgen refused a valid network)."""

    def __init__(self, kind: str, problems: list[str]) -> None:
        super().__init__(f"{kind}:\n" + "\n".join(problems))
        self.kind = kind


def _magnitude(array: np.ndarray) -> float:
    return float(np.max(np.abs(array))) if array.size else 0.0


def _compare(
    kind: str,
    graph: Graph,
    x: np.ndarray,
    keras_values: tuple[dict[str, np.ndarray], list[np.ndarray]],
    torch_values: tuple[dict[str, np.ndarray], list[np.ndarray]],
    skip: set[str],
) -> None:
    """Every layer's and every model output's values agree.

    The tolerance is relative to the largest value the layer reads or writes (at least
    1): float32 rounding is relative, and a layer that cancels large inputs (subtract,
    batch norm) keeps their absolute rounding error. Layers whose values overflow (a
    random chain of multiplies can reach inf) are not compared, nor anything after them.
    """
    (k_layers, k_final), (t_layers, t_final) = keras_values, torch_values
    magnitude = {"input": _magnitude(x)}
    overflow: set[str] = set()
    problems = []
    for node in graph.layers():
        k, t = k_layers[node.name], t_layers[node.name]
        magnitude[node.name] = _magnitude(k)
        if node.name in skip:
            continue
        if any(name in overflow for name in node.inputs) or not (
            np.all(np.isfinite(k)) and np.all(np.isfinite(t)) and magnitude[node.name] < 1e15
        ):
            overflow.add(node.name)
            continue
        if k.shape != t.shape:
            problems.append(f"{node.name}: Keras shape {k.shape} != PyTorch {t.shape}")
            continue
        scale = max(1.0, magnitude[node.name], *(magnitude[name] for name in node.inputs))
        diff = float(np.max(np.abs(k.astype(np.float64) - t.astype(np.float64))))
        if not diff <= TOLERANCE * scale:
            problems.append(f"{node.name}: max abs diff {diff:.3g} (scale {scale:.3g})")
    for i, (k, t) in enumerate(zip(k_final, t_final, strict=True)):
        name = graph.outputs[i].name
        if name in skip or name in overflow:
            continue
        # The model's i-th output is the spec's i-th output layer, in both frameworks.
        for framework, value, layer in (("Keras", k, k_layers), ("PyTorch", t, t_layers)):
            if value.shape != layer[name].shape or not np.allclose(
                value, layer[name], rtol=1e-5, atol=1e-6 * max(1.0, magnitude[name])
            ):
                problems.append(f"<output {i}>: not the values of layer {name!r} ({framework})")
    if overflow and not STATS.failing:
        STATS.counts[f"{kind}_layers_not_compared_overflow"] += len(overflow)
    if problems:
        raise Discrepancy(f"{kind}: outputs differ (first listed diverges first)", problems)


# --- the checks ---------------------------------------------------------------------------


def _accept(net: Any, directory: Path) -> tuple[Graph, bytes, Path]:
    suffix = ".json" if net.as_json else ".yaml"
    path = directory / f"fuzz{suffix}"
    path.write_text(json.dumps(net.spec, indent=1) if net.as_json else net.yaml)
    result = check_file(path)
    errors = result.report.errors
    if errors:
        raise Discrepancy("specgen refused a valid network", [str(d) for d in errors])
    assert result.graph is not None and result.document is not None
    for warning in result.report.warnings:
        STATS.warnings[warning.code] += 1
    graph = result.graph
    shapes = [node.output for node in graph.outputs]
    if shapes != net.output_shapes:
        raise Discrepancy(
            "shape pass differs from the generator's shapes",
            [f"outputs {shapes} != {net.output_shapes}"],
        )
    if "blocks" in net.spec:
        _check_expanded(graph, result.document.data, directory)
    return graph, result.document.raw, path


def _graph_facts(graph: Graph) -> list[Any]:
    facts: list[Any] = [[node.name for node in graph.outputs]]
    for node in graph.layers():
        layer = node.layer.model_dump(exclude={"name", "inputs", "expect"})  # type: ignore[union-attr]
        facts.append((node.name, node.inputs, node.output, node.total_params, layer))
    return facts


def _check_expanded(graph: Graph, flat: dict[str, Any], directory: Path) -> None:
    """`specgen expand`'s output (YAML and JSON) validates to the same graph: names,
    wiring, fields, shapes, parameters and outputs."""
    for suffix, text in ((".yaml", flat_yaml(flat)), (".json", flat_json(flat))):
        path = directory / f"expanded{suffix}"
        path.write_text(text)
        result = check_file(path)
        if result.report.errors or result.graph is None:
            raise Discrepancy(
                f"specgen expand ({suffix}) gives an invalid spec",
                [text, *(str(d) for d in result.report.errors)],
            )
        if _graph_facts(result.graph) != _graph_facts(graph):
            raise Discrepancy(f"specgen expand ({suffix}) gives another graph", [text])


def _check_shapes(graph: Graph, built: dict[str, Any], x: np.ndarray) -> None:
    names = [node.name for node in graph.layers()]
    keras_model, torch_model = built["keras"], built["torch"]
    problems = []
    if tuple(keras_model.inputs[0].shape[1:]) != graph.input_shape:
        problems.append(f"Keras input {keras_model.inputs[0].shape} != {graph.input_shape}")
    k_layers, k_final = _keras_values(keras_model, built["keras_last"], names, x)
    t_layers, t_final = _torch_values(torch_model, built["torch_last"], names, x)
    for node in graph.layers():
        symbolic = tuple(keras_model.get_layer(built["keras_last"][node.name]).output.shape[1:])
        want = (x.shape[0], *node.output)
        if symbolic != node.output:
            problems.append(f"{node.name}: Keras symbolic {symbolic} != spec {node.output}")
        if k_layers[node.name].shape != want:
            problems.append(f"{node.name}: Keras {k_layers[node.name].shape[1:]} != {node.output}")
        if t_layers[node.name].shape != want:
            problems.append(
                f"{node.name}: PyTorch {t_layers[node.name].shape[1:]} != {node.output}"
            )
    for finals, framework in ((k_final, "Keras"), (t_final, "PyTorch")):
        got = [v.shape[1:] for v in finals]
        want_out = [node.output for node in graph.outputs]
        if got != want_out:
            problems.append(f"{framework} model outputs {got} != spec {want_out}")
    if problems:
        raise Discrepancy("shapes differ from the shape pass", problems)


def _check_params(graph: Graph, built: dict[str, Any]) -> None:
    keras_model, torch_model = built["keras"], built["torch"]
    names = [node.name for node in graph.layers()]
    problems = []
    if keras_model.count_params() != graph.total_params:
        problems.append(f"Keras count_params {keras_model.count_params()} != {graph.total_params}")
    trainable = sum(int(np.prod(w.shape)) for w in keras_model.trainable_weights)
    if trainable != graph.params:
        problems.append(f"Keras trainable {trainable} != {graph.params}")
    params = sum(p.numel() for p in torch_model.parameters())
    stats = sum(
        b.numel()
        for name, b in torch_model.named_buffers()
        if name.rsplit(".", 1)[-1] in COUNTED_BUFFERS
    )
    if (params, stats) != (graph.params, graph.non_trainable):
        problems.append(
            f"PyTorch parameters {params} + counted buffers {stats} != "
            f"{graph.params} + {graph.non_trainable}"
        )
    keras_per_layer = dict.fromkeys(names, 0)
    owner = _owners(graph, "keras")
    for layer in keras_model.layers[1:]:
        if layer.name not in owner:
            problems.append(f"Keras layer {layer.name} belongs to no spec layer")
        else:
            keras_per_layer[owner[layer.name]] += layer.count_params()
    torch_per_layer = dict.fromkeys(names, 0)
    owner = _owners(graph, "pytorch")
    tensors = itertools.chain(
        torch_model.named_parameters(),
        ((n, b) for n, b in torch_model.named_buffers() if n.rsplit(".", 1)[-1] in COUNTED_BUFFERS),
    )
    for name, tensor in tensors:
        module = name.rsplit(".", 1)[0]
        if module not in owner:
            problems.append(f"PyTorch tensor {name} belongs to no spec layer")
        else:
            torch_per_layer[owner[module]] += tensor.numel()
    for node in graph.layers():
        want = node.total_params
        if keras_per_layer[node.name] != want or torch_per_layer[node.name] != want:
            problems.append(
                f"{node.name} ({node.kind}): spec {want}, Keras {keras_per_layer[node.name]}, "
                f"PyTorch {torch_per_layer[node.name]}"
            )
    if problems:
        raise Discrepancy("parameter counts differ", problems)


def _run(net: Any, directory: Path) -> None:
    """One network through every check; raises `Discrepancy`."""
    graph, raw, path = _accept(net, directory)
    STATS.counts["accepted"] += 0 if STATS.failing else 1
    nodes = list(graph.layers())
    kinds = Counter(node.kind for node in nodes)
    is_graph = (
        any(len(node.inputs) > 1 for node in nodes)
        or any(len(node.users) > 1 for node in graph)
        or len(graph.outputs) > 1
    )
    if not STATS.failing:
        STATS.layer_types.update(kinds)
        STATS.networks_with.update(kinds.keys())
        STATS.features.update(net.features)
        STATS.layers.append(len(nodes))
        STATS.counts["graphs"] += is_graph
        STATS.counts["with_blocks"] += "blocks" in net.spec
        STATS.counts["several_outputs"] += len(graph.outputs) > 1
        STATS.counts["merges"] += any(len(node.inputs) > 1 for node in nodes)
        STATS.counts["fan_out"] += any(len(node.users) > 1 for node in graph)
        STATS.counts["json_files"] += net.as_json

    # What the targets cannot express is avoided by the generator: no SG401 here.
    keras_findings = target_findings(graph, "keras")
    refused = [d for d in keras_findings if d.severity is Severity.ERROR]
    refused += target_findings(graph, "pytorch")
    if refused:
        raise Discrepancy("a target refused a valid network", [str(d) for d in refused])
    # Known framework bugs (the Keras target's SG303 and SG304 warnings). SG304 names the
    # batch sizes at which Keras adds a broadcasting merge wrongly (its shape too, so the
    # model may not even run): the batches used here avoid them. SG303 holds for every
    # batch size: no Keras values downstream of such a layer are compared.
    conv_bug = {node.name for node in nodes if tensorflow_conv2d_bug(node)}
    warned = {
        d.code
        for node in nodes
        for d in keras_findings
        if d.severity is Severity.WARNING and tuple(d.json_path[: len(node.path)]) == node.path
    }
    avoid = {batch for node in nodes for batch in keras_bias_add_batches(node)}
    candidates = (*BATCHES, *range(3, 3 + len(avoid) + 2))
    batches = [batch for batch in candidates if batch not in avoid][:2]
    skip = _downstream(graph, conv_bug)
    if not STATS.failing:
        STATS.counts["keras_target_warnings"] += bool(warned)
        STATS.counts["tf_conv_bug_geometry"] += bool(conv_bug)
        STATS.counts["keras_values_partly_skipped"] += bool(skip)
        STATS.counts["batch_sizes_moved_for_sg304"] += tuple(batches) != BATCHES
    expected_warnings = {"SG303"} if conv_bug else set()
    if any(keras_bias_add_batches(node) for node in nodes):
        expected_warnings.add("SG304")
    if warned != expected_warnings:
        raise Discrepancy(
            "Keras-target warnings", [f"{sorted(warned)} != {sorted(expected_warnings)}"]
        )

    sources = {}
    for target in ("keras", "pytorch"):
        source, findings = emit_source(graph, target, path.name, raw)
        if source is None:
            raise Discrepancy(f"{target}: emit failed", [str(d) for d in findings])
        file = directory / f"fuzz_{target}.py"
        file.write_text(source)
        sources[target] = _import(file)
    built = {
        "keras": sources["keras"].build_model(),
        "torch": sources["pytorch"].build_model().eval(),
        "keras_last": _last_steps(graph, "keras"),
        "torch_last": _last_steps(graph, "pytorch"),
    }
    seed = zlib.crc32(net.yaml.encode())
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batches[0], *graph.input_shape)).astype(np.float32)
    _check_shapes(graph, built, x)
    _check_params(graph, built)

    names = [node.name for node in nodes]
    keras_model, torch_model = built["keras"], built["torch"]
    _randomize_keras(keras_model, rng)
    keras_to_torch(keras_model, torch_model)
    _compare(
        "keras_to_torch",
        graph,
        x,
        _keras_values(keras_model, built["keras_last"], names, x),
        _torch_values(torch_model, built["torch_last"], names, x),
        skip,
    )
    # The other way, with a batch of one where SG304 allows: its own code paths.
    _randomize_torch(torch_model, seed + 1)
    torch_to_keras(torch_model, keras_model)
    x = rng.standard_normal((batches[1], *graph.input_shape)).astype(np.float32)
    _compare(
        "torch_to_keras",
        graph,
        x,
        _keras_values(keras_model, built["keras_last"], names, x),
        _torch_values(torch_model, built["torch_last"], names, x),
        skip,
    )


# --- the tests ------------------------------------------------------------------------------


def test_generator_covers_every_layer_type_and_activation() -> None:
    """A new layer type or activation in specgen fails here until the fuzzer makes it."""
    assert sorted(fuzz.LAYER_TYPES) == sorted(LAYER_TYPES)
    assert sorted(fuzz.ACTIVATIONS) == sorted(ACTIVATION_NAMES)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=DERANDOMIZE,
    database=None,
    print_blob=True,
    suppress_health_check=list(HealthCheck),
)
@given(net=fuzz.networks())
def test_emitted_models_match_the_shape_pass_and_each_other(net: Any, workdir: Path) -> None:
    note("The network as a spec file (commit it under tests/cases/fuzz_<what>.yaml):\n" + net.yaml)
    start = time.monotonic()
    if STATS.failing:
        STATS.counts["shrink_runs"] += 1
    else:
        STATS.counts["generated"] += 1
    try:
        _run(net, workdir)
    except Exception as error:
        STATS.counts["failing_runs"] += 1
        failure = {"error": f"{type(error).__name__}: {error}"[:4000], "spec": net.yaml}
        if not STATS.failing:
            STATS.discrepancies.append(failure)
        STATS.last_failure = failure
        STATS.failing = True
        STATS.write()
        raise
    finally:
        if not STATS.failing:
            STATS.seconds.append(time.monotonic() - start)
        if STATS.counts["generated"] % CLEAR_SESSION_EVERY == 0:
            keras.backend.clear_session()
            gc.collect()
        if STATS.counts["generated"] % 100 == 0:
            STATS.write()
