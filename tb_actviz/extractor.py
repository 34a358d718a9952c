"""One forward pass of the probe to many layers, and maps ready to store.

Written with `keras.ops` only, so it runs on any Keras 3 backend; the callback
compiles `LogPipeline.__call__` with the backend's tracer (see `summary_v2`).
"""

import collections
import dataclasses
import math

import keras
import numpy as np
from keras import ops

from tb_actviz import layer_selection
from tb_actviz import metadata


@dataclasses.dataclass(frozen=True)
class MapGeometry:
    """How one layer's output becomes stored maps.

    Attributes:
      map_kind: "maps", "sequence", "units" or "volume_max_projection".
      channels_first: whether the channel axis follows the batch axis.
      source_height, source_width: map size at full resolution.
      num_filters: channels logged (the first ones).
      factor: integer area-averaging factor.
    """

    map_kind: str
    channels_first: bool
    source_height: int
    source_width: int
    num_filters: int
    factor: int

    @property
    def map_height(self):
        return math.ceil(self.source_height / self.factor)

    @property
    def map_width(self):
        return math.ceil(self.source_width / self.factor)


def map_geometry(layer, output_shape, max_filters, max_map_size):
    """Chooses the stored geometry of a layer's output (shape without batch)."""
    channels_first = getattr(layer, "data_format", None) == "channels_first"
    rank = len(output_shape)
    if rank == 1:
        kind, height, width, channels = "units", 1, output_shape[0], 1
    elif rank == 2:
        kind, channels = "sequence", output_shape[0 if channels_first else 1]
        height, width = 1, output_shape[1 if channels_first else 0]
    elif rank == 3:
        kind = "maps"
        spatial = output_shape[1:] if channels_first else output_shape[:2]
        channels = output_shape[0 if channels_first else 2]
        height, width = spatial
    else:
        kind = "volume_max_projection"
        spatial = output_shape[2:] if channels_first else output_shape[1:3]
        channels = output_shape[0 if channels_first else 3]
        height, width = spatial
    if None in (height, width, channels):
        raise ValueError(
            "Layer %r has an output shape with unknown sizes %s; tb_actviz "
            "needs fixed map sizes: give the model a fixed input shape."
            % (layer.name, tuple(output_shape))
        )
    factor = max(1, math.ceil(max(height, width) / max_map_size))
    return MapGeometry(
        map_kind=kind,
        channels_first=channels_first,
        source_height=height,
        source_width=width,
        num_filters=min(channels, max_filters),
        factor=factor,
    )


def _as_nhwc(x, geometry):
    """Reshapes a layer output to (batch, height, width, channels)."""
    kind = geometry.map_kind
    if kind == "units":
        return ops.reshape(x, (-1, 1, geometry.source_width, 1))
    if geometry.channels_first:
        x = ops.moveaxis(x, 1, -1)
    if kind == "sequence":
        return ops.expand_dims(x, 1)
    if kind == "volume_max_projection":
        return ops.max(x, axis=1)
    return x


def _pixels_per_block(height, width, factor):
    """How many map pixels each block holds: [1, rows, cols, 1] numpy."""
    rows = np.minimum(factor, height - factor * np.arange(-(-height // factor)))
    cols = np.minimum(factor, width - factor * np.arange(-(-width // factor)))
    return np.outer(rows, cols).astype(np.float32)[None, :, :, None]


def stored_maps(x, factor):
    """An NHWC layer output -> the maps tb_actviz stores, float32 [N, C, h, w].

    Each map is area-averaged by `factor` (blocks aligned at the top-left
    pixel; partial blocks at the bottom and right edges average the pixels
    they hold), the only pass over the full-resolution activations. A NaN or
    an infinity makes its whole block non-finite.
    """
    if factor > 1:
        _, h, w, _ = x.shape
        pad_h, pad_w = -h % factor, -w % factor
        if pad_h or pad_w:
            x = ops.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]])
        # One pooling op: on TensorFlow's CPU kernels 5x faster than a
        # reshape and a sum over the block axes.
        x = ops.average_pool(x, factor, factor, "valid", data_format="channels_last")
        if pad_h or pad_w:  # partial blocks: their sums over their own pixels
            x = x * (factor * factor / _pixels_per_block(h, w, factor))
    return ops.transpose(x, (0, 3, 1, 2))


@dataclasses.dataclass(frozen=True)
class LoggedLayer:
    entry: layer_selection.LayerEntry
    geometry: MapGeometry

    @property
    def tag(self):
        return metadata.layer_tag(self.entry.path)


class LogPipeline:
    """Probe batch -> the stored maps of every logged layer, one forward pass.

    Calling it returns one float32 [N, F, h, w] tensor per layer (see
    `stored_maps`); `map_encoding` turns them into statistics and strips.
    """

    def __init__(self, model, logged_layers):
        self.logged_layers = logged_layers
        self.extractor = build_extractor(model, [l.entry.path for l in logged_layers])
        self.trace_count = 0

    def __call__(self, probe):
        self.trace_count += 1  # Python side effect: counts traces when compiled
        outputs = self.extractor(probe, training=False)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        results = []
        for logged, output in zip(self.logged_layers, outputs):
            g = logged.geometry
            x = _as_nhwc(ops.cast(output, "float32"), g)
            if x.shape[-1] > g.num_filters:
                x = x[..., : g.num_filters]
            results.append(stored_maps(x, g.factor))
        return results


def _node_in_graph(layer, graph_model):
    """The call of `layer` that belongs to `graph_model`'s graph."""
    graph = getattr(graph_model, "_functional", None) or graph_model
    graph_nodes = {
        id(node)
        for nodes in getattr(graph, "_nodes_by_depth", {}).values()
        for node in nodes
    }
    for node in layer._inbound_nodes:
        if id(node) in graph_nodes:
            return node
    return layer._inbound_nodes[0]


def _symbolic_outputs(model, paths):
    """Symbolic tensors of `paths` in `model`'s graph, nested models grouped
    so that each is run once."""
    groups = collections.OrderedDict()
    for path in paths:
        head, _, rest = path.partition("/")
        groups.setdefault(head, []).append(rest)
    tensors = {}
    for head, rests in groups.items():
        layer = model.get_layer(head)
        node = _node_in_graph(layer, model)
        if "" in rests:
            outs = node.output_tensors
            tensors[head] = outs[0] if len(outs) == 1 else outs
        inner_paths = [r for r in rests if r]
        if inner_paths:
            inner_outputs = _symbolic_outputs(layer, inner_paths)
            inner = keras.Model(layer.inputs, [inner_outputs[p] for p in inner_paths])
            feed = node.input_tensors
            results = inner(feed[0] if len(feed) == 1 else feed)
            if not isinstance(results, (list, tuple)):
                results = [results]
            for rest, tensor in zip(inner_paths, results):
                tensors[head + "/" + rest] = tensor
    return tensors


def build_extractor(model, paths):
    """A Keras model from `model`'s inputs to the outputs of `paths`.

    Nested models are entered through the call that feeds them in the outer
    graph, so the extractor computes every layer in one forward pass.
    """
    if not getattr(model, "inputs", None):
        raise ValueError(
            "Model %r has no symbolic inputs (a subclassed model?): tb_actviz "
            "needs a Functional or Sequential model; wrap the layers you want to "
            "see in a functional model." % model.name
        )
    tensors = _symbolic_outputs(model, paths)
    return keras.Model(model.inputs, [tensors[p] for p in paths], name="tb_actviz_extractor")
