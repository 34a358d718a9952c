"""Stored maps -> per-map statistics and 8-bit strips, on the host with numpy.

The training thread hands over each layer's stored maps (float32
[N, C, h, w], already area-averaged on the device); this runs on the
callback's background thread, so a log costs the training thread only the
forward pass and the copy of those maps.
"""

import numpy as np


def statistics(maps):
    """[N, C, K] float32 statistics of each map of `maps` [N, C, h, w], in
    `metadata.STAT_NAMES` order: min, max, mean, std and positive fraction of
    its finite pixels, then the count of its non-finite pixels. A map with no
    finite pixel has zeros for the first five."""
    flat = maps.reshape(maps.shape[0], maps.shape[1], -1)
    finite = np.isfinite(flat)
    if finite.all():
        count = np.full(flat.shape[:2], flat.shape[-1], np.float64)
        values, low_source, high_source = flat, flat, flat
    else:
        count = finite.sum(axis=-1, dtype=np.float64)
        values = np.where(finite, flat, 0.0)
        low_source = np.where(finite, flat, np.inf)
        high_source = np.where(finite, flat, -np.inf)
    safe_count = np.maximum(count, 1.0)
    mean = values.sum(axis=-1, dtype=np.float64) / safe_count
    centred = values - mean[..., None]
    if values is not flat:
        centred = np.where(finite, centred, 0.0)
    std = np.sqrt(np.einsum("ncp,ncp->nc", centred, centred) / safe_count)
    has_values = count > 0
    low = np.where(has_values, low_source.min(axis=-1, initial=np.inf), 0.0)
    high = np.where(has_values, high_source.max(axis=-1, initial=-np.inf), 0.0)
    positive = np.count_nonzero(values > 0, axis=-1) / safe_count
    nonfinite = flat.shape[-1] - count
    return np.stack([low, high, mean, std, positive, nonfinite], axis=-1).astype(np.float32)


def strips(maps, ranges):
    """`maps` [N, C, h, w] quantized to uint8 with each map's own range (the
    min and max in `ranges` [N, C, 2+]), non-finite pixels stored as the
    minimum, laid out as strips [C, h, N * w]: image i of filter f is in
    columns [i*w, (i+1)*w) of strip f."""
    low = ranges[..., 0, None, None].astype(np.float32)
    high = ranges[..., 1, None, None].astype(np.float32)
    span = high - low
    scale = np.where(span > 0, 255.0 / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)
    with np.errstate(invalid="ignore"):
        scaled = np.subtract(maps, low, dtype=np.float32)
        scaled *= scale
    if not np.isfinite(scaled).all():
        np.nan_to_num(scaled, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    np.rint(scaled, out=scaled)
    np.clip(scaled, 0, 255, out=scaled)
    n, c, h, w = scaled.shape
    return scaled.astype(np.uint8).transpose(1, 2, 0, 3).reshape(c, h, n * w)
