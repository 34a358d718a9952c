"""`tb-actviz export`: the seed recipe's figures from a log dir, without TensorFlow.

Renders with Pillow, which TensorBoard already depends on (no matplotlib):

    tb-actviz export filters --logdir logs --layer conv1 --image 0 -o filters.png
    tb-actviz export images --logdir logs --layer conv1 --filter 11 -o filter11.png
    tb-actviz export evolution --logdir logs --layer conv1 --filter 11 -o filter11.gif
    tb-actviz export attention --logdir logs --method grad_cam --opacity 0.5 -o cam.png
    tb-actviz export attention-evolution --logdir logs --method saliency --image 2 -o saliency2.gif

The attention views need a log with attributions
(`ActivationLogger(..., attributions=True)`); they take no --layer.
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

LAYER_VIEWS = ("filters", "images", "evolution")
ATTENTION_VIEWS = ("attention", "attention-evolution")
ANIMATED_VIEWS = ("evolution", "attention-evolution")
ATTRIBUTION_METHODS = ("grad_cam", "saliency")
# The first of these the tab has is the attention views' default colormap.
OVERLAY_CMAPS = ("jet", "inferno", "viridis")


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


def _skip_message(what, entry):
    """Why `what` ("layer conv1", "grad_cam attributions") of a run cannot be read."""
    if entry.newer_version is not None:
        return (
            "%s of run %s was written by a newer tb_actviz (format version %d; this one "
            "reads %d): upgrade tb_actviz" % (what, entry.run, entry.newer_version, metadata.PROTO_VERSION)
        )
    return "%s of run %s cannot be read: %s" % (what, entry.run, entry.reason)


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
            raise ExportError("; ".join(_skip_message("layer " + layer, entry) for entry in unreadable))
        raise ExportError(_unknown_layer_message(tags, skipped, layer, "the log dir"))
    if run not in tags:
        raise ExportError("no run %r in the log dir; runs: %s" % (run, ", ".join(sorted(tags)) or "none"))
    if tag in tags[run]:
        return run, tag
    if unreadable:
        raise ExportError(_skip_message("layer " + layer, unreadable[0]))
    raise ExportError(_unknown_layer_message(
        {run: tags[run]}, [e for e in skipped if e.run == run], layer, "run %s" % run))


def _logged_layers(tags):
    return sorted({
        _layer_path(tag) for run_tags in tags.values() for tag in run_tags
        if tag.startswith(metadata.LAYER_TAG_PREFIX)
    })


def _unknown_layer_message(tags, skipped, layer, where):
    known = _logged_layers(tags)
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


def _progress(done, total, stream=None):
    stream = stream or sys.stderr
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


def _class_text(snapshot, value):
    return snapshot.class_name(value) if np.isfinite(value) else "?"


def _score_text(value):
    return "%.2f" % value if np.isfinite(value) else "?"


def prediction_text(snapshot, image):
    """"predicted: face 0.93 (true: face)": the model's prediction for probe
    image `image` ("predicted: not finite" where its output was NaN or
    infinite) and, unless the map explains the prediction, the class it
    explains: the true label, or a fixed class with its score ("(explained:
    owl 0.12)"), as the tab's Attention view words it."""
    field = snapshot.field
    predicted_class = field("predicted_class")[image]
    if np.isfinite(predicted_class):
        text = "predicted: %s %s" % (_class_text(snapshot, predicted_class),
                                     _score_text(field("predicted_score")[image]))
    else:  # the model's output was NaN or infinite: no prediction
        text = "predicted: not finite"
    target = snapshot.info.attribution_target
    explained = _class_text(snapshot, field("target_class")[image])
    if target == "label":
        text += " (true: %s)" % explained
    elif target != "predicted":
        text += " (explained: %s %s)" % (explained, _score_text(field("target_score")[image]))
    return text


def method_text(info):
    """What an attribution tag's maps are, for headings."""
    if info.attribution_method == "grad_cam":
        return "Grad-CAM of %s" % info.layer_path
    return "saliency (|d score / d input|)"


