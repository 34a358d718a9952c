"""tb_actviz.export.attention_figures: the overlay's colormap and its blend
over a probe image (the figures from a real fit:
tests/integration/test_export_attention.py)."""

import numpy as np
from PIL import Image

from tb_actviz import export
from tb_actviz.format import colormaps


def test_the_default_colormap_is_the_first_the_tab_has():
    tables = colormaps.lookup_tables()
    assert export.overlay_cmap() == next(c for c in ("jet", "inferno", "viridis") if c in tables)


def test_an_rgb_probe_image_is_blended_as_it_is():
    picture = np.random.default_rng(1).integers(0, 256, (6, 4, 3), dtype=np.uint8)
    q = np.array([[0, 255], [255, 0]], np.uint8)
    tile = np.asarray(export.attention_overlay(picture, q, "viridis", 0.25, size=24))
    assert tile.shape == (24, 16, 3)
    heat = np.asarray(Image.fromarray(q).resize((16, 24), Image.BILINEAR))
    expected = picture.repeat(4, 0).repeat(4, 1) * 0.75 + colormaps.apply(heat) * 0.25
    assert np.abs(tile - expected).max() <= 0.5 + 1e-9
