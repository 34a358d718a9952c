"""tb_actviz.format.map_encoding: per-map statistics over the finite values,
against numpy (the strips and the round trip through the backend's average:
tests/unit/capture/test_extractor.py)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from map_reference import numpy_stats
from tb_actviz.format import map_encoding

MIN, MAX, MEAN, STD, POS, NONFINITE = range(6)


def per_map_stats(x):
    """map_encoding.statistics of NHWC `x` at full resolution."""
    return map_encoding.statistics(np.asarray(x).transpose(0, 3, 1, 2))


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


def test_positive_fraction_is_over_finite_values():
    # docs/format.md: every statistic is over the finite values of the map.
    x = (np.arange(16, dtype="float32") - 5).reshape(1, 4, 4, 1)
    x[0, 0, 0, 0] = np.nan
    x[0, 3, 3, 0] = np.inf
    x[0, 3, 2, 0] = -np.inf
    stats = np.asarray(per_map_stats(x))
    finite = x[np.isfinite(x)]
    assert stats[0, 0, POS] == pytest.approx((finite > 0).mean())


def test_all_finite_maps_get_the_values_of_the_general_path():
    # statistics() takes a shorter path when every pixel is finite; it must
    # give what the path for maps with NaNs and infinities gives them.
    rng = np.random.default_rng(3)
    maps = np.concatenate([
        rng.normal(size=(4, 3, 9, 7)),
        1000.0 + rng.normal(0.0, 0.01, size=(4, 2, 9, 7)),  # large mean, small spread
        np.maximum(rng.normal(size=(4, 2, 9, 7)), 0.0),  # ReLU'd: many zeros
        np.full((4, 1, 9, 7), -2.5),  # constant
    ], axis=1).astype(np.float32)
    fast = map_encoding.statistics(maps)
    general = map_encoding._statistics_of_finite_pixels(maps.reshape(4, 8, -1))
    assert fast.dtype == general.dtype == np.float32 and fast.shape == general.shape
    np.testing.assert_array_equal(fast[..., [MIN, MAX, POS, NONFINITE]],
                                  general[..., [MIN, MAX, POS, NONFINITE]])
    np.testing.assert_allclose(fast[..., MEAN], general[..., MEAN], rtol=1e-6, atol=0)
    np.testing.assert_allclose(fast[..., STD], general[..., STD], rtol=1e-4, atol=1e-6)
    assert (fast[:, 7, STD] == 0).all()
    # one NaN sends the whole layer down the general path
    maps[0, 0, 0, 0] = np.nan
    assert map_encoding.statistics(maps)[0, 0, NONFINITE] == 1
