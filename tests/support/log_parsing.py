"""Reading what the tests wrote or were served, independently of
tb_actviz's own readers: the routes' framing (`parse_blobs`, `parse_series`),
the plugin's pixel files and event files (`pixel_file_blobs`, `read_run`,
`logged_steps`), de-quantizing (`dequantize`), the stored maps' area average
(`area_average`) and a bounded PNG decode (`decode_png`).

No Keras and no TensorFlow: the protobuf-range venvs import it too.
"""

import json
import os
import struct

import numpy as np


def parse_blobs(body):
    """Splits a `/blobs` body: repeated (u32 LE length, bytes)."""
    blobs, offset = [], 0
    while offset < len(body):
        assert offset + 4 <= len(body), "truncated length prefix"
        (n,) = struct.unpack_from("<I", body, offset)
        offset += 4
        assert offset + n <= len(body), "truncated blob"
        blobs.append(body[offset:offset + n])
        offset += n
    return blobs


def parse_series(body):
    """Splits a `/series` body: repeated (i64 step, f64 wall time, u32 length, bytes)."""
    entries, offset = [], 0
    while offset < len(body):
        assert offset + 20 <= len(body), "truncated series header"
        step, wall_time, n = struct.unpack_from("<qdI", body, offset)
        offset += 20
        assert offset + n <= len(body), "truncated series blob"
        entries.append((step, wall_time, body[offset:offset + n]))
        offset += n
    return entries


def dequantize(q, low, high):
    """docs/format.md: x ~= min + q * (max - min) / 255."""
    return low + q.astype(np.float64) / 255.0 * (high - low)


def area_average(x, factor):
    """Mean of each factor x factor block of an NHWC array, over the values
    inside the map (edge blocks are partial)."""
    if factor == 1:
        return x.astype(np.float64)
    n, h, w, c = x.shape
    oh, ow = -(-h // factor), -(-w // factor)
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            block = x[:, i * factor:(i + 1) * factor, j * factor:(j + 1) * factor, :]
            out[:, i, j, :] = block.astype(np.float64).mean(axis=(1, 2))
    return out


def pixel_file_blobs(run_dir, tag, step, wall_time):
    """The blobs of `tag` in the plugin's own file of one log, parsed as
    docs/format.md describes it (independently of tb_actviz's reader)."""
    name = "%010d.%d.actviz" % (step, round(wall_time * 1e6))
    with open(os.path.join(run_dir, "plugins", "activations", name), "rb") as f:
        data = f.read()
    assert data[:8] == b"ACTVIZ01"
    (length,) = struct.unpack_from("<I", data, 8)
    header = json.loads(data[12:12 + length])
    assert (header["step"], header["wall_time"]) == (step, wall_time)
    offset = 12 + length
    for name, lengths in header["tags"]:
        blobs = []
        for n in lengths:
            blobs.append(data[offset:offset + n])
            offset += n
        if name == tag:
            return blobs
    raise KeyError(tag)


def read_run(run_dir, events_only=False):
    """Every tensor summary of one run directory, read by TensorBoard's Python
    loader: {tag: [(step, wall_time, numpy value), ...]} sorted by step, and
    {tag: SummaryMetadata}. For the layer tags of format version 1 the value
    is the blobs of the plugin's own file of that log (the event holds only a
    summary), unless `events_only`."""
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea
    from tensorboard.util import tensor_util

    from tb_actviz import metadata

    accumulator = pea.EventAccumulator(run_dir, size_guidance={pea.TENSORS: 0})
    accumulator.Reload()
    values, metadatas = {}, {}
    for tag in accumulator.Tags()[pea.TENSORS]:
        md = accumulator.SummaryMetadata(tag)
        in_plugin_files = (
            not events_only
            and md.plugin_data.plugin_name == metadata.PLUGIN_NAME
            and metadata.pixels_in_plugin_files(
                metadata.parse_plugin_metadata(md.plugin_data.content))
        )

        def value(e):
            if in_plugin_files:
                return np.array(pixel_file_blobs(run_dir, tag, e.step, e.wall_time), dtype=object)
            return tensor_util.make_ndarray(e.tensor_proto)

        values[tag] = sorted(
            ((e.step, e.wall_time, value(e)) for e in accumulator.Tensors(tag)),
            key=lambda item: item[0],
        )
        metadatas[tag] = md
    return values, metadatas


def logged_steps(run_dir, tag):
    values, _ = read_run(run_dir)
    return [step for step, _, _ in values.get(tag, [])]


def decode_png(data):
    """A PNG the tests wrote or were served, decoded (bounded as every
    decode is, generously: tests' images are small)."""
    from tb_actviz.format import images

    return images.decode_png(data, max_side=16384)
