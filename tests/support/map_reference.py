"""What the tests compare the stored maps with: statistics computed
independently in numpy, and the geometry the callback picks for a Keras layer."""

import numpy as np

from tb_actviz.format import geometry


def map_geometry(layer, shape, max_filters, max_map_size):
    """The geometry the callback picks for `layer` (its data format read as
    `extractor.LoggedLayer.of` reads it)."""
    channels_first = getattr(layer, "data_format", None) == "channels_first"
    return geometry.map_geometry(layer.name, shape, channels_first, max_filters, max_map_size)


def numpy_stats(x):
    """Reference: [N, C, 6] over the finite values of each map."""
    n, _, _, c = x.shape
    out = np.zeros((n, c, 6))
    for i in range(n):
        for f in range(c):
            m = x[i, :, :, f].astype(np.float64)
            finite = m[np.isfinite(m)]
            if finite.size:
                out[i, f] = [finite.min(), finite.max(), finite.mean(), finite.std(),
                             (finite > 0).mean(), m.size - finite.size]
            else:
                out[i, f] = [0, 0, 0, 0, 0, m.size]
    return out
