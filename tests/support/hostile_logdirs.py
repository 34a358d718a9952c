"""Hostile log dirs, written with TensorBoard's own protos: one run per case,
each holding one tag (or file) that a careless or malicious writer could
produce, beside a healthy run that must stay served.

`write(root)` writes every case; `CASES` names them with what is wrong. The
server, the tab and `tb-actviz export` are tested against these in
test_hostile_logdirs.py (and test_export.py).
"""

import json
import math
import os
import time
import zlib
import struct

import numpy as np

from tensorboard.compat.proto import event_pb2
from tensorboard.compat.proto import summary_pb2
from tensorboard.compat.proto import tensor_pb2
from tensorboard.compat.proto import tensor_shape_pb2
from tensorboard.compat.proto import types_pb2

from tb_actviz import metadata
from tb_actviz import plugin_data_pb2
from tb_actviz.write import summary_v2
from tb_actviz.format import blob_layout
from tb_actviz.format import geometry
from tb_actviz.format import pixel_file
from tb_actviz.write import event_file_writer
from tb_actviz.write import pixel_file_writer

FILTERS, IMAGES, SIZE = 3, 2, 8
HEALTHY_RUN = "healthy/train"
HEALTHY_LAYER = "conv"
BOMB_SIDE = 12000
DEEP_NESTING = 1100
HUGE_CLAIM = 2**30

CASES = {
    "undecodable_metadata": "plugin_data.content is not a protobuf (DecodeError)",
    "newer_version": "metadata of a format version newer than this tb_actviz reads",
    "float_tensor": "a layer tag whose tensor is float, not a string tensor",
    "string_matrix": "a layer tag whose string tensor is 2-D",
    "scalar_string": "a layer tag whose string tensor is a scalar",
    "no_blobs": "a layer tag whose string tensor is empty",
    "bad_png": "version 0: strip blobs that are not PNGs",
    "png_bomb": "version 0: a strip PNG declaring %dx%d" % (BOMB_SIDE, BOMB_SIDE),
    "wrong_stats_size": "version 0: a statistics blob of the wrong length",
    "wrong_summary_size": "version 1: a summary blob of the wrong length",
    "pixel_file_garbage": "version 1: a pixel file that is not one",
    "pixel_png_bomb": "version 1: a pixel file whose strip PNG declares %dx%d" % (BOMB_SIDE, BOMB_SIDE),
    "huge_steps": "a step above 2**53 and one below 0",
    "nan_wall_time": "a step whose wall time is NaN",
    "pixel_fifo": "version 1: step 0's pixel file is a FIFO (its open would wait for a writer)",
    "pixel_deep_header": "version 1: step 0's pixel file header is %d nested JSON arrays" % DEEP_NESTING,
    "pixel_huge_claim": "version 1: step 0's pixel file header gives blob 1 %d bytes (a sparse file, "
                        "a PNG header first)" % HUGE_CLAIM,
    "pixel_newer_layout": "version 1: step 0's pixel file has the magic of a newer layout (ACTVIZ02)",
    "probe_png_bomb": "a probe image PNG declaring %dx%d, beside a healthy layer and attribution"
                      % (BOMB_SIDE, BOMB_SIDE),
    "duplicate_path": "two tags of one layer path",
    "damaged_attribution": "an attribution tag: a record of the wrong length (step 0), a strip PNG "
                           "declaring %dx%d (step 1)" % (BOMB_SIDE, BOMB_SIDE),
}


def _maps(seed=0):
    rng = np.random.default_rng(seed)
    return np.maximum(rng.standard_normal((IMAGES, FILTERS, SIZE, SIZE)), 0).astype(np.float32)


def layer_data(path="conv", index=1):
    g = geometry.MapGeometry("maps", False, SIZE, SIZE, FILTERS, 1)
    return blob_layout.layer_plugin_data(path, index, "Conv2D", (SIZE, SIZE, FILTERS), g, IMAGES)


