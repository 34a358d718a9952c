"""`tb-actviz export`: the seed recipe's figures from a log dir, without TensorFlow.

Renders with Pillow, which TensorBoard already depends on (no matplotlib):

    tb-actviz export filters --logdir logs --layer conv1 --image 0 -o filters.png
    tb-actviz export images --logdir logs --layer conv1 --filter 11 -o filter11.png
    tb-actviz export evolution --logdir logs --layer conv1 --filter 11 -o filter11.gif
"""

import argparse
import math
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tb_actviz import metadata
from tb_actviz.format import colormaps
from tb_actviz.reader import LogReader

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


def _resolve_tag(reader, run, layer):
    tags = reader.tags()
    if run is None:
        candidates = [r for r, t in tags.items() if metadata.layer_tag(layer) in t]
        if not candidates:
            raise SystemExit(_unknown_layer_message(tags, layer))
        run = sorted(candidates)[0]
    if run not in tags:
        raise SystemExit("no run %r; runs: %s" % (run, ", ".join(sorted(tags))))
    tag = metadata.layer_tag(layer)
    if tag not in tags[run]:
        raise SystemExit(_unknown_layer_message({run: tags[run]}, layer))
    return run, tag


def _unknown_layer_message(tags, layer):
    known = sorted(
        {md.layer_path for run_tags in tags.values() for md in run_tags.values() if md.layer_path}
    )
    return "no layer %r in the log dir; logged layers: %s" % (layer, ", ".join(known) or "none")


def filters_of_image(snapshot, image, count, columns, cmap, levels):
    """The seed's view A: the first `count` filters of one image."""
    indices = list(snapshot.info.filter_indices)[:count]
    tiles = [colour_tile(snapshot.quantized[f, image], cmap, levels) for f in range(len(indices))]
    return titled_grid(tiles, ["filter: %d" % k for k in indices], columns)


def filter_across_images(snapshot, filter_position, labels, count, columns, cmap, levels):
    """The seed's view B: one filter for the first `count` probe images."""
    n = min(count, snapshot.quantized.shape[1])
    tiles = [colour_tile(snapshot.quantized[filter_position, i], cmap, levels) for i in range(n)]
    titles = ["image: %d %s" % (i, labels[i] if i < len(labels) else "") for i in range(n)]
    return titled_grid(tiles, [t.strip() for t in titles], columns)


def _progress(done, total, stream=sys.stderr):
    width = 30
    filled = width * done // max(total, 1)
    stream.write("\r[%s%s] %d/%d frames" % ("#" * filled, "." * (width - filled), done, total))
    if done == total:
        stream.write("\n")
    stream.flush()


def evolution_frames(series, image, cmap, levels, progress=_progress):
    """One titled frame per step of a filter's series [(step, [N, h, w])]."""
    frames = []
    for done, (step, maps) in enumerate(series, 1):
        tile = colour_tile(maps[image], cmap, levels, size=2 * TILE_SIZE)
        frames.append(titled_grid([tile], ["step: %d" % step], 1))
        if progress:
            progress(done, len(series))
    return frames


def save_gif(frames, path, frame_ms):
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)


def _filter_position(snapshot_info, filter_index):
    indices = list(snapshot_info.filter_indices)
    if filter_index not in indices:
        raise SystemExit(
            "filter %d was not logged; logged filters: %d to %d"
            % (filter_index, indices[0], indices[-1])
        )
    return indices.index(filter_index)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tb-actviz", description="tb_actviz tools")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="render figures from a log dir")
    export.add_argument("view", choices=["filters", "images", "evolution"])
    export.add_argument("--logdir", required=True)
    export.add_argument("--run", help="run name (default: the first run with the layer)")
    export.add_argument("--layer", required=True, help="layer path, e.g. vgg16/block1_conv1")
    export.add_argument("--step", type=int, help="step (default: the last)")
    export.add_argument("--image", type=int, default=0, help="probe image index")
    export.add_argument("--filter", type=int, default=0, help="filter (channel) index")
    export.add_argument("--count", type=int, default=49, help="tiles in a grid (7x7)")
    export.add_argument("--columns", type=int, default=7)
    export.add_argument("--cmap", default="viridis", choices=sorted(colormaps.lookup_tables()))
    export.add_argument("--levels", type=int, default=0, help="posterize (7 = the recipe's contourf)")
    export.add_argument("--frame-ms", type=int, default=200, help="GIF frame duration")
    export.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)

    reader = LogReader(args.logdir)
    run, tag = _resolve_tag(reader, args.run, args.layer)
    if args.view == "evolution":
        info = reader.tags()[run][tag]
        series = reader.filter_series(run, tag, _filter_position(info, args.filter))
        save_gif(evolution_frames(series, args.image, args.cmap, args.levels), args.output, args.frame_ms)
    else:
        try:
            snapshot = reader.layer(run, tag, args.step)
        except KeyError as e:
            raise SystemExit(str(e))
        if args.view == "filters":
            figure = filters_of_image(snapshot, args.image, args.count, args.columns, args.cmap, args.levels)
        else:
            _, labels = reader.probe(run)
            position = _filter_position(snapshot.info, args.filter)
            figure = filter_across_images(
                snapshot, position, labels, args.count, args.columns, args.cmap, args.levels
            )
        figure.save(args.output)
    print("wrote %s (%s, %s)" % (args.output, run, tag))


if __name__ == "__main__":
    main()
