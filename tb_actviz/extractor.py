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


def _map_stats(flat, finite):
    """[N, C, K] statistics of the finite values of maps flattened to (N, C, P)."""
    size = float(flat.shape[-1])
    count = ops.sum(ops.cast(finite, "float32"), axis=-1)
    values = ops.where(finite, flat, 0.0)
    low_source = ops.where(finite, flat, math.inf)
    high_source = ops.where(finite, flat, -math.inf)
    safe_count = ops.maximum(count, 1.0)
    mean = ops.sum(values, axis=-1) / safe_count
    centred = ops.where(finite, values - mean[..., None], 0.0)
    std = ops.sqrt(ops.sum(centred * centred, axis=-1) / safe_count)
    has_values = count > 0
    low = ops.where(has_values, ops.min(low_source, axis=-1), 0.0)
    high = ops.where(has_values, ops.max(high_source, axis=-1), 0.0)
    positive = ops.sum(ops.cast(values > 0, "float32"), axis=-1) / safe_count
    return ops.stack([low, high, mean, std, positive, size - count], axis=-1)


def _block_sums(x, factor):
    """Sums of `factor x factor` blocks of NHWC `x`, aligned at the top-left
    pixel (the bottom and right edges padded with zeros)."""
    _, h, w, c = x.shape
    pad_h, pad_w = -h % factor, -w % factor
    if pad_h or pad_w:
        x = ops.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]])
    rows, cols = (h + pad_h) // factor, (w + pad_w) // factor
    return ops.sum(ops.reshape(x, (-1, rows, factor, cols, factor, c)), axis=(2, 4))


def _area_average(x, factor):
    """Block means of NHWC `x` (blocks aligned at the top-left pixel; partial
    blocks at the bottom and right edges average the pixels they hold)."""
    if factor == 1:
        return x
    inside = np.ones((1,) + tuple(x.shape[1:3]) + (1,), np.float32)
    return _block_sums(x, factor) / _block_sums(inside, factor)


def _flat_maps(nhwc):
    """NHWC -> (N, C, h * w): each map contiguous for the reductions."""
    _, h, w, c = nhwc.shape
    return ops.reshape(ops.transpose(nhwc, (0, 3, 1, 2)), (-1, c, h * w))


def _strips_of(flat, stats, h):
    """Stored maps (N, C, h * w) quantized with each map's own range, non-finite
    pixels as the minimum: uint8 strips [C, h, N * w]."""
    low, high = stats[..., 0, None], stats[..., 1, None]
    flat = ops.where(ops.isfinite(flat), flat, low)
    span = high - low
    scale = ops.where(span > 0, 255.0 / ops.where(span > 0, span, 1.0), 0.0)
    q = ops.cast(ops.clip(ops.round((flat - low) * scale), 0, 255), "uint8")
    n, c, hw = q.shape
    q = ops.reshape(q, (-1, c, h, hw // h))
    return ops.reshape(ops.transpose(q, (1, 2, 0, 3)), (c, h, -1))


def stats_and_strips(x, factor, ranges=None):
    """An NHWC layer output -> (stats [N, C, K], uint8 strips [C, h, N * w]).

    Each map is area-averaged by `factor` (the only pass over the
    full-resolution activations), then described by statistics over its
    finite pixels (K in `metadata.STAT_NAMES` order) and quantized with its
    own range, or with `ranges` ([N, C, 2+] min and max) when given; image i
    of filter f is in columns [i*w, (i+1)*w) of strip f. A NaN or an infinity
    makes its whole block non-finite: `nonfinite_count` counts those stored
    pixels, which are stored at the map's minimum.
    """
    averaged = _area_average(x, factor)
    flat = _flat_maps(averaged)
    stats = _map_stats(flat, ops.isfinite(flat))
    quantize_with = stats if ranges is None else ranges
    return stats, _strips_of(flat, quantize_with, averaged.shape[1])


def per_map_stats(x, factor=1):
    """Statistics of each (image, filter) stored map of an NHWC tensor: [N, C, K]."""
    return stats_and_strips(x, factor)[0]


def quantized_strips(x, stats, factor):
    """The stored maps of an NHWC tensor quantized with the ranges in `stats`."""
    return stats_and_strips(x, factor, ranges=stats)[1]


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
            stats, strips = stats_and_strips(x, g.factor)
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
