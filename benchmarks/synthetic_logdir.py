"""A synthetic tb_actviz log dir at scale, in the real format, written fast.

VGG16's 13 conv layers as `ActivationLogger` stores them at its defaults
(`max_filters` filters at most, maps downsampled by an integer factor to at most
`max_map_size` px a side)
for 8 probe images, `--steps` logged steps, `--runs` runs, plus the probe tag:

    python benchmarks/synthetic_logdir.py --out /tmp/actviz_synth --layers 13 --steps 300 --runs 2

Runs are `<out>/run<k>/train` (the callback's `<log_dir>/train`). Everything is
written with tb_actviz's own functions (`summary_v2.activations_pb`,
`blob_layout`, `EventFileWriter`, `PixelFileWriter`, `images.encode_png`), so
the files are what the callback writes: in the current format (version 1:
the pixels in the plugin's own files, the layers' summaries in one event per
log, `summary_v2.layer_summaries_pb`), with `--layer-event-summaries` as
version 1 was written before December 2026 (each layer-step's summary in its
own event), or, with `--format 0`, the old one (every blob in the event
files). Pixels are post-ReLU smooth noise
(bilinear-upsampled coarse Gaussian noise, clipped at a threshold, plus a little
fine noise), which PNG compresses about as well as real activations of VGG16 on
photos; to stay fast, each geometry has a pool of encoded strips that steps draw
from (every stored blob is still a separate copy, as in a real log dir).
"""

import argparse
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

# name, index in keras.applications.VGG16(include_top=False).layers, output (H, W, C)
VGG16_CONV_224 = [
    ("block1_conv1", 1, (224, 224, 64)),
    ("block1_conv2", 2, (224, 224, 64)),
    ("block2_conv1", 4, (112, 112, 128)),
    ("block2_conv2", 5, (112, 112, 128)),
    ("block3_conv1", 7, (56, 56, 256)),
    ("block3_conv2", 8, (56, 56, 256)),
    ("block3_conv3", 9, (56, 56, 256)),
    ("block4_conv1", 11, (28, 28, 512)),
    ("block4_conv2", 12, (28, 28, 512)),
    ("block4_conv3", 13, (28, 28, 512)),
    ("block5_conv1", 15, (14, 14, 512)),
    ("block5_conv2", 16, (14, 14, 512)),
    ("block5_conv3", 17, (14, 14, 512)),
]

from tb_actviz.callback import DEFAULT_MAX_FILTERS as MAX_FILTERS  # noqa: E402
from tb_actviz.callback import DEFAULT_MAX_MAP_SIZE as MAX_MAP_SIZE  # noqa: E402


