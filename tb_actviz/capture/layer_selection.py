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

import keras
import numpy as np

from tb_actviz.capture import layer_tree
from tb_actviz.capture import selection
from tb_actviz.capture.selection import (  # noqa: F401 - this module's API too
    DEFAULT_MAX_LAYERS, NOT_CALLED, NOT_FLOAT, LayerTable, conv_layers, default_selection,
    format_layer_table)


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
    layer_tree.check_keras_3_model(model)
    inputs = None
    if probe is not None:
        from tb_actviz.capture import probe as probe_lib

        inputs = probe_lib.model_inputs(probe_lib.for_model(probe_lib.make_probe(probe, 1), model))
    entries = LayerTable(layer_tree.walk_layers(model, inputs))
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
    layer_tree.check_keras_3_model(model)
    if entries is None:
        entries = layer_tree.walk_layers(model)
    return selection.select(
        entries, layers, lambda spec: _resolve_one(entries, spec, argument, model.name),
        max_layers, argument)
