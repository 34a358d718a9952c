"""Unit tests of tb_actviz.extractor: geometry, statistics, quantization and
layout of the stored maps, and the one-pass extractor."""

import math

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conftest import area_average, dequantize, to_numpy
from tb_actviz.capture import backends, extractor, layer_selection, layer_tree
from tb_actviz.format import geometry, images, map_encoding

L = keras.layers
MIN, MAX, MEAN, STD, POS, NONFINITE = range(6)


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


def per_map_stats(x):
    """map_encoding.statistics of NHWC `x` at full resolution."""
    return map_encoding.statistics(np.asarray(x).transpose(0, 3, 1, 2))


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


# map_geometry -------------------------------------------------------------------


def conv2d(data_format="channels_last"):
    return L.Conv2D(1, 1, data_format=data_format)


@pytest.mark.parametrize(
    "shape, max_size, expected",
    [
        # VGG16's first layer: 224 with max 64 -> factor 4, 56x56.
        ((224, 224, 64), 64, ("maps", 224, 224, 64, 4, 56, 56)),
        ((225, 100, 3), 64, ("maps", 225, 100, 3, 4, 57, 25)),
        ((64, 64, 8), 64, ("maps", 64, 64, 8, 1, 64, 64)),
        ((65, 10, 8), 64, ("maps", 65, 10, 8, 2, 33, 5)),
        ((5, 7, 2), 64, ("maps", 5, 7, 2, 1, 5, 7)),
    ],
)
def test_map_geometry_maps(shape, max_size, expected):
    g = map_geometry(conv2d(), shape, max_filters=1000, max_map_size=max_size)
    got = (g.map_kind, g.source_height, g.source_width, g.num_filters, g.factor,
           g.map_height, g.map_width)
    assert got == expected
    assert not g.channels_first


def test_map_geometry_channels_first():
    g = map_geometry(conv2d("channels_first"), (64, 224, 112), max_filters=16, max_map_size=64)
    assert (g.map_kind, g.channels_first) == ("maps", True)
    assert (g.source_height, g.source_width, g.num_filters) == (224, 112, 16)
    assert (g.factor, g.map_height, g.map_width) == (4, 56, 28)


def test_map_geometry_caps_filters():
    g = map_geometry(conv2d(), (8, 8, 100), max_filters=64, max_map_size=64)
    assert g.num_filters == 64


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_map_geometry_sequence(data_format):
    layer = L.Conv1D(1, 1, data_format=data_format)
    shape = (100, 8) if data_format == "channels_last" else (8, 100)
    g = map_geometry(layer, shape, max_filters=64, max_map_size=64)
    assert (g.map_kind, g.source_height, g.source_width, g.num_filters) == ("sequence", 1, 100, 8)
    assert (g.factor, g.map_height, g.map_width) == (2, 1, 50)


def test_map_geometry_units():
    g = map_geometry(L.Dense(10), (10,), max_filters=64, max_map_size=64)
    assert (g.map_kind, g.num_filters, g.source_height, g.source_width) == ("units", 1, 1, 10)
    assert (g.factor, g.map_height, g.map_width) == (1, 1, 10)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_map_geometry_volume(data_format):
    layer = L.Conv3D(1, 1, data_format=data_format)
    shape = (4, 32, 48, 6) if data_format == "channels_last" else (6, 4, 32, 48)
    g = map_geometry(layer, shape, max_filters=64, max_map_size=16)
    assert g.map_kind == "volume_max_projection"
    assert (g.source_height, g.source_width, g.num_filters) == (32, 48, 6)
    assert (g.factor, g.map_height, g.map_width) == (3, 11, 16)


def test_map_geometry_unknown_size_is_an_error():
    with pytest.raises(ValueError, match="fixed input shape"):
        map_geometry(conv2d(), (None, None, 8), max_filters=64, max_map_size=64)


# per_map_stats -----------------------------------------------------------------------


