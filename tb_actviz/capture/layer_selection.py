"""Finding layers in a Keras model: listing, selecting and validating.

The model's layer tree is walked the same way whatever the model's kind:
a Functional or Sequential model's `layers`, a subclassed model's or a custom
layer's own sublayers (the layers it holds in attributes), recursively. A
layer is named by its *path*: the names of the models and layers that hold
it, joined with "/" (`"vgg16/block1_conv1"`, `"blk/ca"` for a Conv2D `ca`
inside a custom block `blk`). Keras forbids "/" in layer names, so a path is
unambiguous. `"conv:k"` is the k-th convolution layer of the whole model in
the order the forward pass calls them (`"conv:0"` the first, `"conv:-1"` the
last).

Output shapes, dtypes and call counts come from one traced forward pass of a
probe (`layer_calls.trace`), so they are known for every model kind and for
`None` input sizes (the probe's). A layer the pass never calls cannot be
logged; a layer called more than once (a shared layer, a block applied
twice) is logged at its first call, with a warning.
"""

import dataclasses
import functools
import importlib

import keras
import numpy as np

from tb_actviz.capture import layer_calls
from tb_actviz.capture import selection
from tb_actviz.capture.selection import (  # noqa: F401 - this module's API too
    DEFAULT_MAX_LAYERS, NOT_CALLED, NOT_FLOAT, LayerTable, conv_layers, default_selection,
    format_layer_table)


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


def list_layers(model, probe=None, print_fn=print):
    """Prints and returns the layers of a model, nested models and the layers
    inside custom layers expanded.

    The seed recipe's `for i, layer in enumerate(model.layers)` loop, better:
    each row says what to pass in `ActivationLogger(layers=...)` to pick the
    layer (its index in `model.layers`, or `"nested/k"`; for convolution layers
    also `"conv:k"`, counted over the whole model in the order the forward
    pass calls them), its path, class, output shape, whether it can be
    logged, and `*` where `layers=None` takes it.

    Output shapes and call order come from one forward pass of the probe's
    first sample (`probe=`, as `ActivationLogger` takes it), or, without a
    probe, of zeros shaped like the model's input where that shape is fully
    known. A subclassed model or one with `None` input sizes has no shapes
    to show without a probe: pass `probe=` (the one you log) to see them.

    Args:
      model: a built Keras model of any kind (Functional, Sequential,
        subclassed).
      probe: optional probe batch (an array, an `(x, y)` tuple, a dict of
        inputs); its first sample is run through the model.
      print_fn: called with the table; pass `None` to print nothing.

    Returns:
      A `LayerTable`: a list of `LayerEntry` whose `str()` is the table.

    Example:

    ```python
    list_layers(model)
    # layers=    or        path                class       output shape    loggable               default
    # 0                    input_layer         InputLayer  (224, 224, 3)   no (the input)
    # 1                    vgg16               Functional  ?               no (a nested model...)
    # "vgg16/1"  "conv:0"  vgg16/block1_conv1  Conv2D      (224, 224, 64)  yes                    *
    ```
    """
    check_keras_3_model(model)
    inputs = None
    if probe is not None:
        from tb_actviz.capture import probe as probe_lib

        inputs = probe_lib.model_inputs(probe_lib.for_model(probe_lib.make_probe(probe, 1), model))
    entries = LayerTable(walk_layers(model, inputs))
    if print_fn is not None:
        text = format_layer_table(entries)
        if entries and all(e.calls is None for e in entries) and not getattr(model, "inputs", None):
            text += ("\nOutput shapes are unknown without a forward pass: "
                     "list_layers(model, probe=x[:8]) shows them.")
        print_fn(text)
    return entries


def _by_index(entries, selector_prefix, index):
    siblings = [
        e
        for e in entries
        if e.selector.startswith(selector_prefix)
        and e.selector[len(selector_prefix):].isdigit()
    ]
    if not -len(siblings) <= index < len(siblings):
        return None
    return siblings[index]


def _by_layer(entries, layer, argument):
    """The entry of a Layer object (its first place in the listing: a layer
    shared by two models of the tree is listed where it is met first)."""
    for entry in entries:
        if entry.layer is layer:
            return entry
    raise selection.selection_error(
        argument, entries, layer.name,
        "layer %r (%s) is not a layer of this model (nested models included): pass "
        "a layer of the model being trained, or its name or path"
        % (layer.name, type(layer).__name__),
    )


def _resolve_one(entries, spec, argument="layers", model_name=None):
    """Returns the entries that one `layers=` item selects."""
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        entry = _by_index(entries, "", int(spec))
        if entry is None:
            raise selection.selection_error(
                argument,
                entries,
                str(spec),
                "index %d is out of range for model.layers" % spec,
            )
        return [entry]
    if isinstance(spec, keras.layers.Layer):
        return [_by_layer(entries, spec, argument)]
    if not isinstance(spec, str):
        raise TypeError(
            "%s= items must be names, paths, glob patterns, integer indices or "
            "layers of the model; got %r of type %s" % (argument, spec, type(spec).__name__)
        )
    prefix = (model_name or "") + "/"
    if model_name and spec.startswith(prefix) and not any(
            e.path.startswith(prefix) for e in entries):
        spec = spec[len(prefix):]  # the path with the model's name in front
    head, _, last = spec.rpartition("/")
    if last.lstrip("-").isdigit():
        entry = _by_index(entries, head + "/" if head else "", int(last))
        if entry is None:
            raise selection.selection_error(
                argument,
                entries, spec, "index %s is out of range in %r" % (last, head or "model.layers")
            )
        return [entry]

    def keras_path(spec):  # Keras's own `layer.path`, where it names one layer
        if "/" not in spec:
            return []
        matched = [e for e in entries if getattr(e.layer, "path", None) == spec]
        return matched if len(matched) == 1 else []

    return selection.resolve_name(entries, spec, argument, "/", aliases=keras_path)


def select_layers(model, layers=None, max_layers=DEFAULT_MAX_LAYERS, argument="layers",
                  entries=None):
    """Resolves a `layers=` argument to loggable `LayerEntry`s, in order.

    Args:
      model: a built Keras model.
      layers: None (the convolution layers, at most `max_layers` spread from
        first to last), or a name, path (`"blk/ca"`; with the model's name
        in front, or Keras's `layer.path`, too), glob pattern, integer index
        into `model.layers` (negative allowed), `"nested/k"`, `"conv:k"` (the
        k-th convolution layer in the forward pass's call order, nested
        layers included; `"conv:-1"` the last), a layer of the model (a
        `keras.layers.Layer`, nested ones too), or a list of those.
      max_layers: the cap for the default selection.
      argument: the argument's name, for error messages.
      entries: the model's `walk_layers` listing, if already taken.

    Raises:
      ValueError: an item selects nothing, is ambiguous, is a layer not in
        the model, or selects a layer that cannot be logged (one the
        forward pass never calls among them); the message lists the model's
        layers.
      TypeError: an item of another kind.
    """
    check_keras_3_model(model)
    if entries is None:
        entries = walk_layers(model)
    return selection.select(
        entries, layers, lambda spec: _resolve_one(entries, spec, argument, model.name),
        max_layers, argument)
