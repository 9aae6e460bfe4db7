"""Copy weights between the Keras and the PyTorch model emitted from the same spec.

Layers are matched by their spec names (a Keras layer's ``name``, a PyTorch submodule's
attribute), and each weight is converted between the two layouts:

==============  ===========================  ===============================
layer           Keras                        PyTorch
==============  ===========================  ===============================
conv2d          kernel (kh, kw, in/g, out)   weight (out, in/g, kh, kw)
dense           kernel (in, out)             weight (out, in)
batch_norm      gamma, beta,                 weight, bias,
                moving_mean, moving_var      running_mean, running_var
==============  ===========================  ===============================

Dense weights need no reordering for flatten: the emitted PyTorch model flattens in
Keras' (H, W, C) order. Both frameworks are imported only when these functions run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Layout:
    """How a Keras array becomes the PyTorch tensor: a permutation of its axes, then a
    reshape to the PyTorch shape (depthwise kernels fold two Keras axes into one)."""

    axes: tuple[int, ...] | None = None  # None: same layout

    def to_torch(self, array: Any, torch_shape: tuple[int, ...]) -> Any:
        if self.axes is not None:
            array = array.transpose(self.axes)
        return array.reshape(torch_shape)

    def to_keras(self, array: Any, keras_shape: tuple[int, ...]) -> Any:
        if self.axes is None:
            return array.reshape(keras_shape)
        permuted = tuple(keras_shape[a] for a in self.axes)
        return array.reshape(permuted).transpose(_inverse(self.axes))

    def fits(self, keras_shape: tuple[int, ...], torch_shape: tuple[int, ...]) -> bool:
        permuted = keras_shape if self.axes is None else tuple(keras_shape[a] for a in self.axes)
        return _size(permuted) == _size(torch_shape) and (
            len(permuted) != len(torch_shape) or permuted == torch_shape
        )


def _size(shape: tuple[int, ...]) -> int:
    total = 1
    for n in shape:
        total *= n
    return total


SAME = Layout()


@dataclass(frozen=True, slots=True)
class Weight:
    """One Keras weight and where it lives in PyTorch: in the spec layer's own module,
    or (``module`` suffix) in a helper module the target emits beside it."""

    keras: str
    torch: str
    layout: Layout = SAME
    module: str = ""  # '' : the layer's module; '_depthwise': '<name>_depthwise'


CONV = (Weight("kernel", "weight", Layout((3, 2, 0, 1))), Weight("bias", "bias"))
# Keras' layout per Keras layer class. A registry test checks that every layer type
# with weights has its class here.
WEIGHTS: dict[str, tuple[Weight, ...]] = {
    "Conv2D": CONV,
    "Dense": (Weight("kernel", "weight", Layout((1, 0))), Weight("bias", "bias")),
    "BatchNormalization": (
        Weight("gamma", "weight"),
        Weight("beta", "bias"),
        Weight("moving_mean", "running_mean"),
        Weight("moving_variance", "running_var"),
    ),
}


class TransferError(ValueError):
    """The two models do not come from the same spec (or one was changed by hand)."""


def torch_layers(torch_model: Any) -> dict[str, Any]:
    """Spec layer name -> PyTorch module, through the emitted block classes.

    A block instance's layers are its submodules: ``stage1_1.conv1`` is the spec (and
    Keras) layer ``stage1_1_conv1``. An attribute that had to be renamed to be a Python
    name is listed in its class's ``spec_names`` (``conv_1`` for Keras' ``1_conv``).
    """
    found: dict[str, Any] = {}
    pending = [(torch_model, "")]
    while pending:
        module, prefix = pending.pop()
        names = getattr(type(module), "spec_names", {})
        for attr, child in module.named_children():
            spec = names.get(attr, attr)
            full = f"{prefix}_{spec}" if prefix else spec
            found.setdefault(full, child)
            pending.append((child, full))
    return found


def _pairs(keras_model: Any, torch_model: Any) -> list[tuple[Any, dict[str, Any], str]]:
    """(Keras layer, PyTorch modules by spec name, spec name) of every weighted layer."""
    modules = torch_layers(torch_model)
    pairs = []
    used: set[str] = set()
    for layer in keras_model.layers:
        if not layer.weights:
            continue
        weights = WEIGHTS.get(type(layer).__name__)
        if weights is None:
            raise TransferError(f"Keras layer {layer.name!r} ({type(layer).__name__}) is unknown")
        if layer.name not in modules:
            raise TransferError(f"the PyTorch model has no submodule {layer.name!r}")
        pairs.append((layer, modules, layer.name))
        used.update(layer.name + w.module for w in weights)
    weighted = {
        name
        for name, module in modules.items()
        if list(module.parameters(recurse=False)) or list(module.buffers(recurse=False))
    }
    if weighted - used:
        missing = ", ".join(sorted(weighted - used))
        raise TransferError(f"the Keras model has no weighted layer(s) named {missing}")
    return pairs


Plan = list[tuple[str, Any, Any, Layout]]


def _planned(keras_model: Any, torch_model: Any) -> Plan:
    """(label, keras variable, torch tensor, layout) for every weight; raises before any copy."""
    plan: Plan = []
    for layer, modules, name in _pairs(keras_model, torch_model):
        for weight in WEIGHTS[type(layer).__name__]:
            module = modules.get(name + weight.module)
            variable = getattr(layer, weight.keras, None)
            tensor = getattr(module, weight.torch, None) if module is not None else None
            if variable is None and tensor is None:
                continue  # e.g. use_bias: false, or batch norm without center/scale
            label = f"{layer.name}.{weight.keras} -> {name + weight.module}.{weight.torch}"
            if variable is None or tensor is None:
                raise TransferError(f"{label}: one side has no such weight")
            want, have = tuple(variable.shape), tuple(tensor.shape)
            if not weight.layout.fits(want, have):
                raise TransferError(f"{label}: shape {want} does not fit {have}")
            plan.append((label, variable, tensor, weight.layout))
    return plan


def _inverse(axes: tuple[int, ...]) -> tuple[int, ...]:
    """The permutation that undoes `axes`.

    >>> _inverse((3, 2, 0, 1))
    (2, 3, 1, 0)
    """
    inverse = [0] * len(axes)
    for position, axis in enumerate(axes):
        inverse[axis] = position
    return tuple(inverse)


def keras_to_torch(keras_model: Any, torch_model: Any) -> None:
    """Copy every weight of `keras_model` into `torch_model`, in place.

    All layers and shapes are checked first: on `TransferError` nothing was copied.
    """
    import keras
    import numpy as np
    import torch

    plan = _planned(keras_model, torch_model)
    with torch.no_grad():
        for _, variable, tensor, layout in plan:
            array = np.asarray(keras.ops.convert_to_numpy(variable))
            array = layout.to_torch(array, tuple(tensor.shape))
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(array)))


def torch_to_keras(torch_model: Any, keras_model: Any) -> None:
    """Copy every weight of `torch_model` into `keras_model`, in place.

    All layers and shapes are checked first: on `TransferError` nothing was copied.
    """
    for _, variable, tensor, layout in _planned(keras_model, torch_model):
        array = tensor.detach().cpu().numpy()
        variable.assign(layout.to_keras(array, tuple(variable.shape)))
