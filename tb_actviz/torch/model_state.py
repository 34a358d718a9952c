"""Running the probe through a PyTorch model and leaving it as it was.

A log must not change what training sees: every module's own `.training`
flag (a frozen BatchNorm stays in eval), parameters, buffers (BatchNorm's
running statistics), every `.grad`, and the random number generators'
states. `untouched` puts the model in eval mode for the probe's pass and
restores each flag and the RNG states after it, even when the pass raises.
"""

import contextlib

import numpy as np
import torch


@contextlib.contextmanager
def untouched(model):
    """Eval mode and forked RNG states for the block; each module's own
    `.training` flag restored after it."""
    flags = [(module, module.training) for module in model.modules()]
    devices = sorted({
        t.device.index or 0 for t in _tensors(model) if t.device.type == "cuda"})
    try:
        model.eval()
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        for module, flag in flags:
            module.training = flag


def _tensors(model):
    yield from model.parameters()
    yield from model.buffers()


def placement(model):
    """(device, floating dtype) of the model's first parameter (or buffer):
    where and as what the probe's floating inputs go."""
    for tensor in _tensors(model):
        dtype = tensor.dtype if tensor.is_floating_point() else None
        if dtype is not None:
            return tensor.device, dtype
    return torch.device("cpu"), torch.get_default_dtype()


def to_model(inputs, device, dtype):
    """The probe's numpy inputs (an array, list or dict) as tensors on
    `device`; floating ones as `dtype` (a bfloat16 model takes bfloat16)."""
    if isinstance(inputs, dict):
        return {k: to_model(v, device, dtype) for k, v in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return [to_model(v, device, dtype) for v in inputs]
    tensor = torch.from_numpy(np.ascontiguousarray(inputs))
    if tensor.is_floating_point():
        tensor = tensor.to(dtype)
    return tensor.to(device)


def run(model, inputs):
    """`model(inputs)`: a dict as keyword arguments, a list as positional
    ones (a model with several inputs)."""
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, (list, tuple)):
        return model(*inputs)
    return model(inputs)


def first_sample(inputs):
    if isinstance(inputs, dict):
        return {k: v[:1] for k, v in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return [v[:1] for v in inputs]
    return inputs[:1]


def shapes(inputs):
    if isinstance(inputs, dict):
        return {k: tuple(v.shape) for k, v in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return [tuple(v.shape) for v in inputs]
    return tuple(inputs.shape)
