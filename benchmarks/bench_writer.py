"""Throughput of tb_actviz's TensorFlow-free event-file writer.

`tb_actviz.write.event_file_writer.EventFileWriter.write_events` frames a log's
events (serialization, two masked CRC32C per record), writes them with
`os.write` and `os.fsync`s the file. This prints, for two synthetic logs of
incompressible bytes (PNG strips do not compress further):

- `vgg16-13`: one log of VGG16's 13 conv layers at the callback's defaults,
  one blob-sequence event per layer with the sizes of README "Bytes per log"
  (303 KB ... 65 KB, 2.5 MB in all);
- `seed-2`: the seed case, block1_conv1 + block5_conv3 (368 KB);
- `block1_conv1`: that layer alone (303 KB);
- `one-2.5MB`: a single 2.5 MB event.

the median over `--runs` (default 7) `write_events` calls with the CRC32C the
module uses and, in the same run and alternately, with TensorBoard's
pure-Python `masked_crc32c` (the baseline and the fallback), their MB/s and
ratio; the CRC alone per implementation (with `crc32c` too when it is
installed); where the time goes (framing + CRC without I/O, `os.write`,
`os.fsync`); and one `JSON {...}` line.

    python benchmarks/bench_writer.py
    python benchmarks/bench_writer.py --dir /path/on/another/filesystem

`writer_throughput(total_bytes, records)` is importable (for
bench_callback.py): the same measurement for a log of `records` events of
equal size.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from report import fmt_bytes, fmt_s, print_table  # noqa: E402
from tensorboard.compat.proto import event_pb2  # noqa: E402
from tensorboard.compat.tensorflow_stub import pywrap_tensorflow  # noqa: E402

from tb_actviz import metadata, plugin_data_pb2  # noqa: E402
from tb_actviz.write import summary_v2  # noqa: E402
from tb_actviz.write import event_file_writer as efw  # noqa: E402

# README "Bytes per log": VGG16's conv layers at the defaults, 8 images, KB.
VGG16_LOG_KB = [303, 322, 244, 213, 210, 218, 205, 191, 212, 190, 56, 64, 65]
SEED_LOG_KB = [303, 65]  # block1_conv1 + block5_conv3
FILTERS = 49
STATS_BYTES = FILTERS * 8 * 6 * 4  # float32 [F, N, K]


def _layer_event(step, size, index):
    """A blob-sequence event of about `size` bytes laid out like a layer:
    a statistics blob, then one strip per filter."""
    stats = min(STATS_BYTES, size // 4)
    strip = max(1, (size - stats) // FILTERS)
    blobs = [os.urandom(stats)] + [os.urandom(strip) for _ in range(FILTERS)]
    summary = summary_v2.activations_pb(
        "actviz/layers/layer%d" % index, blobs, plugin_data_pb2.ActivationsPluginData(kind=metadata.Kind.LAYER)
    )
    return event_pb2.Event(wall_time=time.time(), step=step, summary=summary)


def _log(sizes):
    return [_layer_event(1, size, i) for i, size in enumerate(sizes)]


class _crc:
    """Within it, event_file_writer checksums with `crc32c` (a function of
    bytes -> unmasked CRC32C)."""

    def __init__(self, crc32c):
        self._crc32c = crc32c

    def __enter__(self):
        self._saved, efw._crc32c = efw._crc32c, self._crc32c

    def __exit__(self, *exc):
        efw._crc32c = self._saved


def _median(values):
    return float(statistics.median(values))


def _throughput(sizes, runs=7, directory=None, baseline=True, others=()):
    """write_events of one log of events of `sizes` bytes, `runs` times, with
    the module's CRC and alternately with the baselines: a dict of numbers."""
    events = _log(sizes)
    arms = [(efw.CRC32C_IMPLEMENTATION, efw._crc32c)]
    if baseline:
        arms.append(("tensorboard-python", pywrap_tensorflow.crc32c))
    arms.extend(others)
    times = {name: [] for name, _ in arms}
    written = {}
    with tempfile.TemporaryDirectory(prefix="bench_writer_", dir=directory) as root:
        writers = {}
        for name, crc in arms:
            writers[name] = efw.EventFileWriter(os.path.join(root, name))
            with _crc(crc):  # creates the file: later calls time appends only
                writers[name].write_events([_layer_event(0, 1000, 0)])
        for _ in range(runs):
            for name, crc in arms:
                with _crc(crc):
                    start = time.perf_counter()
                    written[name] = writers[name].write_events(events)
                    times[name].append(time.perf_counter() - start)
        breakdown = _breakdown(events, runs, root)
        serialized = [e.SerializeToString() for e in events]
        crc_times = {name: [] for name, _ in arms}
        for _ in range(runs):
            for name, crc in arms:
                with _crc(crc):
                    start = time.perf_counter()
                    for data in serialized:
                        efw.masked_crc32c(data)
                    crc_times[name].append(time.perf_counter() - start)
        for writer in writers.values():
            writer.close()
    total = written[arms[0][0]]
    result = {
        "records": len(sizes),
        "bytes": total,
        "runs": runs,
        "crc": efw.CRC32C_IMPLEMENTATION,
        "arms": {},
        **breakdown,
    }
    for name, _ in arms:
        seconds = _median(times[name])
        crc_seconds = _median(crc_times[name])
        result["arms"][name] = {
            "seconds": seconds,
            "mb_per_s": total / seconds / 1e6,
            "crc_seconds": crc_seconds,
            "crc_mb_per_s": total / crc_seconds / 1e6,
        }
    ours = result["arms"][arms[0][0]]
    result["seconds"], result["mb_per_s"] = ours["seconds"], ours["mb_per_s"]
    if baseline:
        result["speedup_vs_python_crc"] = (
            result["arms"]["tensorboard-python"]["seconds"] / ours["seconds"]
        )
    return result


