"""Unit tests of tb_actviz.capture.extractor: the stored maps (area average on
the backend, then statistics, quantization and layout) and the compiled log
pipeline on every map kind. Geometry and statistics alone:
tests/unit/format/test_geometry.py, test_map_encoding.py; the one-pass
capture: tests/unit/capture/test_layer_calls.py; token grids: test_token_grid.py."""

import math

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from keras_helpers import to_numpy
from log_parsing import area_average, dequantize
from map_reference import map_geometry, numpy_stats
from tb_actviz.capture import backends, extractor, layer_selection
from tb_actviz.format import images, map_encoding

L = keras.layers
MIN, MAX, MEAN, STD, POS, NONFINITE = range(6)


def stats_and_strips(x, factor):
    """What a log stores of NHWC `x`: device-side area average, then host-side
    statistics and strips."""
    maps = np.asarray(extractor.stored_maps(x, factor))
    assert maps.dtype == np.float32
    stats = map_encoding.statistics(maps)
    return stats, map_encoding.strips(maps, stats)


def edge_padded_average(x, factor):
    """Like images.area_downsample (the probe images): edge-padded blocks."""
    return np.stack([images.area_downsample(m, factor) for m in x.astype(np.float64)])


def assert_round_trip(x, factor, stats, strips):
    """Dequantized strips equal the area-averaged input within one step.

    Block (r, c) of a stored map averages source rows [r*f, (r+1)*f) and
    columns [c*f, (c+1)*f), as the probe image's blocks do, so that a map pixel
    lies over the image pixels it came from. A partial block at the bottom or
    right edge may average either its pixels inside the map or the edge-padded
    block (the probe images' rule).
    """
    n, h, w, c = x.shape
    oh, ow = math.ceil(h / factor), math.ceil(w / factor)
    assert strips.dtype == np.uint8
    assert strips.shape == (c, oh, n * ow)
    expected = area_average(x, factor)
    expected_edge = edge_padded_average(x, factor)
    for f in range(c):
        for i in range(n):
            low, high = stats[i, f, MIN], stats[i, f, MAX]
            block = strips[f][:, i * ow:(i + 1) * ow]  # image i, filter f
            step = (high - low) / 255.0
            got = dequantize(block, low, high)
            error = np.minimum(np.abs(got - expected[i, :, :, f]),
                               np.abs(got - expected_edge[i, :, :, f]))
            # One quantization step, plus float32 rounding of the averaging.
            tolerance = step * 1.0001 + 1e-5 * max(1.0, abs(low), abs(high))
            bad = np.argwhere(error > tolerance)
            assert not len(bad), (
                "filter %d image %d, factor %d: stored %s, expected %s at blocks %s"
                % (f, i, factor, got[tuple(bad[0])], expected[i][tuple(bad[0])][f],
                   bad[:5].tolist())
            )


# Statistics and strips of the stored maps ------------------------------------------------


def test_nonfinite_values_are_counted_and_excluded():
    x = (np.arange(16, dtype="float32") - 5).reshape(1, 4, 4, 1)
    x[0, 0, 0, 0] = np.nan
    x[0, 3, 3, 0] = np.inf
    x[0, 3, 2, 0] = -np.inf
    stats, strips = stats_and_strips(x, 1)
    assert np.isfinite(stats).all()
    finite = x[np.isfinite(x)]
    assert stats[0, 0, NONFINITE] == 3
    assert stats[0, 0, MIN] == finite.min() and stats[0, 0, MAX] == finite.max()
    np.testing.assert_allclose(stats[0, 0, MEAN], finite.mean(), rtol=1e-6)
    np.testing.assert_allclose(stats[0, 0, STD], finite.std(), rtol=1e-5)
    # Non-finite pixels are stored as 0; the others quantize as usual.
    q = strips[0]
    assert q[0, 0] == 0 and q[3, 3] == 0 and q[3, 2] == 0
    assert q[0, 1] == round(255 * (x[0, 0, 1, 0] - finite.min()) / (finite.max() - finite.min()))
    assert q.max() == 255


def test_all_nonfinite_map_does_not_crash():
    x = np.full((2, 3, 3, 2), np.nan, dtype="float32")
    x[1, :, :, 1] = np.inf
    x[0, :, :, 1] = 2.0
    stats, strips = stats_and_strips(x, 2)  # 3x3 maps stored at 2x2
    assert np.isfinite(stats).all()
    assert stats[0, 0, NONFINITE] == 4 and stats[1, 1, NONFINITE] == 4
    assert stats[0, 1, NONFINITE] == 0 and stats[0, 1, MIN] == 2.0
    assert (strips == 0).all()


@pytest.mark.parametrize("value", [0.0, 3.5, -7.0])
def test_constant_maps_are_zeros_without_nan(value):
    x = np.full((2, 6, 4, 3), value, dtype="float32")
    stats, strips = stats_and_strips(x, 2)
    assert np.isfinite(stats).all()
    assert (stats[..., MIN] == value).all() and (stats[..., MAX] == value).all()
    assert (stats[..., STD] == 0).all()
    assert strips.shape == (3, 3, 2 * 2)
    assert (strips == 0).all()


