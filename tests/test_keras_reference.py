"""specgen's shape pass and parameter count against cifar10_cnn built by hand in Keras 3.

The Keras model here is written independently of specgen (no emitted code, no templates):
it is the reference the shape pass and the parameter formulas must agree with.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

from pathlib import Path

import keras
import pytest

from specgen.check import check_file
from specgen.graph import Graph

ROOT = Path(__file__).resolve().parent.parent
CIFAR = ROOT / "specs" / "cifar10_cnn.yaml"


@pytest.fixture(scope="module")
def graph() -> Graph:
    result = check_file(CIFAR)
    assert result.report.errors == []
    assert result.graph is not None
    return result.graph


@pytest.fixture(scope="module")
def reference() -> keras.Model:
    assert keras.backend.backend() == "tensorflow"
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=(32, 32, 3)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ],
        name="cifar10_cnn",
    )


def test_total_params_match_keras(graph: Graph, reference: keras.Model) -> None:
    assert reference.count_params() == 122570 == graph.total_params
    assert graph.params == 122570
    assert graph.non_trainable == 0


def test_output_shapes_match_keras_layer_by_layer(graph: Graph, reference: keras.Model) -> None:
    nodes = list(graph.layers())
    assert len(nodes) == len(reference.layers) == 8
    for node, layer in zip(nodes, reference.layers, strict=True):
        keras_shape = tuple(layer.output.shape)[1:]  # drop the batch axis
        assert node.output == keras_shape, (node.name, layer.name)


def test_layer_kinds_and_params_match_keras(graph: Graph, reference: keras.Model) -> None:
    kinds = {
        "conv2d": keras.layers.Conv2D,
        "max_pool2d": keras.layers.MaxPooling2D,
        "flatten": keras.layers.Flatten,
        "dense": keras.layers.Dense,
    }
    for node, layer in zip(graph.layers(), reference.layers, strict=True):
        assert isinstance(layer, kinds[node.kind]), (node.name, type(layer).__name__)
        assert node.total_params == layer.count_params(), node.name
        assert tuple(node.input_shapes[0]) == tuple(layer.input.shape)[1:], node.name


def test_graph_input_matches_keras_input(graph: Graph, reference: keras.Model) -> None:
    assert graph.input_shape == (32, 32, 3) == tuple(reference.input_shape)[1:]
    assert graph.output.output == (10,) == tuple(reference.output_shape)[1:]
