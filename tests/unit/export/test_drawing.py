"""tb_actviz.export.drawing: the recipe's contour levels (the figures
themselves, from a real fit: tests/integration/test_export.py)."""

import numpy as np

from tb_actviz import export


def test_posterize_makes_the_recipes_contour_levels():
    q = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert len(np.unique(export.posterize(q, 7))) == 7
    assert np.array_equal(export.posterize(q, 0), q)