def test_stats_equal_numpy():
    x = np.random.default_rng(0).normal(size=(3, 7, 5, 4)).astype("float32")
    stats = np.asarray(per_map_stats(x))
    assert stats.shape == (3, 4, 6)
    np.testing.assert_allclose(stats, numpy_stats(x), rtol=1e-5, atol=1e-5)


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=4, max_dims=4, min_side=1, max_side=6),
        elements=st.floats(-100, 100, width=32, allow_subnormal=False),
    )
)
def test_stats_property(x):
    stats = np.asarray(per_map_stats(x))
    ref = numpy_stats(x)
    scale = max(1.0, float(np.abs(x).max()))
    np.testing.assert_allclose(stats[..., [MIN, MAX]], ref[..., [MIN, MAX]], rtol=0, atol=0)
    np.testing.assert_allclose(stats[..., MEAN], ref[..., MEAN], rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(stats[..., STD], ref[..., STD], rtol=0, atol=1e-2 * scale)
    np.testing.assert_allclose(stats[..., [POS, NONFINITE]], ref[..., [POS, NONFINITE]], atol=1e-6)


def test_std_is_accurate_when_the_mean_is_large():
    # A map with a large offset and a small spread (e.g. a biased unit): the
    # stored std must still describe the spread. E[x^2] - E[x]^2 in float32
    # loses it entirely.
    rng = np.random.default_rng(0)
    x = (1000.0 + rng.normal(0.0, 0.01, size=(2, 8, 8, 3))).astype("float32")
    stats = np.asarray(per_map_stats(x))
    np.testing.assert_allclose(stats[..., STD], numpy_stats(x)[..., STD], rtol=0.05)


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


def test_positive_fraction_is_over_finite_values():
    # docs/format.md: every statistic is over the finite values of the map.
    x = (np.arange(16, dtype="float32") - 5).reshape(1, 4, 4, 1)
    x[0, 0, 0, 0] = np.nan
    x[0, 3, 3, 0] = np.inf
    x[0, 3, 2, 0] = -np.inf
    stats = np.asarray(per_map_stats(x))
    finite = x[np.isfinite(x)]
    assert stats[0, 0, POS] == pytest.approx((finite > 0).mean())


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


def nested_classifier():
    inp = keras.Input((12, 12, 3), name="vgg16_image")
    x = L.Conv2D(4, 3, padding="same", name="block1_conv1")(inp)
    x = L.MaxPooling2D(name="block1_pool")(x)
    x = L.Conv2D(6, 3, padding="same", name="block2_conv1")(x)
    base = keras.Model(inp, x, name="vgg16")
    i2 = keras.Input((12, 12, 3), name="inner_in")
    inner = keras.Model(i2, L.Conv2D(2, 1, name="deep_conv")(i2), name="inner")
    i3 = keras.Input((12, 12, 3), name="mid_in")
    mid = keras.Model(i3, inner(i3), name="mid")
    outer_in = keras.Input((12, 12, 3), name="input")
    scaled = L.Rescaling(2.0, name="scale")(outer_in)  # nested models are fed from inside the graph
    gap = L.GlobalAveragePooling2D(name="gap")(base(scaled))
    out = L.Concatenate()([gap, L.Flatten()(mid(scaled))])
    return keras.Model(outer_in, out)


def _first_outputs(model, paths, x):
    from tb_actviz.capture import layer_calls

    entries = {e.path: e for e in layer_tree.walk_layers(model)}
    return [to_numpy(o) for o in layer_calls.first_outputs(model, x, [entries[p].layer for p in paths])]


def test_first_outputs_of_nested_paths_in_one_pass():
    model = nested_classifier()
    x = np.random.default_rng(1).normal(size=(2, 12, 12, 3)).astype("float32")
    paths = ["vgg16/block1_conv1", "gap", "vgg16/block2_conv1", "mid/inner/deep_conv"]
    outputs = _first_outputs(model, paths, x)
    base = model.get_layer("vgg16")
    scaled = 2.0 * x
    expected = [
        keras.Model(base.inputs, base.get_layer("block1_conv1").output)(scaled),
        keras.Model(model.inputs, model.get_layer("gap").output)(x),
        base(scaled),
        model.get_layer("mid").get_layer("inner")(scaled),
    ]
    for path, got, want in zip(paths, outputs, expected):
        np.testing.assert_allclose(got, to_numpy(want), rtol=1e-5, atol=1e-5, err_msg=path)


class _Block(L.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.ca = L.Conv2D(3, 3, padding="same", name="ca")
        self.cb = L.Conv2D(3, 1, name="cb")

    def call(self, x):
        return x + self.cb(keras.ops.relu(self.ca(x)))


class _Sub(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.blk = _Block(name="blk")
        self.after = L.Conv2D(2, 1, name="after")
        self.calls_after = 0

    def call(self, x):
        y = self.blk(x)
        self.calls_after += 1
        return self.after(y)


def test_first_outputs_of_a_subclassed_model_and_a_custom_layer():
    model = _Sub(name="net")
    x = np.random.default_rng(2).normal(size=(2, 6, 6, 3)).astype("float32")
    model(x)
    ca, blk = _first_outputs(model, ["blk/ca", "blk"], x)
    np.testing.assert_allclose(ca, to_numpy(model.blk.ca(x)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(blk, to_numpy(model.blk(x)), rtol=1e-5, atol=1e-6)


def test_first_outputs_stop_after_the_last_layer_and_leave_no_call_behind():
    from tb_actviz.capture import layer_calls

    model = _Sub(name="net")
    x = np.zeros((1, 6, 6, 3), "float32")
    model(x)
    before = model.calls_after
    layer_calls.first_outputs(model, x, [model.blk.ca, model.blk])
    assert model.calls_after == before  # stopped once blk returned
    assert all("call" not in l.__dict__ for l in layer_tree.all_layers(model))


def test_an_error_in_the_pass_leaves_no_call_behind():
    from tb_actviz.capture import layer_calls

    model = _Sub(name="net")
    model(np.zeros((1, 6, 6, 3), "float32"))
    with pytest.raises(Exception):
        layer_calls.first_outputs(model, np.zeros((1, 6, 6, 5), "float32"), [model.blk.cb])
    assert all("call" not in l.__dict__ for l in layer_tree.all_layers(model))


# Token outputs as patch grids (issue [13], point 5) -------------------------------------


class ClassToken(L.Layer):
    """Prepends one learned token: (batch, T, C) -> (batch, 1 + T, C)."""

    def build(self, input_shape):
        self.token = self.add_weight(shape=(1, 1, input_shape[-1]), initializer="random_normal",
                                     name="token")

    def call(self, x):
        return keras.ops.concatenate([keras.ops.zeros_like(x[:, :1]) + self.token, x], axis=1)


def token_model(patch_strides=3, size=(12, 12)):
    """Conv2D patch embedding (kernel 3, strides `patch_strides`) -> tokens
    (`patches`, no class token) -> `with_cls` (1 + grid) -> `dense` ->
    `conv1d` (a 'valid' Conv1D: 2 tokens fewer, a sequence)."""
    inp = keras.Input(size + (3,))
    x = L.Conv2D(8, 3, strides=patch_strides, name="embed")(inp)
    grid = x.shape[1] * x.shape[2]
    x = L.Reshape((grid, 8), name="patches")(x)
    x = ClassToken(name="with_cls")(x)
    x = L.Dense(6, name="dense")(x)
    seq = L.Conv1D(4, 3, name="conv1d")(x)
    return keras.Model(inp, L.Concatenate()([L.GlobalAveragePooling1D()(x), L.GlobalAveragePooling1D()(seq)]))


def token_layouts(model, spec, paths, x=None):
    """{path: (leading, height, width) or None} as the callback decides it."""
    from tb_actviz.capture import token_grid

    x = np.zeros((1,) + tuple(model.inputs[0].shape[1:]), "float32") if x is None else x
    entries = layer_tree.walk_layers(model, x)
    logged = layer_selection.select_layers(model, paths, entries=entries)
    parsed = token_grid.parse(spec, (keras.layers.Layer,))
    resolve = lambda key: layer_selection._resolve_one(entries, key, "token_grid")  # noqa: E731
    return {e.path: token_grid.layout(parsed, e, e.channels_first, entries, logged, resolve)
            for e in logged}


def test_map_geometry_token_grid():
    g = geometry.map_geometry("t", (17, 8), False, 64, 64, token_grid=(1, 4, 4))
    assert (g.map_kind, g.source_height, g.source_width, g.num_filters, g.factor, g.leading_tokens) == (
        "token_grid", 4, 4, 8, 1, 1)
    g = geometry.map_geometry("t", (8, 197), True, 4, 7, token_grid=(1, 14, 14))  # channels first
    assert (g.map_kind, g.map_height, g.map_width, g.num_filters, g.factor) == ("token_grid", 7, 7, 4, 2)
    assert geometry.map_geometry("t", (17, 8), False, 64, 64).map_kind == "sequence"
    with pytest.raises(ValueError, match="not 1 leading tokens and a 4 x 5 token grid"):
        geometry.map_geometry("t", (17, 8), False, 64, 64, token_grid=(1, 4, 5))
    with pytest.raises(ValueError, match="token grid"):
        geometry.map_geometry("t", (8,), False, 64, 64, token_grid=(0, 2, 4))


def test_token_grid_automatic_only_where_a_patch_embedding_says_so():
    paths = ["patches", "with_cls", "dense", "conv1d"]
    # Patches of 3 x 3 at strides 3: a 4 x 4 grid of 16 tokens, 17 with the class token.
    assert token_layouts(token_model(), None, paths) == {
        "patches": (0, 4, 4), "with_cls": (1, 4, 4), "dense": (1, 4, 4), "conv1d": None}
    # A 12 x 18 image: a 4 x 6 grid, 25 tokens with the class token (not a 5 x 5 grid).
    assert token_layouts(token_model(size=(12, 18)), None, paths) == {
        "patches": (0, 4, 6), "with_cls": (1, 4, 6), "dense": (1, 4, 6), "conv1d": None}
    # Strides 1: no patch embedding (10 x 10 = 100 tokens, a square): sequences all.
    assert set(token_layouts(token_model(patch_strides=1), None, paths).values()) == {None}
    assert set(token_layouts(token_model(), False, paths).values()) == {None}


def test_token_grid_forced_and_per_layer():
    from tb_actviz import TokenGrid

    no_patches = token_model(patch_strides=1)  # 100 tokens, 101 with the class token, 99 after conv1d
    assert token_layouts(no_patches, True, ["patches", "with_cls"]) == {
        "patches": (0, 10, 10), "with_cls": (1, 10, 10)}
    assert token_layouts(no_patches, TokenGrid(leading=1), ["with_cls", "dense"]) == {
        "with_cls": (1, 10, 10), "dense": (1, 10, 10)}
    assert token_layouts(no_patches, TokenGrid(5, 20), ["with_cls"]) == {"with_cls": (1, 5, 20)}
    assert token_layouts(no_patches, {"with_cls": TokenGrid(leading=1), "conv1d": False},
                         ["patches", "with_cls", "conv1d"]) == {
        "patches": None, "with_cls": (1, 10, 10), "conv1d": None}
    # Inferred grids are the patch embedding's first: 25 tokens are 1 + 4 x 6, not 5 x 5.
    assert token_layouts(token_model(size=(12, 18)), {"d*": True}, ["dense", "conv1d"]) == {
        "dense": (1, 4, 6), "conv1d": None}
    assert token_layouts(token_model(size=(12, 18)), {"with_cls": TokenGrid(leading=0)}, ["with_cls"]) == {
        "with_cls": (0, 5, 5)}


def test_token_grid_errors_name_what_would_fit():
    from tb_actviz import TokenGrid
    from tb_actviz.capture import token_grid

    model = token_model(patch_strides=1)
    with pytest.raises(ValueError, match=r"'with_cls' has 101 tokens.*TokenGrid\(height=10, width=10, leading=1\)"):
        token_layouts(model, TokenGrid(leading=0), ["with_cls"])
    with pytest.raises(ValueError, match=r"has 101 tokens.*TokenGrid\(height=10, width=10, leading=1\)"):
        token_layouts(model, TokenGrid(9, 9, leading=3), ["with_cls"])
    with pytest.raises(ValueError, match=r"'conv1d' has 99 tokens.*no grid of 2 or more tokens fits"):
        token_layouts(model, True, ["conv1d"])
    with pytest.raises(ValueError, match="which layers= does not log"):
        token_layouts(model, {"dense": TokenGrid(leading=1)}, ["with_cls"])
    with pytest.raises(ValueError, match=r"not \(tokens, channels\)"):
        token_layouts(model, {"embed": TokenGrid()}, ["embed", "with_cls"])
    with pytest.raises(ValueError, match="no layer matches"):
        token_layouts(model, {"nope": TokenGrid()}, ["with_cls"])
    with pytest.raises(ValueError, match="height and width together"):
        TokenGrid(height=4)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        TokenGrid(1, 1)
    with pytest.raises(ValueError, match="leading"):
        TokenGrid(leading=-1)
    with pytest.raises(TypeError, match="token_grid= must be"):
        token_grid.parse((1, 4, 4))
    with pytest.raises(TypeError, match="dict values"):
        token_grid.parse({"with_cls": (1, 4, 4)})


def test_log_pipeline_token_grid_is_the_tokens_reshaped():
    model = token_model()
    x = np.random.default_rng(3).normal(size=(3, 12, 12, 3)).astype("float32")
    entries = layer_tree.walk_layers(model, x)
    chosen = layer_selection.select_layers(model, ["with_cls", "dense"], entries=entries)
    logged = [extractor.LoggedLayer.of(e, 5, 2, entries=entries, logged=chosen) for e in chosen]
    assert [(l.geometry.map_kind, l.geometry.leading_tokens, l.geometry.factor) for l in logged] == [
        ("token_grid", 1, 2), ("token_grid", 1, 2)]
    compiled = backends.compile_pipeline(extractor.LogPipeline(model, logged))
    for l, maps in zip(logged, compiled(keras.ops.convert_to_tensor(x))):
        tokens = to_numpy(keras.Model(model.inputs, l.entry.layer.output)(x))
        grid = tokens[:, 1:].reshape(3, 4, 4, -1)[..., :5]  # row-major: token 1 + 4 * y + x
        np.testing.assert_allclose(np.asarray(maps), area_average(grid, 2).transpose(0, 3, 1, 2),
                                   rtol=1e-5, atol=1e-5)