def layer_specs(count):
    """`count` layers: VGG16's conv geometries, repeated with a suffix past 13."""
    specs = []
    for i in range(count):
        name, index, shape = VGG16_CONV_224[i % len(VGG16_CONV_224)]
        if i >= len(VGG16_CONV_224):
            name, index = "%s_copy%d" % (name, i // len(VGG16_CONV_224)), 100 + i
        h, w, c = shape
        factor = max(1, math.ceil(max(h, w) / MAX_MAP_SIZE))
        specs.append({
            "name": name, "index": index, "shape": shape, "factor": factor,
            "filters": min(c, MAX_FILTERS),
            "map_h": math.ceil(h / factor), "map_w": math.ceil(w / factor),
        })
    return specs


def smooth_maps(rng, count, h, w, coarse=5, threshold=0.0, fine=8.0):
    """`count` uint8 maps h x w: post-ReLU-like smooth noise, per-map 0..255."""
    ch, cw = max(2, h // coarse), max(2, w // coarse)
    out = np.empty((count, h, w), np.uint8)
    for i in range(count):
        low = rng.standard_normal((ch, cw)).astype(np.float32)
        up = np.asarray(Image.fromarray(low, mode="F").resize((w, h), Image.BILINEAR))
        x = np.maximum(up - threshold, 0.0)
        high = x.max()
        q = x * (255.0 / high) if high > 0 else x
        zero = q == 0
        q = q + rng.normal(0.0, fine, size=q.shape)
        q[zero] = 0  # ReLU zeros stay exactly zero, as in real maps
        out[i] = np.clip(np.round(q), 0, 255).astype(np.uint8)
    return out


def strip_pool(rng, spec, images, pool, encode_png):
    """`pool` encoded strips (h x images*w PNGs) of one geometry."""
    h, w = spec["map_h"], spec["map_w"]
    maps = smooth_maps(rng, pool * images, h, w)
    strips = maps.reshape(pool, images, h, w).transpose(0, 2, 1, 3).reshape(pool, h, images * w)
    return [encode_png(s) for s in strips]


def layer_plugin_data(spec, images):
    from tb_actviz.format import blob_layout, geometry

    h, w, c = spec["shape"]
    g = geometry.MapGeometry("maps", False, h, w, spec["filters"], spec["factor"])
    return blob_layout.layer_plugin_data(spec["name"], spec["index"], "Conv2D", (h, w, c), g, images)


def generate(out, layers=13, steps=300, runs=2, images=8, pool=96, seed=0, quiet=False,
             format_version=None, layer_event_summaries=False):
    """Writes the log dir; returns a summary dict (bytes, seconds, runs, tags).

    `layer_event_summaries`: in version 1, each layer-step's summary in its
    own event (as written before December 2026) instead of one SUMMARIES
    event per log."""
    from tensorboard.compat.proto import event_pb2

    from tb_actviz import metadata
    from tb_actviz.write import summary_v2
    from tb_actviz.format import blob_layout
    from tb_actviz.format import images as images_lib
    from tb_actviz.write import event_file_writer
    from tb_actviz.write import pixel_file_writer

    if format_version is None:
        format_version = metadata.PROTO_VERSION

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    specs = layer_specs(layers)
    pools = {}
    for spec in specs:
        key = (spec["map_h"], spec["map_w"])
        if key not in pools:
            pools[key] = strip_pool(rng, spec, images, pool, images_lib.encode_png)
    per_layer_step_bytes = {}
    labels = ["face" if i % 2 else "not face" for i in range(images)]
    probe_pixels = [smooth_maps(rng, 3, 128, 128, coarse=16, threshold=-9, fine=3.0)
                    .transpose(1, 2, 0) for _ in range(images)]
    probe_blobs = [images_lib.encode_png(p) for p in probe_pixels]
    probe_data = blob_layout.probe_plugin_data(labels, channels=3)
    run_names = []
    for r in range(runs):
        run_dir = os.path.join(out, "run%d" % (r + 1), "train")
        run_names.append(os.path.relpath(run_dir, out))
        # As LogWriter writes now; the older layouts as their writers did (metadata every event).
        writer = event_file_writer.EventFileWriter(
            run_dir, metadata_once=format_version >= 1 and not layer_event_summaries)
        pixel_files = pixel_file_writer.PixelFileWriter(run_dir)
        plugin_data = [layer_plugin_data(s, images) for s in specs]

        def event(step, wall_time, tag, blobs, data):
            summary = summary_v2.activations_pb(tag, blobs, data, version=format_version)
            return event_pb2.Event(step=step, wall_time=wall_time, summary=summary)

        writer.write_events([event(0, time.time(), metadata.PROBE_TAG, probe_blobs, probe_data)])
        for step in range(steps):
            wall_time = time.time()
            events, pixels, layer_summaries = [], [], []
            for spec, data in zip(specs, plugin_data):
                strips = pools[(spec["map_h"], spec["map_w"])]
                chosen = rng.choice(len(strips), spec["filters"],
                                    replace=len(strips) < spec["filters"])
                stats = rng.random((spec["filters"], images, len(metadata.STAT_NAMES)),
                                   dtype=np.float32)
                blobs = [stats.astype("<f4").tobytes()] + [strips[i] for i in chosen]
                if r == 0 and step == 0:
                    per_layer_step_bytes[spec["name"]] = sum(len(b) for b in blobs)
                tag = metadata.layer_tag(spec["name"])
                if format_version >= 1:
                    pixels.append((tag, blobs))
                    summary = blob_layout.layer_summary_blob(stats.transpose(1, 0, 2))
                    blobs = [summary] if layer_event_summaries else []
                    layer_summaries.append((tag, summary))
                events.append(event(step, wall_time, tag, blobs, data))
            if layer_summaries and not layer_event_summaries:
                events.append(event_pb2.Event(step=step, wall_time=wall_time, summary=(
                    summary_v2.layer_summaries_pb(layer_summaries, version=format_version))))
            if pixels:
                pixel_files.write(step, wall_time, pixels)
            writer.write_events(events)
            if not quiet and (step + 1) % 100 == 0:
                print("  %s: %d/%d steps (%.0f s)" % (run_names[-1], step + 1, steps,
                                                    time.perf_counter() - started), flush=True)
        writer.close()
    total = plugin_bytes = 0
    for dirpath, _, files in os.walk(out):
        size = sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
        total += size
        if os.sep + os.path.join("plugins", "activations") in dirpath:
            plugin_bytes += size
    return {
        "out": out,
        "runs": run_names,
        "layers": [s["name"] for s in specs],
        "tags": [metadata.layer_tag(s["name"]) for s in specs],
        "steps": steps,
        "images": images,
        "bytes_per_step_per_layer": per_layer_step_bytes,
        "bytes_per_step": sum(per_layer_step_bytes.values()),
        "total_bytes": total,
        "event_bytes": total - plugin_bytes,
        "plugin_bytes": plugin_bytes,
        "format": format_version,
        "layer_event_summaries": bool(layer_event_summaries and format_version >= 1),
        "seconds": time.perf_counter() - started,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="log dir to create (must not exist)")
    parser.add_argument("--layers", type=int, default=13)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--pool", type=int, default=96,
                        help="distinct encoded strips per map geometry")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="write into an existing --out")
    parser.add_argument("--format", type=int, choices=[0, 1], default=None,
                        help="stored format version (default: the current one)")
    parser.add_argument("--layer-event-summaries", action="store_true",
                        help="version 1 as written before December 2026: each layer-step's "
                             "summary in its own event, not one summaries event per log")
    args = parser.parse_args(argv)
    if os.path.exists(args.out) and os.listdir(args.out) and not args.force:
        parser.error("--out %s exists and is not empty (use --force to add to it)" % args.out)
    summary = generate(args.out, args.layers, args.steps, args.runs, args.images, args.pool,
                       args.seed, format_version=args.format,
                       layer_event_summaries=args.layer_event_summaries)
    print("wrote %s: %d run(s) x %d layer(s) x %d step(s), %.1f MB per step "
          "(all layers), %.2f GB in total (event files %.3f GB, plugin files %.2f GB; "
          "format %d), in %.0f s" % (
              summary["out"], len(summary["runs"]), len(summary["layers"]), summary["steps"],
              summary["bytes_per_step"] / 1e6, summary["total_bytes"] / 1e9,
              summary["event_bytes"] / 1e9, summary["plugin_bytes"] / 1e9, summary["format"],
              summary["seconds"]))
    for name, n in summary["bytes_per_step_per_layer"].items():
        print("  %-16s %8.1f KB per step" % (name, n / 1e3))
    import json

    print("JSON " + json.dumps({k: v for k, v in summary.items()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