def _breakdown(events, runs, root):
    """Medians of the parts of write_events: framing + CRC, write, fsync."""
    frame, write, sync = [], [], []
    fd = os.open(os.path.join(root, "breakdown"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for _ in range(runs):
            start = time.perf_counter()
            parts = []
            for event in events:
                efw._frame(event.SerializeToString(), parts)
            data = b"".join(parts)
            framed = time.perf_counter()
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            wrote = time.perf_counter()
            os.fsync(fd)
            synced = time.perf_counter()
            frame.append(framed - start)
            write.append(wrote - framed)
            sync.append(synced - wrote)
    finally:
        os.close(fd)
    return {
        "frame_seconds": _median(frame),
        "write_seconds": _median(write),
        "fsync_seconds": _median(sync),
    }


def writer_throughput(total_bytes, records, runs=7):
    """Times `EventFileWriter.write_events` of one synthetic log.

    Args:
      total_bytes: the log's size (sum of its events' blobs).
      records: how many blob-sequence events it has (equal sizes).
      runs: how many times it is written; the median is reported.

    Returns:
      A dict: `seconds` and `mb_per_s` (median write_events with the module's
      CRC32C), `bytes` (framed, per log), `crc`, `arms` (the same numbers per
      CRC implementation, the pure-Python baseline included),
      `speedup_vs_python_crc`, and `frame_seconds`, `write_seconds`,
      `fsync_seconds` (medians of the parts).
    """
    size = max(1, total_bytes // records)
    return _throughput([size] * records, runs)


def _optional_crc32c_arm():
    try:
        import crc32c
    except ImportError:
        return []
    return [("crc32c", crc32c.crc32c)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--dir", default=None, help="where to write (default: the temp dir)")
    args = parser.parse_args(argv)

    cases = [
        ("vgg16-13", [kb * 1000 for kb in VGG16_LOG_KB]),
        ("seed-2", [kb * 1000 for kb in SEED_LOG_KB]),
        ("block1_conv1", [VGG16_LOG_KB[0] * 1000]),
        ("one-2.5MB", [2_500_000]),
    ]
    others = _optional_crc32c_arm()
    results = {}
    for name, sizes in cases:
        results[name] = _throughput(sizes, args.runs, args.dir, others=others)

    arm_names = list(results[cases[0][0]]["arms"])
    header = ["log", "records", "bytes"]
    for arm in arm_names:
        header += [arm, "MB/s"]
    header.append("speed-up vs Python CRC")
    rows = []
    for name, _ in cases:
        r = results[name]
        row = [name, r["records"], fmt_bytes(r["bytes"])]
        for arm in arm_names:
            row += [fmt_s(r["arms"][arm]["seconds"]), "%.0f" % r["arms"][arm]["mb_per_s"]]
        row.append("%.0fx" % r["speedup_vs_python_crc"])
        rows.append(row)
    print_table(
        "write_events of one log, median of %d (framing + CRC + write + fsync)" % args.runs,
        header,
        rows,
    )
    print_table(
        "masked CRC32C of the log's records alone, median of %d" % args.runs,
        ["log"] + ["%s %s" % (arm, unit) for arm in arm_names for unit in ("time", "MB/s")],
        [
            [name]
            + [
                cell
                for arm in arm_names
                for cell in (
                    fmt_s(r["arms"][arm]["crc_seconds"]),
                    "%.0f" % r["arms"][arm]["crc_mb_per_s"],
                )
            ]
            for name, r in results.items()
        ],
    )
    print_table(
        "where the time goes (%s CRC), medians" % efw.CRC32C_IMPLEMENTATION,
        ["log", "frame + CRC", "os.write", "os.fsync", "fsync share"],
        [
            [
                name,
                fmt_s(r["frame_seconds"]),
                fmt_s(r["write_seconds"]),
                fmt_s(r["fsync_seconds"]),
                "%.0f%%"
                % (
                    100
                    * r["fsync_seconds"]
                    / (r["frame_seconds"] + r["write_seconds"] + r["fsync_seconds"])
                ),
            ]
            for name, r in results.items()
        ],
    )
    print("JSON " + json.dumps(results, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
