"""`tb-actviz export`: the seed recipe's figures from a log dir, without TensorFlow.

Renders with Pillow, which TensorBoard already depends on (no matplotlib):

    tb-actviz export filters --logdir logs --layer conv1 --image 0 -o filters.png
    tb-actviz export images --logdir logs --layer conv1 --filter 11 -o filter11.png
    tb-actviz export evolution --logdir logs --layer conv1 --filter 11 -o filter11.gif
"""

import argparse
import math
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tensorboard import errors

from tb_actviz import metadata
from tb_actviz import remote_files
from tb_actviz.format import colormaps
from tb_actviz.reader import LogReader, UnreadableDataError

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


def _step_text(info, step):
    """"epoch 12", "batch 300", or "step 12" where the log does not say."""
    return "%s %d" % (info.step_unit if info.step_unit in ("epoch", "batch") else "step", step)


class ExportError(Exception):
    """Bad input to the export: printed as `tb-actviz export: error: ...`,
    exit status 2 (as argparse's own errors)."""


def _layer_path(tag):
    return tag[len(metadata.LAYER_TAG_PREFIX):]


def _skip_message(layer, entry):
    if entry.newer_version is not None:
        return (
            "layer %s of run %s was written by a newer tb_actviz (format version %d; this one "
            "reads %d): upgrade tb_actviz" % (layer, entry.run, entry.newer_version, metadata.PROTO_VERSION)
        )
    return "layer %s of run %s cannot be read: %s" % (layer, entry.run, entry.reason)


def _resolve_tag(reader, run, layer):
    """(run, tag) of `layer`: in `run`, or in the first run (by name) that
    has it readable.

    Raises:
      ExportError: no such run or layer, or the layer's tags are all
        unreadable (the message says why, and what there is).
    """
    tags, skipped = reader.tags(), reader.skipped()
    tag = metadata.layer_tag(layer)
    unreadable = [entry for entry in skipped if entry.tag == tag and run in (None, entry.run)]
    if run is None:
        candidates = sorted(r for r, t in tags.items() if tag in t)
        if candidates:
            return candidates[0], tag
        if unreadable:
            raise ExportError("; ".join(_skip_message(layer, entry) for entry in unreadable))
        raise ExportError(_unknown_layer_message(tags, skipped, layer, "the log dir"))
    if run not in tags:
        raise ExportError("no run %r in the log dir; runs: %s" % (run, ", ".join(sorted(tags)) or "none"))
    if tag in tags[run]:
        return run, tag
    if unreadable:
        raise ExportError(_skip_message(layer, unreadable[0]))
    raise ExportError(_unknown_layer_message(
        {run: tags[run]}, [e for e in skipped if e.run == run], layer, "run %s" % run))


def _unknown_layer_message(tags, skipped, layer, where):
    known = sorted({
        _layer_path(tag) for run_tags in tags.values() for tag in run_tags
        if tag.startswith(metadata.LAYER_TAG_PREFIX)
    })
    message = "no layer %r in %s; logged layers: %s" % (layer, where, ", ".join(known) or "none")
    unreadable = sorted({_layer_path(e.tag) for e in skipped if e.tag.startswith(metadata.LAYER_TAG_PREFIX)})
    if unreadable:
        message += " (and, unreadable: %s)" % ", ".join(unreadable)
    return message


def _describe_steps(steps):
    if len(steps) <= 10:
        return ", ".join(str(s) for s in steps) or "none"
    return "%s, ..., %d (%d steps)" % (", ".join(str(s) for s in steps[:3]), steps[-1], len(steps))


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
        raise ExportError(
            "--filter %d was not logged; logged filters: %d to %d"
            % (filter_index, indices[0], indices[-1])
        )
    return indices.index(filter_index)