def _event(step, tag, blobs, data, version=metadata.PROTO_VERSION, wall_time=None):
    summary = summary_v2.activations_pb(tag, blobs, data, version=version)
    return event_pb2.Event(step=step, wall_time=time.time() if wall_time is None else wall_time,
                           summary=summary)


def _raw_event(step, tag, content, tensor):
    """An event of an activations tag with any metadata bytes and any tensor."""
    md = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=metadata.PLUGIN_NAME, content=content),
        data_class=summary_pb2.DATA_CLASS_BLOB_SEQUENCE,
    )
    value = summary_pb2.Summary.Value(tag=tag, metadata=md, tensor=tensor)
    return event_pb2.Event(step=step, wall_time=time.time(), summary=summary_pb2.Summary(value=[value]))


def _tensor(dtype, shape, **values):
    return tensor_pb2.TensorProto(
        dtype=dtype,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in shape]),
        **values,
    )


def _content(version=metadata.PROTO_VERSION, **fields):
    data = layer_data(**fields)
    data.version = version
    return data.SerializeToString()


def png_bomb(side=BOMB_SIDE):
    """A valid gray PNG of side x side zeros (~140 KB for 12000)."""
    row = b"\x00" + bytes(side)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def _v0_layer(tag, step=0, break_blobs=None):
    blobs, _, _ = blob_layout.layer_blobs(_maps(step))
    if break_blobs:
        blobs = break_blobs(blobs)
    return _event(step, tag, blobs, layer_data(), version=0)


def _write_v1_steps(run_dir, tag, steps, data=None, summary=None, pixels=None, wall_times=None):
    """Version-1 events (and pixel files) of `tag` at `steps`."""
    writer = event_file_writer.EventFileWriter(run_dir)
    files = pixel_file_writer.PixelFileWriter(run_dir)
    for k, step in enumerate(steps):
        wall_time = wall_times[k] if wall_times else time.time()
        blobs, summary_blob, _ = blob_layout.layer_blobs(_maps(k))
        if pixels is not None:
            blobs = pixels(blobs)
        if not (isinstance(wall_time, float) and math.isnan(wall_time)):
            files.write(step, wall_time, [(tag, blobs)])
        event = _event(step, tag, [summary if summary is not None else summary_blob],
                       data or layer_data(), wall_time=wall_time)
        writer.write_events([event])
    writer.close()


def attribution_data():
    maps = geometry.map_geometry("input", (SIZE, SIZE, 1), False, 1, SIZE)
    return blob_layout.attribution_plugin_data("saliency", None, maps, IMAGES, "predicted", "softmax")


def _write_attribution(run_dir, damaged=False):
    """Steps 0 and 1 of a saliency tag; `damaged`: step 0's record is short
    by one value, step 1's strip is a PNG bomb."""
    tag = metadata.attribution_tag("saliency")
    writer = event_file_writer.EventFileWriter(run_dir)
    files = pixel_file_writer.PixelFileWriter(run_dir)
    predictions = np.tile(np.float32([1, 0.9, 1, 0.9]), (IMAGES, 1))
    for step in (0, 1):
        wall_time = time.time()
        blobs, record = blob_layout.attribution_blobs(_maps(step)[:, :1], predictions)
        if damaged and step == 0:
            record = record[:-4]
            blobs = [record, blobs[1]]
        elif damaged:
            blobs = [blobs[0], png_bomb()]
        files.write(step, wall_time, [(tag, blobs)])
        writer.write_events([_event(step, tag, [record], attribution_data(), wall_time=wall_time)])
    writer.close()


def _write_probe(run_dir, pngs):
    data = blob_layout.probe_plugin_data(["image %d" % k for k in range(len(pngs))], 1)
    _write_events(run_dir, [_event(0, metadata.PROBE_TAG, pngs, data)])


