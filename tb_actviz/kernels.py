"""Convolution kernels as small pictures: which layers, and how they are drawn."""

import dataclasses

import numpy as np

from tb_actviz import layer_selection
from tb_actviz import metadata


@dataclasses.dataclass(frozen=True)
class KernelLayer:
    entry: layer_selection.LayerEntry
    num_filters: int

    @property
    def tag(self):
        return metadata.KERNEL_TAG_PREFIX + self.entry.path

    @property
    def kernel(self):
        return self.entry.layer.kernel


def _has_2d_kernel(entry):
    layer = entry.layer
    kernel = getattr(layer, "kernel", None)
    return (
        kernel is not None
        and len(kernel.shape) == 4
        and kernel.shape[-1] == getattr(layer, "filters", None)
        and "Transpose" not in entry.class_name
    )


def select_kernel_layers(model, kernels, max_filters):
    """Resolves `kernels=`: True is the model's first 2-D convolution layer;
    otherwise a `layers=`-style selection of 2-D convolution layers."""
    if not kernels:
        return []
    if kernels is True:
        entries = [e for e in layer_selection.walk_layers(model) if _has_2d_kernel(e)]
        if not entries:
            raise ValueError("kernels=True: the model has no 2-D convolution layer")
        entries = entries[:1]
    else:
        entries = layer_selection.select_layers(model, kernels, argument="kernels")
        wrong = [e.path for e in entries if not _has_2d_kernel(e)]
        if wrong:
            raise ValueError(
                "kernels=: %s has no 2-D convolution kernel (kh, kw, in, filters); "
                "pick Conv2D layers" % ", ".join(wrong)
            )
    return [KernelLayer(e, min(e.layer.filters, max_filters)) for e in entries]


def kernel_strip(weights):
    """Kernels (kh, kw, in, F) -> (uint8 strip (kh, F * kw[, 3]), float32 [F, 2]).

    Three input channels are drawn as RGB, others as the mean over inputs;
    each kernel is scaled to 0-255 with its own range.
    """
    weights = np.asarray(weights, dtype=np.float32)
    if weights.shape[2] != 3:
        weights = weights.mean(axis=2, keepdims=True)
    patches = np.moveaxis(weights, 3, 0)  # (F, kh, kw, C)
    low = patches.min(axis=(1, 2, 3))
    high = patches.max(axis=(1, 2, 3))
    span = np.where(high > low, high - low, 1.0)
    scaled = (patches - low[:, None, None, None]) * (255.0 / span)[:, None, None, None]
    pixels = np.round(scaled).astype(np.uint8)
    count, kh, kw, channels = pixels.shape
    strip = pixels.transpose(1, 0, 2, 3).reshape(kh, count * kw, channels)
    return (strip[..., 0] if channels == 1 else strip), np.stack([low, high], axis=1)


def plugin_data(kernel_layer):
    from tb_actviz import plugin_data_pb2

    entry = kernel_layer.entry
    kh, kw, inputs, _ = kernel_layer.kernel.shape
    return plugin_data_pb2.ActivationsPluginData(
        kind=metadata.Kind.KERNELS,
        layer_path=entry.path,
        layer_index=entry.index,
        layer_class=entry.class_name,
        output_shape=[int(kh), int(kw), int(inputs), int(entry.layer.filters)],
        filter_indices=list(range(kernel_layer.num_filters)),
        map_height=int(kh),
        map_width=int(kw),
        channels=3 if inputs == 3 else 1,
    )
