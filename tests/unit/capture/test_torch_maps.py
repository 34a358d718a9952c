"""capture.torch_maps: the stored maps pooled on the device, with and without partial blocks."""

import numpy as np
import pytest


def test_torch_pooling_with_and_without_partial_blocks():
    torch = pytest.importorskip("torch")
    from tb_actviz.capture import torch_maps
    from tb_actviz.format.geometry import MapGeometry

    generator = torch.Generator().manual_seed(0)
    for channels, height, width, factor, filters in [
        (64, 112, 112, 4, 49), (64, 56, 57, 2, 49), (200, 30, 31, 4, 49), (3, 9, 9, 3, 3),
        (200, 32, 32, 4, 49), (16, 14, 14, 7, 16),
    ]:
        source_tensor = torch.randn(2, channels, height, width, generator=generator)
        expected = np.zeros((2, filters, -(-height // factor), -(-width // factor)), np.float32)
        source = source_tensor[:, :filters].numpy()
        # the reference: every block's mean over the pixels it holds
        for i in range(expected.shape[2]):
            for j in range(expected.shape[3]):
                block = source[:, :, i * factor:(i + 1) * factor, j * factor:(j + 1) * factor]
                expected[:, :, i, j] = block.mean(axis=(2, 3))
        pooled = torch.nn.functional.avg_pool2d(source_tensor[:, :filters], factor, factor,
                                                ceil_mode=True)
        geometry = MapGeometry("image", True, height, width, filters, factor)
        # Every layout the pooling takes a different route for: contiguous
        # maps (summed by blocks), channels-last and a strided view (avg_pool2d).
        for x in (source_tensor, source_tensor.contiguous(memory_format=torch.channels_last),
                  torch.cat([source_tensor, source_tensor], dim=3)[..., :width]):
            stored = torch_maps.stored_maps(x, geometry)
            assert stored.shape == expected.shape and stored.dtype == torch.float32
            np.testing.assert_allclose(stored.numpy(), expected, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(stored.numpy(), pooled.numpy(), rtol=1e-6, atol=1e-7)


def test_torch_pooling_keeps_nonfinite_blocks_nonfinite():
    torch = pytest.importorskip("torch")
    from tb_actviz.capture import torch_maps
    from tb_actviz.format.geometry import MapGeometry

    x = torch.zeros(1, 2, 8, 8)
    x[0, 0, 1, 1] = float("nan")
    x[0, 1, 5, 6] = float("inf")
    x[0, 1, 0, 0] = float("-inf")
    stored = torch_maps.stored_maps(x, MapGeometry("image", True, 8, 8, 2, 4)).numpy()
    finite = np.isfinite(stored)
    assert not finite[0, 0, 0, 0] and finite[0, 0].sum() == 3
    assert stored[0, 1, 1, 1] == np.inf and stored[0, 1, 0, 0] == -np.inf
    assert finite[0, 1].sum() == 2
