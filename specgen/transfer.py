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

from typing import Any

# Keras attribute -> (PyTorch attribute, how to turn the Keras array into PyTorch's).
_CONV: dict[str, tuple[str, tuple[int, ...] | None]] = {
    "kernel": ("weight", (3, 2, 0, 1)),
    "bias": ("bias", None),
}
_DENSE: dict[str, tuple[str, tuple[int, ...] | None]] = {
    "kernel": ("weight", (1, 0)),
    "bias": ("bias", None),
}
_BATCH_NORM: dict[str, tuple[str, tuple[int, ...] | None]] = {
    "gamma": ("weight", None),
    "beta": ("bias", None),
    "moving_mean": ("running_mean", None),
    "moving_variance": ("running_var", None),
}
_BY_KERAS_CLASS: dict[str, dict[str, tuple[str, tuple[int, ...] | None]]] = {
    "Conv2D": _CONV,
    "Dense": _DENSE,
    "BatchNormalization": _BATCH_NORM,
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


def _pairs(keras_model: Any, torch_model: Any) -> list[tuple[Any, Any, dict[str, Any]]]:
    modules = torch_layers(torch_model)
    pairs = []
    for layer in keras_model.layers:
        if not layer.weights:
            continue
        mapping = _BY_KERAS_CLASS.get(type(layer).__name__)
        if mapping is None:
            raise TransferError(f"Keras layer {layer.name!r} ({type(layer).__name__}) is unknown")
        if layer.name not in modules:
            raise TransferError(f"the PyTorch model has no submodule {layer.name!r}")
        pairs.append((layer, modules[layer.name], mapping))
    keras_names = {layer.name for layer, _, _ in pairs}
    torch_names = {
        name
        for name, module in modules.items()
        if list(module.parameters(recurse=False)) or list(module.buffers(recurse=False))
    }
    if torch_names - keras_names:
        missing = ", ".join(sorted(torch_names - keras_names))
        raise TransferError(f"the Keras model has no weighted layer(s) named {missing}")
    return pairs


def _planned(keras_model: Any, torch_model: Any) -> list[tuple[str, Any, Any, Any]]:
    """(label, keras variable, torch tensor, axes) for every weight; raises before any copy."""
    plan = []
    for layer, module, mapping in _pairs(keras_model, torch_model):
        for keras_attr, (torch_attr, axes) in mapping.items():
            variable = getattr(layer, keras_attr, None)
            tensor = getattr(module, torch_attr, None)
            if variable is None and tensor is None:
                continue  # e.g. use_bias: false, or batch norm without center/scale
            label = f"{layer.name}.{keras_attr} -> {torch_attr}"
            if variable is None or tensor is None:
                raise TransferError(f"{label}: one side has no such weight")
            want = tuple(variable.shape)
            have = tuple(tensor.shape)
            if axes is not None:
                have = tuple(have[a] for a in _inverse(axes))
            if want != have:
                raise TransferError(f"{label}: shape {want} does not fit {tuple(tensor.shape)}")
            plan.append((label, variable, tensor, axes))
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
        for _, variable, tensor, axes in plan:
            array = np.asarray(keras.ops.convert_to_numpy(variable))
            if axes is not None:
                array = array.transpose(axes)
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(array)))


def torch_to_keras(torch_model: Any, keras_model: Any) -> None:
    """Copy every weight of `torch_model` into `keras_model`, in place.

    All layers and shapes are checked first: on `TransferError` nothing was copied.
    """
    for _, variable, tensor, axes in _planned(keras_model, torch_model):
        array = tensor.detach().cpu().numpy()
        if axes is not None:
            array = array.transpose(_inverse(axes))
        variable.assign(array)