def pixel_file_of(run_dir, step):
    """The path of the one pixel file of `step` in `run_dir`."""
    folder = os.path.join(run_dir, *pixel_file.PLUGIN_DIR)
    (name,) = [n for n in os.listdir(folder) if n.startswith("%010d." % step)]
    return os.path.join(folder, name)


def _replace_file(path, head, apparent_size=None):
    """Writes `head` over `path` (and extends it, sparse, to `apparent_size`)."""
    with open(path, "wb") as f:
        f.write(head)
        if apparent_size is not None:
            f.truncate(apparent_size)


def _pixel_header(tag_lengths, step=0):
    header = json.dumps({"step": step, "wall_time": 1.0, "tags": tag_lengths}).encode()
    return pixel_file.MAGIC + struct.pack("<I", len(header)) + header


def _write_events(run_dir, events):
    writer = event_file_writer.EventFileWriter(run_dir)
    writer.write_events(events)
    writer.close()


def write_case(root, case):
    """Writes run `<case>/train` under `root`; returns its run name."""
    run_dir = os.path.join(root, case, "train")
    tag = metadata.layer_tag(case)
    if case == "undecodable_metadata":
        _write_events(run_dir, [_raw_event(0, tag, b"\xff\xff\xff\xff", _tensor(
            types_pb2.DT_STRING, [1], string_val=[b"x"]))])
    elif case == "newer_version":
        _write_events(run_dir, [_raw_event(0, tag, _content(version=metadata.PROTO_VERSION + 98, path=case),
                                           _tensor(types_pb2.DT_STRING, [1], string_val=[b"x"]))])
    elif case == "float_tensor":
        _write_events(run_dir, [_raw_event(0, tag, _content(version=0, path=case), _tensor(
            types_pb2.DT_FLOAT, [4], float_val=[1.0, 2.0, 3.0, 4.0]))])
    elif case == "string_matrix":
        _write_events(run_dir, [_raw_event(0, tag, _content(version=0, path=case), _tensor(
            types_pb2.DT_STRING, [2, 2], string_val=[b"a", b"b", b"c", b"d"]))])
    elif case == "scalar_string":
        _write_events(run_dir, [_raw_event(0, tag, _content(version=0, path=case), _tensor(
            types_pb2.DT_STRING, [], string_val=[b"a"]))])
    elif case == "no_blobs":
        _write_events(run_dir, [_raw_event(0, tag, _content(version=1, path=case), _tensor(
            types_pb2.DT_STRING, [0]))])
    elif case == "bad_png":
        _write_events(run_dir, [_v0_layer(tag, break_blobs=lambda b: [b[0]] + [b"not a png"] * (len(b) - 1))])
    elif case == "png_bomb":
        _write_events(run_dir, [_v0_layer(tag, break_blobs=lambda b: [b[0], png_bomb()] + b[2:])])
    elif case == "wrong_stats_size":
        _write_events(run_dir, [_v0_layer(tag, break_blobs=lambda b: [b[0][:-8]] + b[1:])])
    elif case == "wrong_summary_size":
        _write_v1_steps(run_dir, tag, [0], summary=b"\x00" * 12)
    elif case == "pixel_file_garbage":
        _write_v1_steps(run_dir, tag, [0])
        folder = os.path.join(run_dir, *pixel_file.PLUGIN_DIR)
        for name in os.listdir(folder):
            with open(os.path.join(folder, name), "wb") as f:
                f.write(b"ACTVIZ01" + b"\xff" * 64)
    elif case == "pixel_png_bomb":
        _write_v1_steps(run_dir, tag, [0], pixels=lambda b: [b[0], png_bomb()] + b[2:])
    elif case == "huge_steps":
        # Ascending: TensorBoard's Python loader drops the steps after one that goes back.
        _write_v1_steps(run_dir, tag, [-5, 2**60])
    elif case == "nan_wall_time":
        # The Rust data server stops reading a file at such an event; the Python loader reads it.
        _write_v1_steps(run_dir, tag, [1, 2], wall_times=[time.time(), float("nan")])
    elif case == "pixel_fifo":
        _write_v1_steps(run_dir, tag, [0, 1])
        path = pixel_file_of(run_dir, 0)
        os.remove(path)
        os.mkfifo(path)
    elif case == "pixel_deep_header":
        _write_v1_steps(run_dir, tag, [0, 1])
        nested = b"[" * DEEP_NESTING + b"]" * DEEP_NESTING
        _replace_file(pixel_file_of(run_dir, 0), pixel_file.MAGIC + struct.pack("<I", len(nested)) + nested)
    elif case == "pixel_huge_claim":
        _write_v1_steps(run_dir, tag, [0, 1])
        stats_length = 4 * FILTERS * IMAGES * len(metadata.STAT_NAMES)
        head = _pixel_header([[tag, [stats_length, HUGE_CLAIM] + [100] * (FILTERS - 1)]])
        strip = blob_layout.layer_blobs(_maps())[0][1]
        size = len(head) + stats_length + HUGE_CLAIM + 100 * (FILTERS - 1)
        _replace_file(pixel_file_of(run_dir, 0), head + bytes(stats_length) + strip[:33], size)
    elif case == "pixel_newer_layout":
        _write_v1_steps(run_dir, tag, [0, 1])
        path = pixel_file_of(run_dir, 0)
        with open(path, "r+b") as f:
            f.write(b"ACTVIZ02")
    elif case == "probe_png_bomb":
        _write_v1_steps(run_dir, tag, [0, 1], data=layer_data(path=case))
        _write_attribution(run_dir)
        healthy = blob_layout.probe_blobs(np.zeros((1, SIZE, SIZE, 1), np.float32), 2 * SIZE, False)[0]
        _write_probe(run_dir, healthy + [png_bomb()])
    elif case == "duplicate_path":
        _write_v1_steps(run_dir, tag, [0], data=layer_data(path="twin", index=1))
        _write_v1_steps(run_dir, metadata.layer_tag("twin"), [0], data=layer_data(path="twin", index=2))
    elif case == "damaged_attribution":
        _write_v1_steps(run_dir, tag, [0, 1], data=layer_data(path=case))
        _write_attribution(run_dir, damaged=True)
    else:
        raise KeyError(case)
    return "%s/train" % case


