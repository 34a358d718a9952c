"""The `tb-actviz` command line: its options, the checks of their values
(before anything is read), and its output: `wrote ...`, or one line
`tb-actviz export: error: ...` and exit status 2."""

import argparse
import os
import sys

from PIL import Image

from tb_actviz import remote_files
from tb_actviz.export import views
from tb_actviz.export.attention_figures import overlay_cmap
from tb_actviz.export.targets import ExportError
from tb_actviz.format import colormaps
from tb_actviz.reader import LogReader

ATTRIBUTION_METHODS = ("grad_cam", "saliency")


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


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number from 0 to 1, got %r" % text) from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be from 0 to 1, got %s" % text)
    return value


_fraction.__name__ = "float"


def _check_output(path, view):
    """Refuses an output that cannot be written before anything is read."""
    extension = os.path.splitext(path)[1].lower()
    if os.path.isdir(path):
        raise ExportError("-o %s is a directory; give a file name, e.g. %s"
                          % (path, os.path.join(path, "figure" + (extension or ".png"))))
    formats = Image.registered_extensions()  # also loads Pillow's plugins
    animated = view in views.ANIMATED_VIEWS
    usable = Image.SAVE_ALL if animated else Image.SAVE
    known = sorted(ext for ext, name in formats.items() if name in usable)
    if formats.get(extension) not in usable:
        what = "an animation (one frame per step)" if animated else "an image"
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


def _export(args):
    _check_output(args.output, args.view)
    _check_logdir(args.logdir)
    try:
        reader = LogReader(args.logdir)
    except (ValueError, OSError) as e:  # a remote log dir that cannot be listed
        raise ExportError(str(e)) from None
    if args.view in views.ATTENTION_VIEWS:
        return views.export_attention(reader, args)
    return views.export_layer(reader, args)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tb-actviz", description="tb_actviz tools")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="render figures from a log dir")
    export.add_argument("view", choices=views.LAYER_VIEWS + views.ATTENTION_VIEWS)
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