def _at_least(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError("must be a whole number, got %r" % text) from None
        if value < low:
            raise argparse.ArgumentTypeError("must be at least %d, got %d" % (low, value))
        return value

    parse.__name__ = "int"
    return parse


def _levels(text):
    value = _at_least(0)(text)
    if value == 1 or value > 256:
        raise argparse.ArgumentTypeError("must be 0 (no posterizing) or 2 to 256, got %d" % value)
    return value


def _check_output(path, view):
    """Refuses an output that cannot be written before anything is read."""
    extension = os.path.splitext(path)[1].lower()
    if os.path.isdir(path):
        raise ExportError("-o %s is a directory; give a file name, e.g. %s"
                          % (path, os.path.join(path, "figure" + (extension or ".png"))))
    formats = Image.registered_extensions()  # also loads Pillow's plugins
    usable = Image.SAVE_ALL if view == "evolution" else Image.SAVE
    known = sorted(ext for ext, name in formats.items() if name in usable)
    if formats.get(extension) not in usable:
        what = "an animation (one frame per step)" if view == "evolution" else "an image"
        raise ExportError(
            "-o %s: cannot write %s %s; give one of the extensions %s"
            % (path, what, "with extension %r" % extension if extension else "without an extension",
               ", ".join(known))
        )
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise ExportError("-o %s: %s %s; create it first or write elsewhere" % (
            path, folder, "is not a directory" if os.path.exists(folder) else "does not exist"))
    if not os.access(folder, os.W_OK):
        raise ExportError("-o %s: cannot write into %s (permission denied)" % (path, folder))


def _check_logdir(logdir):
    if remote_files.is_remote(logdir):
        return
    if not os.path.exists(logdir):
        raise ExportError("--logdir %s: no such directory" % logdir)
    if not os.path.isdir(logdir):
        raise ExportError("--logdir %s is a file, not a directory: give the log dir (the folder "
                          "holding the runs)" % logdir)


def _check_image(info, image, run, layer):
    if image >= info.num_images:
        raise ExportError(
            "--image %d: layer %s of run %s has %d probe images (0 to %d)"
            % (image, layer, run, info.num_images, info.num_images - 1)
        )


def _save(figure_or_frames, path, frame_ms=None):
    try:
        if frame_ms is None:
            figure_or_frames.save(path)
        else:
            save_gif(figure_or_frames, path, frame_ms)
    # What Pillow and the file system raise (a format that cannot hold RGB,
    # permission denied, disk full).
    except (OSError, ValueError, KeyError) as e:
        raise ExportError("cannot write %s: %s" % (path, e)) from None


def _export(args):
    _check_output(args.output, args.view)
    _check_logdir(args.logdir)
    try:
        reader = LogReader(args.logdir)
    except (ValueError, OSError) as e:  # a remote log dir that cannot be listed
        raise ExportError(str(e)) from None
    run, tag = _resolve_tag(reader, args.run, args.layer)
    info = reader.tags()[run][tag]
    _check_image(info, args.image, run, args.layer)
    position = _filter_position(info, args.filter) if args.view != "filters" else None
    steps = reader.steps(run, tag)
    try:
        if args.view == "evolution":
            unreadable = []
            series = reader.filter_series(run, tag, position, unreadable=unreadable)
            for step, error in unreadable:
                sys.stderr.write("tb-actviz export: warning: step %d left out: %s\n" % (step, error))
            if not series:
                raise ExportError("no step of layer %s of run %s can be read (%d tried)"
                                  % (args.layer, run, len(steps)))
            frames = evolution_frames(series, args.image, args.cmap, args.levels)
            heading = "%s · %s · filter %d · image %d" % (run, args.layer, args.filter, args.image)
            _save([with_heading(frame, heading) for frame in frames], args.output, args.frame_ms)
        else:
            if args.step is not None and args.step not in steps:
                raise ExportError("layer %s of run %s has no step %d; logged steps: %s"
                                  % (args.layer, run, args.step, _describe_steps(steps)))
            snapshot = reader.layer(run, tag, args.step)
            step_text = _step_text(info, snapshot.step)
            if args.view == "filters":
                figure = filters_of_image(snapshot, args.image, args.count, args.columns, args.cmap, args.levels)
                labels = reader.labels(run)
                label = labels[args.image] if args.image < len(labels) else ""
                heading = "%s · %s · %s · image %d%s" % (
                    run, args.layer, step_text, args.image, " (%s)" % label if label else "")
            else:
                figure = filter_across_images(
                    snapshot, position, reader.labels(run), args.count, args.columns, args.cmap, args.levels
                )
                heading = "%s · %s · %s · filter %d" % (run, args.layer, step_text, args.filter)
            _save(with_heading(figure, heading + " · " + args.cmap), args.output)
    except (UnreadableDataError, errors.NotFoundError) as e:
        message = str(e)
        if isinstance(e, errors.NotFoundError):
            message = "run %s, tag %s, step %s: %s" % (
                run, tag, args.step if args.step is not None else steps[-1], e)
        hint = ""
        if args.view != "evolution" and len(steps) > 1:
            hint = " (other steps may be readable: --step; logged steps: %s)" % _describe_steps(steps)
        raise ExportError(message + hint) from None
    return run, tag


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tb-actviz", description="tb_actviz tools")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="render figures from a log dir")
    export.add_argument("view", choices=["filters", "images", "evolution"])
    export.add_argument("--logdir", required=True)
    export.add_argument("--run", help="run name (default: the first run with the layer)")
    export.add_argument("--layer", required=True, help="layer path, e.g. vgg16/block1_conv1")
    export.add_argument("--step", type=int, help="step (default: the last)")
    export.add_argument("--image", type=_at_least(0), default=0, help="probe image index")
    export.add_argument("--filter", type=int, default=0, help="filter (channel) index")
    export.add_argument("--count", type=_at_least(1), default=49, help="tiles in a grid (7x7)")
    export.add_argument("--columns", type=_at_least(1), default=7)
    export.add_argument("--cmap", default="viridis", choices=sorted(colormaps.lookup_tables()))
    export.add_argument("--levels", type=_levels, default=0,
                        help="posterize (7 = the recipe's contourf; 0: off)")
    export.add_argument("--frame-ms", type=_at_least(1), default=200, help="GIF frame duration")
    export.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    try:
        run, tag = _export(args)
    except ExportError as e:
        sys.stderr.write("%s: error: %s\n" % (export.prog, e))
        raise SystemExit(2) from None
    print("wrote %s (%s, %s)" % (args.output, run, tag))


if __name__ == "__main__":
    main()