def write_healthy(root):
    run_dir = os.path.join(root, HEALTHY_RUN)
    _write_v1_steps(run_dir, metadata.layer_tag(HEALTHY_LAYER), [0, 1, 2])
    return HEALTHY_RUN


def write(root, cases=None):
    """The healthy run and every case (or `cases`) under `root`; returns run names."""
    runs = [write_healthy(root)]
    for case in cases or CASES:
        runs.append(write_case(root, case))
    return runs


# Beside `write`'s runs, for LogReader and `tb-actviz export`
# (tests/unit/test_reader.py, tests/integration/test_export_hostile.py) ----------

# A run named to sort before the healthy one, whose layer "conv" is of a
# newer format: without --run, export must take the healthy run's.
NEWER_CONV_RUN = "aaa_newer_conv/train"
# Layer "conv" at steps 0, 1, 2; step 1's wall time is NaN, so it has no
# pixel file name. (The "huge_steps" case's NaN step is dropped by
# TensorBoard's loader when it follows a larger step.)
NAN_RUN = "nan_wall_time/train"


def write_newer_conv(root):
    content = _content(version=metadata.PROTO_VERSION + 98, path="conv")
    tensor = _tensor(types_pb2.DT_STRING, [1], string_val=[b"x"])
    _write_events(os.path.join(root, NEWER_CONV_RUN), [
        _raw_event(0, metadata.layer_tag("conv"), content, tensor)])


def write_nan_wall_time_run(root):
    start = time.time()
    _write_v1_steps(os.path.join(root, NAN_RUN), metadata.layer_tag("conv"), [0, 1, 2],
                    wall_times=[start, float("nan"), start + 1])
