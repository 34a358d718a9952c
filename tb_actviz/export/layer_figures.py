"""The figures of one layer's feature maps: the seed recipe's two grids and
a filter's evolution over training."""

from tb_actviz.export import captions
from tb_actviz.export.drawing import TILE_SIZE, colour_tile, progress_bar, titled_frames, titled_grid


def filters_of_image(snapshot, image, count, columns, cmap, levels):
    """The seed's view A: the first `count` filters of one image."""
    indices = list(snapshot.info.filter_indices)[:count]
    tiles = [colour_tile(snapshot.quantized[f, image], cmap, levels) for f in range(len(indices))]
    return titled_grid(tiles, [captions.filter_title(k) for k in indices], columns)


def filter_across_images(snapshot, filter_position, labels, count, columns, cmap, levels):
    """The seed's view B: one filter for the first `count` probe images."""
    n = min(count, snapshot.quantized.shape[1])
    tiles = [colour_tile(snapshot.quantized[filter_position, i], cmap, levels) for i in range(n)]
    return titled_grid(tiles, [captions.image_title(i, labels) for i in range(n)], columns)


def evolution_frames(series, image, cmap, levels, progress=progress_bar):
    """One titled frame per step of a filter's series [(step, [N, h, w])]."""
    def draw(step_maps):
        step, maps = step_maps
        return colour_tile(maps[image], cmap, levels, size=2 * TILE_SIZE), captions.step_title(step)

    return titled_frames(series, draw, progress)
