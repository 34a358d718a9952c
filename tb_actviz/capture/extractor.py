"""One forward pass of the probe to many layers, and maps ready to store.

Written with `keras.ops` only, so it runs on any Keras 3 backend;
`capture.backends` compiles `LogPipeline.maps` with the backend's own means.
"""

import dataclasses

import keras
import numpy as np
from keras import ops

from tb_actviz.capture import backends
from tb_actviz.capture import layer_calls
from tb_actviz.capture import layer_selection
from tb_actviz.capture import layer_tree
from tb_actviz.format import geometry as geometry_lib


def _as_nhwc(x, geometry):
    """Reshapes a layer output to (batch, height, width, channels)."""
    kind = geometry.map_kind
    if kind == "units":
        return ops.reshape(x, (-1, 1, geometry.source_width, 1))
    if geometry.channels_first:
        x = ops.moveaxis(x, 1, -1)
    if kind == "sequence":
        return ops.expand_dims(x, 1)
    if kind == "token_grid":  # (batch, tokens, channels): the grid's tokens, row-major
        x = x[:, geometry.leading_tokens:]
        return ops.reshape(x, (-1, geometry.source_height, geometry.source_width, x.shape[-1]))
    if kind == "volume_max_projection":
        return ops.max(x, axis=1)
    return x


def _pixels_per_block(height, width, factor):
    """How many map pixels each block holds: [1, rows, cols, 1] numpy."""
    rows = np.minimum(factor, height - factor * np.arange(-(-height // factor)))
    cols = np.minimum(factor, width - factor * np.arange(-(-width // factor)))
    return np.outer(rows, cols).astype(np.float32)[None, :, :, None]


def stored_maps(x, factor, filters=None):
    """An NHWC layer output -> the maps tb_actviz stores, float32 [N, F, h, w]
    (the first `filters` channels; None: all).

    Each map is area-averaged by `factor` (blocks aligned at the top-left
    pixel; partial blocks at the bottom and right edges average the pixels
    they hold), the only pass over the full-resolution activations. A NaN or
    an infinity makes its whole block non-finite. Where at most half the
    channels are left out, every channel is pooled and the pooled maps
    sliced: slicing the full-resolution maps first copies them (VGG16's
    block1_conv1 on JAX: 3.3x slower).
    """
    channels = x.shape[-1]
    if filters is not None and channels > filters and (factor == 1 or channels > 2 * filters):
        x, filters = x[..., :filters], None
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
    x = ops.transpose(x, (0, 3, 1, 2))
    return x if filters is None else x[:, :filters]


@dataclasses.dataclass(frozen=True)
class LoggedLayer:
    entry: layer_tree.LayerEntry
    geometry: geometry_lib.MapGeometry

    @classmethod
    def of(cls, entry, max_filters, max_map_size, token_grid=None, entries=(), logged=()):
        """`token_grid`: the parsed `token_grid=` (`capture.token_grid`),
        with the model's `entries` and the `logged` ones it is resolved on."""
        from tb_actviz.capture import token_grid as token_grid_lib

        grid = token_grid_lib.layout(
            token_grid, entry, entry.channels_first, entries, logged,
            lambda spec: layer_selection._resolve_one(entries, spec, "token_grid"))
        return cls(entry, geometry_lib.map_geometry(
            entry.layer.name, entry.output_shape, entry.channels_first, max_filters, max_map_size,
            token_grid=grid,
        ))


class LogPipeline(backends.ModelPipeline):
    """Probe batch -> the stored maps of every logged layer, one forward pass.

    The pass is the model's own, `model(probe, training=False)`, with the
    logged layers' first outputs taken as they return
    (`layer_calls.first_outputs`; nothing after the last of them runs).
    Both calls return one float32 [N, F, h, w] tensor per layer (see
    `stored_maps`); `format.map_encoding` turns them into statistics and
    strips. `__call__` reads the model's variables; `stateless` takes their
    values as arguments (for `jax.jit`).
    """

    def __init__(self, model, logged_layers):
        super().__init__(model)
        self.logged_layers = logged_layers
        self._layers = [l.entry.layer for l in logged_layers]

    def __call__(self, probe):
        return self.stored(layer_calls.first_outputs(self.model, probe, self._layers))

    def stateless(self, trainable_values, non_trainable_values, probe):
        with self.with_values(trainable_values, non_trainable_values):
            return self(probe)

    def stored(self, outputs):
        """The stored maps of the logged layers' outputs, in their order."""
        if keras.backend.backend() == "torch":
            # Keras's average_pool on PyTorch makes the channels-last maps
            # contiguous channels-first before pooling (VGG16's block1_conv1:
            # 175 ms, against 13 ms for torch's own pooling of them as they lie).
            from tb_actviz.capture import torch_maps

            return [torch_maps.stored_maps(o, l.geometry) for l, o in zip(self.logged_layers, outputs)]
        return [stored_maps(_as_nhwc(ops.cast(o, "float32"), l.geometry), l.geometry.factor,
                            l.geometry.num_filters)
                for l, o in zip(self.logged_layers, outputs)]
