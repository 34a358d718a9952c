"""One forward pass of the probe to many layers, and maps ready to store.

Written with `keras.ops` only, so it runs on any Keras 3 backend; the callback
compiles `LogPipeline.__call__` with the backend's tracer (see `summary_v2`).
"""

import collections
import dataclasses
import math

import keras
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


def per_map_stats(x):
    """Statistics of each (image, filter) map of an NHWC tensor over its finite
    values: [N, C, K], K in `metadata.STAT_NAMES` order."""
    finite = ops.isfinite(x)
    count = ops.sum(ops.cast(finite, "float32"), axis=(1, 2))
    safe_count = ops.maximum(count, 1.0)
    zeroed = ops.where(finite, x, 0.0)
    mean = ops.sum(zeroed, axis=(1, 2)) / safe_count
    centred = ops.where(finite, x - mean[:, None, None, :], 0.0)
    std = ops.sqrt(ops.sum(centred * centred, axis=(1, 2)) / safe_count)
    has_values = count > 0
    low = ops.where(has_values, ops.min(ops.where(finite, x, math.inf), axis=(1, 2)), 0.0)
    high = ops.where(has_values, ops.max(ops.where(finite, x, -math.inf), axis=(1, 2)), 0.0)
    positive = ops.sum(ops.cast(finite & (x > 0), "float32"), axis=(1, 2)) / safe_count
    nonfinite = float(x.shape[1] * x.shape[2]) - count
    return ops.stack([low, high, mean, std, positive, nonfinite], axis=-1)


def area_average(x, factor):
    """Means of `factor x factor` blocks of an NHWC tensor, blocks aligned at
    the top-left pixel; partial blocks at the bottom and right edges average
    only the pixels they hold."""
    if factor == 1:
        return x
    h, w = x.shape[1], x.shape[2]
    pad_h, pad_w = -h % factor, -w % factor
    if not (pad_h or pad_w):
        return ops.average_pool(x, factor, strides=factor, padding="valid")
    padding = [[0, 0], [0, pad_h], [0, pad_w], [0, 0]]
    sums = ops.average_pool(ops.pad(x, padding), factor, strides=factor, padding="valid")
    inside = ops.pad(ops.ones((1, h, w, 1), dtype=x.dtype), padding)
    share = ops.average_pool(inside, factor, strides=factor, padding="valid")
    return sums / share


def quantized_strips(x, stats, factor):
    """Per-map 8-bit maps, one strip per filter: uint8 [C, h, N * w]."""
    low = stats[:, None, None, :, 0]
    high = stats[:, None, None, :, 1]
    finite = ops.isfinite(x)
    x = area_average(ops.where(finite, x, ops.broadcast_to(low, ops.shape(x))), factor)
    span = high - low
    scale = ops.where(span > 0, 255.0 / ops.where(span > 0, span, 1.0), 0.0)
    q = ops.clip(ops.round((x - low) * scale), 0, 255)
    q = ops.cast(q, "uint8")
    n, h, w, c = ops.shape(q)
    return ops.reshape(ops.transpose(q, (3, 1, 0, 2)), (c, h, n * w))


@dataclasses.dataclass(frozen=True)
class LoggedLayer:
    entry: layer_selection.LayerEntry
    geometry: MapGeometry

    @property
    def tag(self):
        return metadata.layer_tag(self.entry.path)


class LogPipeline:
    """Probe batch -> (strips, stats) for every logged layer, one forward pass.

    Calling it returns a list with one `(strips, stats)` pair per layer:
    `strips` uint8 [F, h, N * w], `stats` float32 [F, N, K].
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
            x = _as_nhwc(ops.cast(output, "float32"), g)[..., : g.num_filters]
            stats = per_map_stats(x)
            strips = quantized_strips(x, stats, g.factor)
            results.append((strips, ops.transpose(stats, (1, 0, 2))))
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
