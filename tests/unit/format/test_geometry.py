"""tb_actviz.format.geometry: how a layer's output is stored (map kind, the
filters kept, the area-averaging factor and the stored size), for each kind of
Keras layer output (the layer gives its name and data format)."""

import keras
import pytest

from map_reference import map_geometry
from tb_actviz.format import geometry

L = keras.layers


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
