"""Which convolution kernels are logged (`kernels=`)."""

import dataclasses

from tb_actviz.capture import layer_selection
from tb_actviz.capture import layer_tree


@dataclasses.dataclass(frozen=True)
class KernelLayer:
    entry: layer_tree.LayerEntry
    num_filters: int

    @property
    def kernel(self):
        return self.entry.layer.kernel

    @property
    def kernel_shape(self):
        """(kh, kw, in, out): Keras's kernel layout."""
        return tuple(self.kernel.shape[:3]) + (self.entry.layer.filters,)


def _has_2d_kernel(entry):
    layer = entry.layer
    kernel = getattr(layer, "kernel", None)
    return (
        kernel is not None
        and len(kernel.shape) == 4
        and kernel.shape[-1] == getattr(layer, "filters", None)
        and "Transpose" not in entry.class_name
    )


def select_kernel_layers(model, kernels, max_filters, entries=None):
    """Resolves `kernels=`: True is the model's first 2-D convolution layer
    (in call order); otherwise a `layers=`-style selection of 2-D
    convolution layers. `entries`: the model's `walk_layers` listing, if
    already taken."""
    if not kernels:
        return []
    if entries is None:
        entries = layer_tree.walk_layers(model)
    if kernels is True:
        entries = [e for e in layer_selection.conv_layers(entries) if _has_2d_kernel(e)]
        if not entries:
            raise ValueError("kernels=True: the model has no 2-D convolution layer")
        entries = entries[:1]
    else:
        entries = layer_selection.select_layers(model, kernels, argument="kernels", entries=entries)
        wrong = [e.path for e in entries if not _has_2d_kernel(e)]
        if wrong:
            raise ValueError(
                "kernels=: %s has no 2-D convolution kernel (kh, kw, in, filters); "
                "pick Conv2D layers" % ", ".join(wrong)
            )
    return [KernelLayer(e, min(e.layer.filters, max_filters)) for e in entries]
