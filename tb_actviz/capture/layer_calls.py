"""Layer outputs taken from the model's own forward pass.

Keras 3 has no forward hooks, but every layer call goes through
`Layer.__call__`, which calls the instance's `call`. For the length of one
pass, the chosen layers get an instance attribute `call` that runs their own
`call` and hands its output to a recorder (and may change it: Grad-CAM adds a
zero tensor); the pass is `model(inputs, training=False)`, so any Keras
model works alike: Functional, Sequential, subclassed, and any mix, with
layers inside custom layers. The attribute is removed when the pass ends,
also when it raises, so nothing stays on the model between logs.

`trace(model, inputs)` records every layer's calls once (at train begin, and
for `list_layers`): call order, how often each is called, output shapes and
dtypes, and which layers produce the model's output. `first_outputs` is the
compiled per-log pass: the first call's output of each chosen layer, the
forward pass stopped once the last of them has returned.
"""

import contextlib
import dataclasses

import keras


class _AllCaptured(BaseException):
    """Stops a capture pass once every chosen layer has returned. A
    BaseException, so that Keras's error handlers (which annotate every
    `Exception` on its way out of a layer) and a model's own `except
    Exception` let it through; `finally` blocks still run."""


@dataclasses.dataclass
class LayerCalls:
    """One layer's calls in a traced forward pass.

    Attributes:
      order: when its first call returned (0 first), over all layers.
      count: how many times it was called in the pass.
      output_shape: its first call's output shape without the batch axis, or
        None when the output is not one tensor.
      dtype: that output's dtype name ("" when not one tensor).
      outputs: how many tensors its first call returned.
    """

    order: int
    count: int
    output_shape: tuple
    dtype: str
    outputs: int


@dataclasses.dataclass(frozen=True)
class Trace:
    """What one forward pass called.

    Attributes:
      calls: `id(layer)` -> `LayerCalls` for every layer called.
      output_layers: the layers whose first call returned the model's
        output itself, innermost first (a head `Sequential` and the `Dense`
        inside it that makes the output: `[dense, head]`).
      output_shape: the model output's shape without the batch axis (None
        for several outputs).
      input_shapes: the inputs' shapes without the batch axis, in the
        structure the model was called with.
    """

    calls: dict
    output_layers: tuple
    output_shape: tuple
    input_shapes: object = None

    def of(self, layer):
        return self.calls.get(id(layer))


@contextlib.contextmanager
def intercepted(layers, wrap):
    """Gives each of `layers` an instance `call = wrap(layer, own_call)` for
    the block, then restores what the instance had."""
    saved = []
    try:
        for layer in dict.fromkeys(layers):  # each once, in order
            saved.append((layer, layer.__dict__.get("call", _MISSING)))
            object.__setattr__(layer, "call", wrap(layer, layer.call))
        yield
    finally:
        for layer, had in reversed(saved):
            if had is _MISSING:
                object.__delattr__(layer, "call")
            else:
                object.__setattr__(layer, "call", had)


_MISSING = object()


def _single_tensor(value):
    return value if keras.ops.is_tensor(value) else None


def trace(model, inputs, layers):
    """Runs `model(inputs, training=False)` once, eagerly, recording the calls
    of `layers` (the model's layer tree); a model not built yet is built by
    a first pass, unrecorded.

    Returns:
      A `Trace`.
    """
    calls = {}
    returned = []  # (layer, first output), in return order

    def wrap(layer, own_call):
        def call(*args, **kwargs):
            output = own_call(*args, **kwargs)
            record = calls.get(id(layer))
            if record is not None:
                record.count += 1
                return output
            tensor = _single_tensor(output)
            calls[id(layer)] = LayerCalls(
                order=len(calls),
                count=1,
                output_shape=None if tensor is None else tuple(int(d) for d in tensor.shape[1:]),
                dtype="" if tensor is None else keras.backend.standardize_dtype(tensor.dtype),
                outputs=len(keras.tree.flatten(output)),
            )
            returned.append((layer, output))
            return output

        return call

    if not model.built:
        # Building may run `call` symbolically, and sublayers' builds may
        # call them again: a pass that builds is no count of calls.
        model(inputs, training=False)
    with intercepted([l for l in layers if l is not model], wrap):
        output = model(inputs, training=False)
    output_layers = tuple(layer for layer, value in returned if value is output)
    tensor = _single_tensor(output)
    return Trace(
        calls=calls,
        output_layers=output_layers,
        output_shape=None if tensor is None else tuple(int(d) for d in tensor.shape[1:]),
        input_shapes=keras.tree.map_structure(lambda a: tuple(int(d) for d in a.shape[1:]), inputs),
    )


def first_outputs(model, inputs, layers, stop_early=True):
    """The first call's output of each of `layers` in `model(inputs,
    training=False)`, in the order of `layers`.

    With `stop_early` the pass stops once the last of them has returned
    (nothing after it runs). Runs eagerly or inside a trace (`tf.function`,
    `jax.jit`) alike.

    Raises:
      ValueError: a layer was not called by the pass.
    """
    wanted = {id(layer): position for position, layer in enumerate(layers)}
    outputs = [_MISSING] * len(layers)
    remaining = [len(layers)]

    def wrap(layer, own_call):
        position = wanted[id(layer)]

        def call(*args, **kwargs):
            output = own_call(*args, **kwargs)
            if outputs[position] is _MISSING:
                outputs[position] = output
                remaining[0] -= 1
                if stop_early and remaining[0] == 0:
                    raise _AllCaptured()
            return output

        return call

    try:
        with intercepted(layers, wrap):
            model(inputs, training=False)
    except _AllCaptured:
        pass
    missing = [layer.name for layer, output in zip(layers, outputs) if output is _MISSING]
    if missing:
        raise ValueError(
            "the forward pass did not call layer(s) %s" % ", ".join(missing))
    return outputs