# Quantization and layout round trip ------------------------------------------------


@pytest.mark.parametrize("factor, shape", [(1, (3, 7, 5, 4)), (2, (2, 8, 8, 3)),
                                           (3, (4, 7, 10, 2)), (4, (1, 9, 9, 1))])
def test_round_trip_within_one_quantization_step(factor, shape):
    rng = np.random.default_rng(factor)
    x = (rng.normal(size=shape) * rng.uniform(0.1, 10, size=shape[-1])).astype("float32")
    stats, strips = stats_and_strips(x, factor)
    assert_round_trip(x, factor, stats, strips)


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    x=hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=4, max_dims=4, min_side=1, max_side=7),
        elements=st.floats(-50, 50, width=32, allow_subnormal=False),
    ),
    factor=st.integers(1, 3),
)
def test_round_trip_property(x, factor):
    stats, strips = stats_and_strips(x, factor)
    assert_round_trip(x, factor, stats, strips)


def test_strip_layout_filter_rows_image_columns():
    # Map (image i, filter f) holds a ramp whose top-left pixel is i and
    # bottom-right 100 + 10 * f, so every map's range differs and each block is
    # identifiable from its dequantized corners.
    n, h, w, c = 3, 4, 5, 2
    x = np.zeros((n, h, w, c), dtype="float32")
    ramp = np.linspace(0.0, 1.0, h * w).reshape(h, w)
    for i in range(n):
        for f in range(c):
            low, high = float(i), 100.0 + 10 * f
            x[i, :, :, f] = low + ramp * (high - low)
    stats, strips = stats_and_strips(x, 1)
    assert strips.shape == (c, h, n * w)
    for f in range(c):
        for i in range(n):
            block = strips[f][:, i * w:(i + 1) * w]
            assert block[0, 0] == 0 and block[-1, -1] == 255
            assert stats[i, f, MIN] == i and stats[i, f, MAX] == 100 + 10 * f
    np.testing.assert_array_equal(strips[0][:, :w], strips[1][:, w:2 * w])  # same ramp shape


# The pipeline and the extractor -----------------------------------------------------------


def reference_nhwc(output, kind):
    if kind == "units":
        return output[:, None, :, None]
    if kind == "sequence":
        return output[:, None, :, :]
    if kind == "volume_max_projection":
        return output.max(axis=1)
    return output


def mixed_model():
    inp = keras.Input((8, 8, 2), name="image")
    maps = L.Conv2D(3, 3, padding="same", name="maps")(inp)
    seq = L.Conv1D(4, 3, padding="same", name="seq")(L.Reshape((64, 2))(inp))
    units = L.Dense(5, name="units")(L.Flatten()(inp))
    vol = L.Conv3D(3, 1, name="vol")(L.Reshape((8, 8, 2, 1))(inp))
    out = L.Concatenate()([
        L.Flatten()(maps), L.Flatten()(seq), units, L.Flatten()(vol)
    ])
    return keras.Model(inp, out)


def test_log_pipeline_all_map_kinds_match_reference():
    model = mixed_model()
    x = np.random.default_rng(0).normal(size=(3, 8, 8, 2)).astype("float32")
    entries = layer_selection.select_layers(model, ["maps", "seq", "units", "vol"])
    logged = [
        extractor.LoggedLayer(e, map_geometry(e.layer, e.output_shape, 64, 4)) for e in entries
    ]
    assert [l.geometry.map_kind for l in logged] == ["maps", "sequence", "units",
                                                      "volume_max_projection"]
    compiled = backends.compile_pipeline(extractor.LogPipeline(model, logged))
    layer_maps = compiled(keras.ops.convert_to_tensor(x))
    for _ in range(2):
        compiled(keras.ops.convert_to_tensor(x))
    assert compiled.compile_count == (0 if keras.backend.backend() == "torch" else 1)
    for l, maps in zip(logged, layer_maps):
        g = l.geometry
        assert maps.shape == (3, g.num_filters, g.map_height, g.map_width)
        stats = map_encoding.statistics(maps).transpose(1, 0, 2)
        strips = map_encoding.strips(maps, stats.transpose(1, 0, 2))
        direct = to_numpy(keras.Model(model.inputs, l.entry.layer.output)(x))
        ref = reference_nhwc(direct, g.map_kind)[..., : g.num_filters]
        assert stats.shape == (g.num_filters, 3, 6) and stats.dtype == np.float32
        assert strips.shape == (g.num_filters, g.map_height, 3 * g.map_width)
        # min, max, mean, std, positive fraction describe the stored (area
        # averaged) maps; the non-finite count, the full-resolution ones.
        stored = area_average(ref, g.factor).astype(np.float32)
        expected = numpy_stats(stored)
        expected[..., NONFINITE] = numpy_stats(ref)[..., NONFINITE]
        np.testing.assert_allclose(stats, expected.transpose(1, 0, 2), rtol=1e-4, atol=1e-4)
        assert_round_trip(ref, g.factor, stats.transpose(1, 0, 2), strips)


# Token outputs as patch grids (issue [13], point 5) -------------------------------------
