"""What every exported figure is made of: coloured tiles, titled grids,
headings, animation frames, and the progress bar while frames are drawn.
Pillow only (no matplotlib)."""

import math
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tb_actviz.format import colormaps

TITLE_HEIGHT = 14
TILE_SIZE = 96


def posterize(q, levels):
    """Bands of 8-bit values into `levels` flat levels (contourf's look)."""
    if not levels:
        return q
    band = np.minimum(q.astype(np.int32) * levels // 256, levels - 1)
    return (band * 255 // max(levels - 1, 1)).astype(np.uint8)


def colour_tile(q, cmap, levels, size=TILE_SIZE):
    """A uint8 map -> an RGB PIL tile scaled (nearest) to `size` on its long side."""
    rgb = colormaps.apply(posterize(q, levels), cmap)
    h, w = q.shape
    scale = max(1, size // max(h, w))
    return Image.fromarray(rgb).resize((w * scale, h * scale), Image.NEAREST)


def titled_grid(tiles, titles, columns, background=(255, 255, 255)):
    """Tiles of one size in a grid, each with its title above it."""
    font = ImageFont.load_default()
    w, h = tiles[0].size
    rows = math.ceil(len(tiles) / columns)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text_w = max(math.ceil(measure.textlength(t, font=font)) for t in titles)
    cell_w, cell_h = max(w, text_w) + 6, h + TITLE_HEIGHT + 6
    sheet = Image.new("RGB", (columns * cell_w, rows * cell_h), background)
    draw = ImageDraw.Draw(sheet)
    for position, (tile, title) in enumerate(zip(tiles, titles)):
        r, c = divmod(position, columns)
        x, y = c * cell_w + 3, r * cell_h + 3
        draw.text((x, y), title, fill=(0, 0, 0), font=font)
        sheet.paste(tile, (x, y + TITLE_HEIGHT))
    return sheet


def with_heading(figure, heading, background=(255, 255, 255)):
    """`figure` with a line of text above it (what it shows: run, layer, step)."""
    font = ImageFont.load_default()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    width = max(figure.width, math.ceil(measure.textlength(heading, font=font)) + 8)
    sheet = Image.new("RGB", (width, figure.height + TITLE_HEIGHT + 6), background)
    ImageDraw.Draw(sheet).text((4, 3), heading, fill=(0, 0, 0), font=font)
    sheet.paste(figure, (0, TITLE_HEIGHT + 6))
    return sheet


def progress_bar(done, total, stream=None):
    """`[####....] done/total frames` on stderr, redrawn in place."""
    stream = stream or sys.stderr
    width = 30
    filled = width * done // max(total, 1)
    stream.write("\r[%s%s] %d/%d frames" % ("#" * filled, "." * (width - filled), done, total))
    if done == total:
        stream.write("\n")
    stream.flush()


def titled_frames(items, draw, progress):
    """One frame per item of `items`: the tile `draw(item)` gives under the
    title it gives with it ((tile, title)); `progress(done, total)`, unless
    None, after each frame."""
    frames = []
    for done, item in enumerate(items, 1):
        tile, title = draw(item)
        frames.append(titled_grid([tile], [title], 1))
        if progress:
            progress(done, len(items))
    return frames


def save_gif(frames, path, frame_ms):
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
