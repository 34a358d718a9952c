"""A PyTorch tensor -> the maps tb_actviz stores, on its device: for the
PyTorch-native loggers (`tb_actviz.torch`) and for Keras on PyTorch
(`extractor`), whose average_pool would copy the maps first.

The same layout as the Keras side's `capture.extractor` (docs/format.md,
"Map kinds"): float32 [N, F, h, w], each map area-averaged by the layer's
integer factor, blocks aligned at the top-left pixel, partial blocks at the
bottom and right edges averaging the pixels they hold; a NaN or an infinity
makes its block non-finite. Only these pooled maps cross to the host.
"""

import torch
import torch.nn.functional as F


def as_nchw(output, geometry):
    """An output (batch first) as float32 (N, C, H, W) per its map kind."""
    x = output.float()  # on the device: numpy has no bfloat16
    kind = geometry.map_kind
    if kind == "units":
        return x.reshape(x.shape[0], 1, 1, -1)
    if kind == "sequence":  # (N, C, L) or (N, L, C)
        x = x if geometry.channels_first else x.transpose(1, 2)
        return x.unsqueeze(2)
    if kind == "token_grid":  # (N, tokens, C): the grid's tokens, row-major
        x = x[:, geometry.leading_tokens:]
        x = x.reshape(x.shape[0], geometry.source_height, geometry.source_width, x.shape[-1])
        return x.permute(0, 3, 1, 2)
    if kind == "volume_max_projection":  # (N, C, D, H, W): the maximum over depth
        return x.amax(dim=2) if geometry.channels_first else x.amax(dim=1).permute(0, 3, 1, 2)
    return x if geometry.channels_first else x.permute(0, 3, 1, 2)


def stored_maps(output, geometry):
    """float32 [N, F, h, w] on the output's device (see the module doc)."""
    x = as_nchw(output, geometry)
    filters = geometry.num_filters
    if geometry.factor == 1:
        # A copy: the output itself may be changed in place by what runs
        # after the module (torchvision's ReLU(inplace=True)).
        return x[:, :filters].clone()
    factor = geometry.factor
    partial = bool(x.shape[2] % factor or x.shape[3] % factor)
    if not partial and x.device.type == "cpu" and x.stride(3) == 1 and x.stride(2) == x.shape[3]:
        # Each map contiguous (channels-last is avg_pool2d's fast layout).
        return _block_means(x[:, :filters], factor)
    # ceil_mode keeps the partial blocks; with no padding their divisor is
    # the count of pixels they hold. Pooling a channel slice (a strided
    # view) copies it first: where few channels are left out, pooling them
    # all and slicing after is ~3x faster (8 x 64 x 224 x 224, factor 7).
    if x.shape[1] > 2 * filters:
        x = x[:, :filters]
    return F.avg_pool2d(x, factor, factor, ceil_mode=partial)[:, :filters]


def _block_means(x, factor):
    """The means of the factor x factor blocks of `x` [N, F, H, W] whose rows
    are contiguous and whose sides the factor divides: rows summed in groups,
    then columns, each a view of the one before. On a CPU 1.5-2.4x faster
    than avg_pool2d for that layout (2 threads; 8 x 64 x 56 x 56 by 2,
    112 x 112 by 4, 224 x 224 by 7; 8 x 128 x 112 x 112 by 2), and equal
    to it up to float32 rounding (the sums run in another order)."""
    n, f, height, width = x.shape
    rows = x.reshape(n, f, height // factor, factor, width).sum(3)
    blocks = rows.reshape(n, f, height // factor, width // factor, factor).sum(4)
    return blocks.div_(factor * factor)


def to_host(tensor):
    """A float32 tensor as a numpy array (a copy from the device)."""
    return tensor.detach().to("cpu", torch.float32).numpy()
