"""A Keras model's layer tree, walked the same way whatever the model's kind:
a Functional or Sequential model's `layers`, a subclassed model's or a custom
layer's own sublayers (the layers it holds in attributes), recursively, with
each layer's output shape, dtype and call count from one traced forward pass
of a probe (`layer_calls.trace`), so that they are known for every model kind
and for `None` input sizes. `layer_selection` picks layers from this listing.
"""

import dataclasses
import functools
import importlib

import keras
import numpy as np

from tb_actviz.capture import layer_calls
from tb_actviz.capture import selection
from tb_actviz.capture.selection import NOT_CALLED, NOT_FLOAT


@dataclasses.dataclass(frozen=True)
class LayerEntry:
    """One layer of a model, nested models expanded.

    Attributes:
      index: position in the flattened listing (nested layers included).
      selector: what to pass in `layers=` to pick this layer: its index in
        `model.layers` for a top-level layer, `"inner/k"` inside a nested model.
      path: names from the outer model down to the layer, joined with "/".
      layer: the Keras layer.
      output_shape: output shape without the batch axis (None where unknown),
        from the traced pass where there was one.
      loggable: whether its output can be shown as feature maps.
      reason: why not, when `loggable` is False.
      calls: how many times the traced forward pass called it (None: no
        pass was traced).
      call_order: when its first call returned in that pass (None: not
        called, or no pass).
      dtype: its output's dtype name ("" where unknown).
    """

    index: int
    selector: str
    path: str
    layer: object
    output_shape: tuple
    loggable: bool
    reason: str
    calls: object = None
    call_order: object = None
    dtype: str = ""

    @property
    def class_name(self):
        return type(self.layer).__name__

    @property
    def selector_text(self):
        """The `layers=` value as it is typed: 1, or "vgg16/1"."""
        return self.selector if self.selector.isdigit() else '"%s"' % self.selector

    @property
    def is_model(self):
        return isinstance(self.layer, keras.Model)

    @property
    def has_non_float_output(self):
        return self.reason.startswith(NOT_FLOAT)

    @property
    def is_conv(self):
        """A Keras convolution layer (ConvLSTM included), or a layer of one's
        own named so that holds no layers (a custom block named `ConvBlock`
        holds its convolutions and is not one)."""
        if self.is_model:
            return False
        if isinstance(self.layer, _keras_conv_classes()):
            return True
        return "Conv" in self.class_name and not self.layer._layers

    @property
    def patch_grid(self):
        """The (height, width) output grid of a patch-embedding convolution
        (a Conv2D with kernel size == strides > 1, "valid" padding, no
        dilation), or None for any other layer (`capture.token_grid`)."""
        layer, shape = self.layer, self.output_shape
        if not isinstance(layer, keras.layers.Conv2D) or shape is None or len(shape) != 3:
            return None
        kernel, strides = tuple(layer.kernel_size), tuple(layer.strides)
        if (kernel != strides or max(kernel) < 2 or layer.padding != "valid"
                or tuple(layer.dilation_rate) != (1, 1)):
            return None
        grid = shape[1:] if layer.data_format == "channels_first" else shape[:2]
        if None in grid:
            return None
        return int(grid[0]), int(grid[1])

    @property
    def channels_first(self):
        """Whether the output's channel axis follows the batch axis: the
        layer's own `data_format`; for a layer without one (a custom block)
        with 2-D maps, Keras's image data format."""
        data_format = getattr(self.layer, "data_format", None)
        if data_format is None and self.output_shape is not None and len(self.output_shape) >= 3:
            data_format = keras.config.image_data_format()
        return data_format == "channels_first"


@functools.lru_cache(maxsize=None)
def _keras_conv_classes():
    classes = []
    for module, name in (
        ("keras.src.layers.convolutional.base_conv", "BaseConv"),
        ("keras.src.layers.convolutional.base_depthwise_conv", "BaseDepthwiseConv"),
        ("keras.src.layers.convolutional.base_separable_conv", "BaseSeparableConv"),
        ("keras.src.layers.convolutional.base_conv_transpose", "BaseConvTranspose"),
        ("keras.src.layers.rnn.conv_lstm", "ConvLSTM"),
    ):
        try:
            classes.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):  # another Keras 3 layout: the name rule only
            pass
    return tuple(classes)


def check_keras_3_model(model):
    """Raises a TypeError naming the fix when `model` is not a Keras 3 model
    (a tf_keras, i.e. Keras 2, model fails deep inside Keras otherwise)."""
    if isinstance(model, keras.Model):
        return
    module = type(model).__module__
    hint = ""
    if module.startswith(("tf_keras", "keras.src.engine", "tensorflow")):
        hint = (
            " It is a tf_keras (Keras 2) model, as tf.keras gives with "
            "TF_USE_LEGACY_KERAS=1: tb_actviz needs Keras 3. Build the model "
            "with `import keras` (keras>=3) and unset TF_USE_LEGACY_KERAS."
        )
    raise TypeError(
        "tb_actviz needs a Keras 3 keras.Model; got %s.%s.%s"
        % (module, type(model).__name__, hint)
    )


