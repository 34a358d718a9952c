"""Each view of `tb-actviz export`, from the parsed command line to the
written file: what to read (`targets`), how to draw it (`layer_figures`,
`attention_figures`), the words on it (`captions`)."""

from tb_actviz.export import captions, targets
from tb_actviz.export.attention_figures import attention_frames, attention_grid, overlay_cmap
from tb_actviz.export.drawing import save_gif, with_heading
from tb_actviz.export.layer_figures import evolution_frames, filter_across_images, filters_of_image
from tb_actviz.export.targets import ExportError

LAYER_VIEWS = ("filters", "images", "evolution")
ATTENTION_VIEWS = ("attention", "attention-evolution")
ANIMATED_VIEWS = ("evolution", "attention-evolution")


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


def _save_frames(frames, heading, args):
    """An animation, each frame under `heading`, to -o."""
    _save([with_heading(frame, heading) for frame in frames], args.output, args.frame_ms)


def export_layer(reader, args):
    """filters, images or evolution of --layer: the (run, tag) drawn."""
    if args.layer is None:
        raise ExportError("%s needs --layer, the layer to show (e.g. vgg16/block1_conv1); logged "
                          "layers: %s" % (args.view, ", ".join(targets.logged_layers(reader.tags())) or "none"))
    image = 0 if args.image is None else args.image
    cmap = args.cmap or "viridis"
    run, tag = targets.resolve_layer(reader, args.run, args.layer)
    info = reader.tags()[run][tag]
    targets.check_image(info, image, run, args.layer)
    position = targets.filter_position(info, args.filter) if args.view != "filters" else None
    steps = reader.steps(run, tag)
    targets.warn_hidden(reader, run, tag)
    what = "layer %s of run %s" % (args.layer, run)
    try:
        if args.view == "evolution":
            unreadable = []
            series = reader.filter_series(run, tag, position, unreadable=unreadable)
            targets.warn_left_out(unreadable)
            if not series:
                raise targets.nothing_readable(what, steps)
            frames = evolution_frames(series, image, cmap, args.levels)
            _save_frames(frames, captions.evolution_heading(run, args.layer, args.filter, image), args)
        else:
            targets.check_step(args.step, steps, what + " has")
            snapshot = reader.layer(run, tag, args.step)
            step_text = captions.step_text(info, snapshot.step)
            if args.view == "filters":
                figure = filters_of_image(snapshot, image, args.count, args.columns, cmap, args.levels)
                labels = reader.labels(run)
                label = labels[image] if image < len(labels) else ""
                heading = captions.filters_heading(run, args.layer, step_text, image, label, cmap)
            else:
                figure = filter_across_images(
                    snapshot, position, reader.labels(run), args.count, args.columns, cmap, args.levels
                )
                heading = captions.images_heading(run, args.layer, step_text, args.filter, cmap)
            _save(with_heading(figure, heading), args.output)
    except targets.READ_ERRORS as e:
        raise targets.read_error(e, run, tag, args.step, steps, args.view != "evolution") from None
    return run, tag


def _readable_attributions(reader, run, tag, steps):
    """The attribution snapshots of every step that can be read; a warning
    for each one left out."""
    snapshots = []
    unreadable = []
    for logged in steps:
        try:
            snapshots.append(reader.attribution(run, tag, logged))
        except targets.READ_ERRORS as e:
            unreadable.append((logged, e))
    targets.warn_left_out(unreadable)
    return snapshots


def export_attention(reader, args):
    """attention or attention-evolution of --method: the (run, tag) drawn."""
    cmap = args.cmap or overlay_cmap()
    run, tag = targets.resolve_attribution(reader, args.run, args.method)
    info = reader.tags()[run][tag]
    steps = reader.steps(run, tag)
    targets.warn_hidden(reader, run, tag)
    pictures = targets.probe_images(reader, run)
    num_images = min(info.num_images, len(pictures))
    if not num_images:
        raise ExportError("run %s has no probe images to lay the maps over (its probe holds %d, its %s "
                          "attributions %d)" % (run, len(pictures), args.method, info.num_images))
    what = "the %s attributions of run %s" % (args.method, run)
    step = None
    try:
        if args.view == "attention-evolution":
            images_text = "run %s has %d probe images (0 to %d)" % (run, num_images, num_images - 1)
            if args.image is None:
                raise ExportError("attention-evolution needs --image, the probe image to follow: "
                                  + images_text)
            if args.image >= num_images:
                raise ExportError("--image %d: %s" % (args.image, images_text))
            snapshots = _readable_attributions(reader, run, tag, steps)
            if not snapshots:
                raise targets.nothing_readable(what, steps)
            frames = attention_frames(snapshots, pictures[args.image], args.image, cmap, args.opacity,
                                      args.levels)
            _save_frames(frames, captions.attention_evolution_heading(info, run, args.image, cmap), args)
        else:
            step = args.step
            targets.check_step(step, steps, what + " have")
            snapshot = reader.attribution(run, tag, step)
            figure = attention_grid(snapshot, pictures, args.count, args.columns, cmap, args.opacity,
                                    args.levels)
            _save(with_heading(figure, captions.attention_heading(info, run, snapshot.step, cmap)), args.output)
    except targets.READ_ERRORS as e:
        raise targets.read_error(e, run, tag, step, steps, args.view == "attention") from None
    return run, tag
