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
    ]:
        x = torch.randn(2, channels, height, width, generator=generator)
        geometry = MapGeometry("image", True, height, width, filters, factor)
        stored = torch_maps.stored_maps(x, geometry)
        # the reference: every block's mean over the pixels it holds
        expected = np.zeros((2, filters, -(-height // factor), -(-width // factor)), np.float32)
        source = x[:, :filters].numpy()
        for i in range(expected.shape[2]):
            for j in range(expected.shape[3]):
                block = source[:, :, i * factor:(i + 1) * factor, j * factor:(j + 1) * factor]
                expected[:, :, i, j] = block.mean(axis=(2, 3))
        np.testing.assert_allclose(stored.numpy(), expected, rtol=1e-5, atol=1e-6)
        assert torch.equal(stored, torch.nn.functional.avg_pool2d(
            x[:, :filters], factor, factor, ceil_mode=True))