def attention_grid(snapshot, pictures, count, columns, cmap, opacity, levels):
    """The first `count` probe images, each with its map laid over it and
    titled with its index and the model's prediction."""
    n = min(count, len(pictures), snapshot.quantized.shape[0])
    coverage = map_coverage(snapshot.info)
    tiles = [attention_overlay(pictures[i], snapshot.quantized[i], cmap, opacity, levels, coverage=coverage)
             for i in range(n)]
    return titled_grid(tiles, ["%d %s" % (i, prediction_text(snapshot, i)) for i in range(n)], columns)


def attention_frames(snapshots, picture, image, cmap, opacity, levels, progress=_progress):
    """One frame per `AttributionSnapshot`: probe image `image` (`picture`)
    with that step's map over it, titled with the step and the prediction;
    all frames of one size (a GIF's frames share the first one's)."""
    frames = []
    for done, snapshot in enumerate(snapshots, 1):
        tile = attention_overlay(picture, snapshot.quantized[image], cmap, opacity, levels,
                                 size=2 * TILE_SIZE, coverage=map_coverage(snapshot.info))
        title = "%s · %s" % (_step_text(snapshot.info, snapshot.step), prediction_text(snapshot, image))
        frames.append(titled_grid([tile], [title], 1))
        if progress:
            progress(done, len(snapshots))
    width, height = max(f.width for f in frames), max(f.height for f in frames)
    padded = []
    for frame in frames:
        canvas = Image.new("RGB", (width, height), (255, 255, 255))
        canvas.paste(frame, (0, 0))
        padded.append(canvas)
    return padded


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
    usable = Image.SAVE_ALL if view in ANIMATED_VIEWS else Image.SAVE
    known = sorted(ext for ext, name in formats.items() if name in usable)
    if formats.get(extension) not in usable:
        what = "an animation (one frame per step)" if view in ANIMATED_VIEWS else "an image"
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


def _read_error(e, run, tag, step, steps, other_steps_hint):
    """An `ExportError` for stored data that cannot be read."""
    message = str(e)
    if isinstance(e, errors.NotFoundError):
        message = "run %s, tag %s, step %s: %s" % (run, tag, step if step is not None else steps[-1], e)
    hint = ""
    if other_steps_hint and len(steps) > 1:
        hint = " (other steps may be readable: --step; logged steps: %s)" % _describe_steps(steps)
    return ExportError(message + hint)


def _warn_left_out(unreadable):
    for step, error in unreadable:
        sys.stderr.write("tb-actviz export: warning: step %d left out: %s\n" % (step, error))


def _warn_hidden(reader, run, tag):
    """Warns when a restarted training replaced an earlier one's steps of
    `tag` (the figures show the later training, as TensorBoard does)."""
    hidden = reader.hidden_steps(run, tag)
    if hidden:
        sys.stderr.write(
            "tb-actviz export: warning: run %s, tag %s holds two trainings: a later one restarted "
            "at step %d, so %d log(s) of the earlier one (steps %s) are hidden, as in TensorBoard; "
            "give each training its own log_dir to see both\n"
            % (run, tag, min(step for step, _ in hidden), len(hidden),
               _describe_steps(sorted({step for step, _ in hidden}))))


