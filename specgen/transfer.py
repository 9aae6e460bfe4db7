"""Copy weights between the Keras and the PyTorch model emitted from the same spec.

Layers are matched by their spec names (a Keras layer's ``name``, a PyTorch submodule's
attribute), and each weight is converted between the two layouts:

================  ============================  ==============================
layer             Keras                         PyTorch
================  ============================  ==============================
conv2d            kernel (kh, kw, in/g, out)    weight (out, in/g, kh, kw)
dense             kernel (in, out)              weight (out, in)
batch_norm        gamma, beta,                  weight, bias,
                  moving_mean, moving_var       running_mean, running_var
depthwise_conv2d  kernel (kh, kw, C, dm)        weight (C*dm, 1, kh, kw)
separable_conv2d  depthwise_kernel              <name>_depthwise.weight
                  (kh, kw, C, dm),              (C*dm, 1, kh, kw),
                  pointwise_kernel              <name>.weight
                  (1, 1, C*dm, filters), bias   (filters, C*dm, 1, 1), bias
normalization     mean, variance (C,),          buffers mean, variance (C,),
(adaptable)       count ()                      count ()
conv2d_transpose  kernel (kh, kw, out, in)      weight (in, out, kh, kw)
================  ============================  ==============================

Dense weights need no reordering for flatten: the emitted PyTorch model flattens in
Keras' (H, W, C) order. Batch norm without center (scale) has no beta (gamma) in Keras
and no bias (weight) in PyTorch. Both frameworks are imported only when these functions run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Layout:
    """How a Keras array becomes the PyTorch tensor: a permutation of its axes, then a
    reshape to the PyTorch shape (depthwise kernels fold two Keras axes into one)."""

    axes: tuple[int, ...] | None = None  # None: same layout
    # True: the reshape folds runs of adjacent permuted axes into one PyTorch axis
    # (depthwise: (C, dm, kh, kw) -> (C*dm, 1, kh, kw)), at equal rank too.
    fold: bool = False

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
        if self.fold:
            # Each PyTorch axis ends where some permuted axis ends (sizes 1 aside).
            return _size(permuted) == _size(torch_shape) and set(_running(torch_shape)) <= set(
                _running(permuted)
            )
        return _size(permuted) == _size(torch_shape) and (
            len(permuted) != len(torch_shape) or permuted == torch_shape
        )


def _size(shape: tuple[int, ...]) -> int:
    total = 1
    for n in shape:
        total *= n
    return total


def _running(shape: tuple[int, ...]) -> list[int]:
    """Running products of a shape: where each axis ends in the flat array.

    >>> _running((4, 2, 3, 3)), _running((8, 1, 3, 3))
    ([4, 8, 24, 72], [8, 8, 24, 72])
    """
    out, total = [], 1
    for n in shape:
        total *= n
        out.append(total)
    return out


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
# Keras' depthwise kernel (kh, kw, C, dm) -> (C, dm, kh, kw) -> PyTorch's grouped
# weight (C*dm, 1, kh, kw): output channel c*dm + m in both.
DEPTHWISE = Layout((2, 3, 0, 1), fold=True)
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
    # Keras 3 names the depthwise layer's kernel `kernel` (Keras 2: depthwise_kernel).
    "DepthwiseConv2D": (Weight("kernel", "weight", DEPTHWISE), Weight("bias", "bias")),
    # One Keras layer, two PyTorch modules: '<name>_depthwise' then the pointwise '<name>'.
    "SeparableConv2D": (
        Weight("depthwise_kernel", "weight", DEPTHWISE, module="_depthwise"),
        Weight("pointwise_kernel", "weight", Layout((3, 2, 0, 1))),
        Weight("bias", "bias"),
    ),
    # Adaptable normalization: Keras' mean, variance and count -> the buffers of the
    # emitted Normalization helper. (With fixed values neither side has weights.)
    "Normalization": (
        Weight("adapt_mean", "mean"),
        Weight("adapt_variance", "variance"),
        Weight("count", "count"),
    ),
    # Both keep the kernel of the convolution this one transposes, unflipped: Keras'
    # (kh, kw, out, in) and PyTorch's (in, out, kh, kw) are conv2d's with in and out
    # swapped, so conv2d's permutation carries over.
    "Conv2DTranspose": CONV,
}


def counted_buffers() -> frozenset[str]:
    """The PyTorch side of Keras' ``count_params()``: a model's parameters plus its
    buffers of these names, the tensors that receive a Keras weight in `WEIGHTS` (batch
    norm's running_mean and running_var; the Normalization helper's mean, variance and
    count), which Keras counts as non-trainable weights. Bookkeeping that holds no Keras
    weight (nn.BatchNorm2d's num_batches_tracked) does not count."""
    return frozenset(weight.torch for weights in WEIGHTS.values() for weight in weights)


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
            # np.require keeps a 0-d array (a count) 0-d; ascontiguousarray would not.
            tensor.copy_(torch.from_numpy(np.require(array, requirements="C")))


def torch_to_keras(torch_model: Any, keras_model: Any) -> None:
    """Copy every weight of `torch_model` into `keras_model`, in place.

    All layers and shapes are checked first: on `TransferError` nothing was copied.
    """
    for _, variable, tensor, layout in _planned(keras_model, torch_model):
        array = tensor.detach().cpu().numpy()
        variable.assign(layout.to_keras(array, tuple(variable.shape)))
    # Keras' Normalization computes its mean and variance tensors from its weights once,
    # in finalize_state(); Keras itself calls it after loading weights.
    for layer in keras_model.layers:
        finalize = getattr(layer, "finalize_state", None)
        if layer.weights and callable(finalize):
            finalize()