def first_output(layer):
    """The symbolic output of a layer's first call (shared layers: first use)."""
    nodes = getattr(layer, "_inbound_nodes", None)
    if not nodes:
        raise ValueError(
            "Layer %r has not been called on an input yet, so its output is "
            "unknown; build the model first (model.build or call it once)."
            % layer.name
        )
    outputs = nodes[0].output_tensors
    return outputs[0] if len(outputs) == 1 else outputs


def _output_shape_and_reason(layer):
    """(shape, reason, dtype) from the layer's symbolic output, where it has one."""
    if isinstance(layer, keras.Model):
        return None, "a nested model: pick a layer inside it", ""
    if type(layer).__name__ == "InputLayer":
        shape = getattr(layer, "batch_shape", None)
        return (tuple(shape[1:]) if shape else None), "the input", ""
    try:
        output = first_output(layer)
    except ValueError as e:
        return None, str(e), ""
    if isinstance(output, (list, tuple)):
        return None, "has several outputs", ""
    return selection.checked_output(tuple(output.shape[1:]), str(output.dtype))


def _traced_shape_and_reason(layer, calls):
    """(shape, reason, dtype) from a traced pass's record of the layer."""
    if isinstance(layer, keras.Model) or type(layer).__name__ == "InputLayer":
        return _output_shape_and_reason(layer)
    if calls is None:
        return None, NOT_CALLED, ""
    if calls.outputs != 1 or calls.output_shape is None:
        return None, "has several outputs", ""
    return selection.checked_output(calls.output_shape, calls.dtype)


def sublayers(layer):
    """The layers `layer` holds, in order: a model's `layers`; a custom
    layer's own sublayers (those it keeps in attributes)."""
    if isinstance(layer, keras.Model):
        return list(layer.layers)
    return list(layer._flatten_layers(include_self=False, recursive=False))


def all_layers(model):
    """Every layer in `model`'s tree, each once."""
    seen = {}
    stack = sublayers(model)
    while stack:
        layer = stack.pop()
        if id(layer) not in seen:
            seen[id(layer)] = layer
            stack.extend(sublayers(layer))
    return list(seen.values())


def _sample(inputs):
    """The first image of a batch of inputs (any structure)."""
    return keras.tree.map_structure(lambda a: a[:1], inputs)


def trace_model(model, inputs):
    """Traces `model(inputs[:1], training=False)` (`layer_calls.trace`).

    Raises:
      ValueError: the model cannot run on `inputs`; names the error and
        what would work.
    """
    from tb_actviz.capture import backends

    try:
        with backends.no_gradients():
            return layer_calls.trace(model, _sample(inputs), all_layers(model))
    except Exception as e:  # noqa: BLE001 - the model's own error, named
        shapes = keras.tree.map_structure(lambda a: tuple(a.shape), inputs)
        raise ValueError(
            "the probe could not be run through the model: model(probe, training=False) "
            "on inputs of shape %s raised %s: %s. Pass a probe batch the model takes, "
            "as model.fit takes x" % (shapes, type(e).__name__, e)
        ) from e


def sample_inputs(model):
    """A one-sample input of zeros where the model's input shapes are all
    known (its symbolic inputs, or the shape it was built with), else None."""
    inputs = getattr(model, "inputs", None)
    if inputs:
        shapes = [tuple(t.shape[1:]) for t in inputs]
        dtypes = [t.dtype for t in inputs]
    else:
        built = getattr(model, "_build_shapes_dict", None) or {}
        if len(built) != 1:
            return None
        shape = next(iter(built.values()))
        if not isinstance(shape, (list, tuple)) or not shape or isinstance(shape[0], (list, tuple)):
            return None
        shapes, dtypes = [tuple(shape[1:])], [keras.config.floatx()]
    if any(d is None for s in shapes for d in s):
        return None
    arrays = [np.zeros((1,) + s, dtype=keras.backend.standardize_dtype(d)) for s, d in zip(shapes, dtypes)]
    return arrays[0] if len(arrays) == 1 else arrays


def walk_layers(model, inputs=None, trace=None):
    """Lists every layer of `model`, nested models and custom layers
    expanded, in order (a layer held in two places is listed at the first).

    Args:
      model: a Keras model of any kind.
      inputs: a probe batch: shapes and call order are taken from one pass
        of its first sample. Default: zeros of the model's input shape,
        where it is fully known; else no pass (shapes from the symbolic
        graph where there is one).
      trace: a `layer_calls.Trace` already taken (instead of `inputs`).
    """
    if trace is None:
        if inputs is None:
            inputs = sample_inputs(model)
        if inputs is not None:
            trace = trace_model(model, inputs)
    entries = []
    seen = set()

    def visit(container, prefix, selector_prefix):
        for position, layer in enumerate(sublayers(container)):
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            calls = trace.of(layer) if trace is not None else None
            if trace is not None:
                shape, reason, dtype = _traced_shape_and_reason(layer, calls)
            else:
                shape, reason, dtype = _output_shape_and_reason(layer)
            entries.append(
                LayerEntry(
                    index=len(entries),
                    selector=selector_prefix + str(position),
                    path=prefix + layer.name,
                    layer=layer,
                    output_shape=shape,
                    loggable=not reason,
                    reason=reason,
                    calls=None if trace is None else (calls.count if calls else 0),
                    call_order=calls.order if calls else None,
                    dtype=dtype,
                )
            )
            visit(layer, prefix + layer.name + "/", prefix + layer.name + "/")

    visit(model, "", "")
    return entries