def _export_layer(reader, args):
    if args.layer is None:
        raise ExportError("%s needs --layer, the layer to show (e.g. vgg16/block1_conv1); logged "
                          "layers: %s" % (args.view, ", ".join(_logged_layers(reader.tags())) or "none"))
    image = 0 if args.image is None else args.image
    cmap = args.cmap or "viridis"
    run, tag = _resolve_tag(reader, args.run, args.layer)
    info = reader.tags()[run][tag]
    _check_image(info, image, run, args.layer)
    position = _filter_position(info, args.filter) if args.view != "filters" else None
    steps = reader.steps(run, tag)
    _warn_hidden(reader, run, tag)
    try:
        if args.view == "evolution":
            unreadable = []
            series = reader.filter_series(run, tag, position, unreadable=unreadable)
            _warn_left_out(unreadable)
            if not series:
                raise ExportError("no step of layer %s of run %s can be read (%d tried)"
                                  % (args.layer, run, len(steps)))
            frames = evolution_frames(series, image, cmap, args.levels)
            heading = "%s · %s · filter %d · image %d" % (run, args.layer, args.filter, image)
            _save([with_heading(frame, heading) for frame in frames], args.output, args.frame_ms)
        else:
            if args.step is not None and args.step not in steps:
                raise ExportError("layer %s of run %s has no step %d; logged steps: %s"
                                  % (args.layer, run, args.step, _describe_steps(steps)))
            snapshot = reader.layer(run, tag, args.step)
            step_text = _step_text(info, snapshot.step)
            if args.view == "filters":
                figure = filters_of_image(snapshot, image, args.count, args.columns, cmap, args.levels)
                labels = reader.labels(run)
                label = labels[image] if image < len(labels) else ""
                heading = "%s · %s · %s · image %d%s" % (
                    run, args.layer, step_text, image, " (%s)" % label if label else "")
            else:
                figure = filter_across_images(
                    snapshot, position, reader.labels(run), args.count, args.columns, cmap, args.levels
                )
                heading = "%s · %s · %s · filter %d" % (run, args.layer, step_text, args.filter)
            _save(with_heading(figure, heading + " · " + cmap), args.output)
    except (UnreadableDataError, errors.NotFoundError) as e:
        raise _read_error(e, run, tag, args.step, steps, args.view != "evolution") from None
    return run, tag


def _resolve_attribution(reader, run, method):
    """(run, tag) of the `method` attributions: in `run`, or in the first
    run (by name) that has them readable.

    Raises:
      ExportError: no such run, no such attributions (the message says how
        to log them), or their tags are unreadable.
    """
    tags, skipped = reader.tags(), reader.skipped()
    if run is not None and run not in tags:
        raise ExportError("no run %r in the log dir; runs: %s" % (run, ", ".join(sorted(tags)) or "none"))
    runs = [run] if run is not None else sorted(tags)
    tag = metadata.attribution_tag(method)
    for candidate in runs:
        if tag in tags[candidate]:
            return candidate, tag
    unreadable = [e for e in skipped if e.tag == tag and e.run in runs]
    if unreadable:
        raise ExportError("; ".join(_skip_message("%s attributions" % method, e) for e in unreadable))
    others = sorted({t[len(metadata.ATTRIBUTION_TAG_PREFIX):] for r in runs for t in tags[r]
                     if t.startswith(metadata.ATTRIBUTION_TAG_PREFIX)})
    what = "%s attributions" % method if others else "attributions (Grad-CAM, saliency)"
    if len(runs) == 1:
        missing = "run %s has no %s" % (runs[0], what)
    else:
        missing = "no run of the log dir (%s) has %s" % (", ".join(runs) or "it has none", what)
    if others:
        raise ExportError("--method %s: %s; logged: %s" % (method, missing, ", ".join(others)))
    raise ExportError("%s to show: log them with ActivationLogger(..., attributions=True)" % missing)


def _probe_images(reader, run):
    try:
        pictures, _ = reader.probe(run)
    except KeyError as e:
        raise ExportError("run %s has no readable probe images to lay the maps over: %s"
                          % (run, e.args[0])) from None
    except UnreadableDataError as e:
        raise ExportError(str(e)) from None
    for i, picture in enumerate(pictures):
        gray_or_rgb = picture.ndim == 2 or (picture.ndim == 3 and picture.shape[2] == 3)
        if picture.dtype != np.uint8 or not gray_or_rgb:
            raise ExportError("probe image %d of run %s is not an 8-bit gray or RGB image (%s %s)"
                              % (i, run, picture.dtype, "x".join(map(str, picture.shape))))
    return pictures


