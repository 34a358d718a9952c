"""The figures of a log's attributions: probe images with their Grad-CAM or
saliency maps laid over them, as a grid of one step or as frames over
training."""

import numpy as np
from PIL import Image

from tb_actviz.export import captions
from tb_actviz.export.drawing import TILE_SIZE, posterize, progress_bar, titled_frames, titled_grid
from tb_actviz.format import colormaps

# The first of these the tab has is the attention views' default colormap.
OVERLAY_CMAPS = ("jet", "inferno", "viridis")


def overlay_cmap():
    """The attention views' default colormap: the first of `OVERLAY_CMAPS` the tab has."""
    tables = colormaps.lookup_tables()
    return next(name for name in OVERLAY_CMAPS if name in tables)


def map_coverage(info):
    """The fraction of its source's width and height an attribution tag's
    stored map spans: area-averaging blocks that are partial at the right
    and bottom edge reach past the source (as the tab's `mapCoverage`)."""
    factor = info.downsample_factor or 1
    return (info.map_width * factor / info.source_width if info.source_width else 1.0,
            info.map_height * factor / info.source_height if info.source_height else 1.0)


def attention_overlay(picture, q, cmap, opacity, levels=0, size=TILE_SIZE, coverage=(1.0, 1.0)):
    """A probe image with its attribution map laid over it, as an RGB PIL tile.

    The image (uint8 (H, W) or (H, W, 3)) is scaled (nearest) to `size` on
    its long side as `colour_tile` scales maps; the map (uint8 [h, w]) is
    upsampled bilinearly to that size times `coverage` (`map_coverage`),
    cut to the image, coloured with `cmap` and blended in with `opacity`
    (0: the image alone, 1: the map alone).
    """
    h, w = picture.shape[:2]
    scale = max(1, size // max(h, w))
    shown = Image.fromarray(picture).convert("RGB").resize((w * scale, h * scale), Image.NEAREST)
    spans = [max(side, round(side * fraction)) for side, fraction in zip(shown.size, coverage)]
    heat = np.asarray(Image.fromarray(q).resize(spans, Image.BILINEAR))[:shown.height, :shown.width]
    colour = colormaps.apply(posterize(heat, levels), cmap).astype(np.float64)
    blended = np.asarray(shown, dtype=np.float64) * (1 - opacity) + colour * opacity
    return Image.fromarray(np.round(blended).astype(np.uint8))


def attention_grid(snapshot, pictures, count, columns, cmap, opacity, levels):
    """The first `count` probe images, each with its map laid over it and
    titled with its index and the model's prediction."""
    n = min(count, len(pictures), snapshot.quantized.shape[0])
    coverage = map_coverage(snapshot.info)
    tiles = [attention_overlay(pictures[i], snapshot.quantized[i], cmap, opacity, levels, coverage=coverage)
             for i in range(n)]
    return titled_grid(tiles, [captions.attention_title(snapshot, i) for i in range(n)], columns)


def attention_frames(snapshots, picture, image, cmap, opacity, levels, progress=progress_bar):
    """One frame per `AttributionSnapshot`: probe image `image` (`picture`)
    with that step's map over it, titled with the step and the prediction;
    all frames of one size (a GIF's frames share the first one's)."""
    def draw(snapshot):
        tile = attention_overlay(picture, snapshot.quantized[image], cmap, opacity, levels,
                                 size=2 * TILE_SIZE, coverage=map_coverage(snapshot.info))
        return tile, captions.attention_frame_title(snapshot, image)

    frames = titled_frames(snapshots, draw, progress)
    width, height = max(f.width for f in frames), max(f.height for f in frames)
    padded = []
    for frame in frames:
        canvas = Image.new("RGB", (width, height), (255, 255, 255))
        canvas.paste(frame, (0, 0))
        padded.append(canvas)
    return padded