def _export_attention(reader, args):
    cmap = args.cmap or overlay_cmap()
    run, tag = _resolve_attribution(reader, args.run, args.method)
    info = reader.tags()[run][tag]
    steps = reader.steps(run, tag)
    _warn_hidden(reader, run, tag)
    pictures = _probe_images(reader, run)
    num_images = min(info.num_images, len(pictures))
    if not num_images:
        raise ExportError("run %s has no probe images to lay the maps over (its probe holds %d, its %s "
                          "attributions %d)" % (run, len(pictures), args.method, info.num_images))
    step = None
    try:
        if args.view == "attention-evolution":
            images_text = "run %s has %d probe images (0 to %d)" % (run, num_images, num_images - 1)
            if args.image is None:
                raise ExportError("attention-evolution needs --image, the probe image to follow: "
                                  + images_text)
            if args.image >= num_images:
                raise ExportError("--image %d: %s" % (args.image, images_text))
            snapshots = []
            unreadable = []
            for logged in steps:
                try:
                    snapshots.append(reader.attribution(run, tag, logged))
                except (UnreadableDataError, errors.NotFoundError) as e:
                    unreadable.append((logged, e))
            _warn_left_out(unreadable)
            if not snapshots:
                raise ExportError("no step of the %s attributions of run %s can be read (%d tried)"
                                  % (args.method, run, len(steps)))
            frames = attention_frames(snapshots, pictures[args.image], args.image, cmap, args.opacity,
                                      args.levels)
            heading = "%s · %s · image %d · %s" % (run, method_text(info), args.image, cmap)
            _save([with_heading(frame, heading) for frame in frames], args.output, args.frame_ms)
        else:
            step = args.step
            if step is not None and step not in steps:
                raise ExportError("the %s attributions of run %s have no step %d; logged steps: %s"
                                  % (args.method, run, step, _describe_steps(steps)))
            snapshot = reader.attribution(run, tag, step)
            figure = attention_grid(snapshot, pictures, args.count, args.columns, cmap, args.opacity,
                                    args.levels)
            heading = "%s · %s · %s · %s" % (run, method_text(info), _step_text(info, snapshot.step), cmap)
            _save(with_heading(figure, heading), args.output)
    except (UnreadableDataError, errors.NotFoundError) as e:
        raise _read_error(e, run, tag, step, steps, args.view == "attention") from None
    return run, tag


def _export(args):
    _check_output(args.output, args.view)
    _check_logdir(args.logdir)
    try:
        reader = LogReader(args.logdir)
    except (ValueError, OSError) as e:  # a remote log dir that cannot be listed
        raise ExportError(str(e)) from None
    if args.view in ATTENTION_VIEWS:
        return _export_attention(reader, args)
    return _export_layer(reader, args)


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number from 0 to 1, got %r" % text) from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be from 0 to 1, got %s" % text)
    return value


_fraction.__name__ = "float"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tb-actviz", description="tb_actviz tools")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="render figures from a log dir")
    export.add_argument("view", choices=LAYER_VIEWS + ATTENTION_VIEWS)
    export.add_argument("--logdir", required=True)
    export.add_argument("--run", help="run name (default: the first run with the layer or attributions)")
    export.add_argument("--layer", help="layer path, e.g. vgg16/block1_conv1 (filters, images, evolution)")
    export.add_argument("--method", choices=ATTRIBUTION_METHODS, default="grad_cam",
                        help="attributions to show (attention views)")
    export.add_argument("--step", type=int, help="step (default: the last)")
    export.add_argument("--image", type=_at_least(0),
                        help="probe image index (default 0; attention-evolution: required)")
    export.add_argument("--filter", type=int, default=0, help="filter (channel) index")
    export.add_argument("--count", type=_at_least(1), default=49, help="tiles in a grid (7x7)")
    export.add_argument("--columns", type=_at_least(1), default=7)
    export.add_argument("--cmap", choices=sorted(colormaps.lookup_tables()),
                        help="colormap (default: viridis; attention views: %s)" % overlay_cmap())
    export.add_argument("--opacity", type=_fraction, default=0.5,
                        help="the map's opacity over the probe image (attention views; 0 to 1)")
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
