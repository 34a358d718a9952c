"""Reading a tb_actviz log dir without TensorBoard's server or TensorFlow.

Goes through the same data-provider interface as the plugin (TensorBoard's
Python loader), and decodes blobs into numpy arrays (docs/format.md). A
remote log dir (`s3://bucket/logs`) is read as TensorBoard reads it: the
events through TensorBoard's file layer (TensorFlow's `tf.io.gfile` where
TensorFlow is installed, else TensorBoard's own, which has s3:// through
boto3), the pixel files through `remote_files`.
"""

import dataclasses
import os
import re

import numpy as np

from tensorboard import context
from tensorboard.backend.event_processing import data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.data import provider

from tb_actviz import metadata
from tb_actviz import pixel_store
from tb_actviz import remote_files
from tb_actviz.format import blob_layout
from tb_actviz.format import images


@dataclasses.dataclass(frozen=True)
class LayerSnapshot:
    """One layer at one step.

    Attributes:
      step: the step.
      info: the tag's `ActivationsPluginData`.
      stats: float32 [F, N, K], K in `info.stat_names` order.
      quantized: uint8 [F, N, h, w], each map quantized with its own range.
    """

    step: int
    info: object
    stats: np.ndarray
    quantized: np.ndarray

    def stat(self, name):
        return self.stats[..., list(self.info.stat_names).index(name)]

    def values(self):
        """De-quantized maps, float32 [F, N, h, w]."""
        low = self.stat("min")[..., None, None]
        high = self.stat("max")[..., None, None]
        return low + self.quantized.astype(np.float32) * ((high - low) / 255.0)


def _add_remote_runs(multiplexer, logdir):
    if re.fullmatch(r"s3://[^/]+/*", logdir):
        raise ValueError(
            "%r is a bucket's root, which TensorBoard's S3 file layer cannot list "
            "(tensorboard --logdir cannot either): keep logs under a prefix, e.g. "
            "%s/logs, and read that" % (logdir, logdir.rstrip("/"))
        )
    from tensorboard.compat import tf  # what TensorBoard's loader reads with

    with_tensorflow = tf.__name__ == "tensorflow"
    if not with_tensorflow:
        remote_files.check_reachable(logdir)  # ValueError: says what to install
    try:
        multiplexer.AddRunsFromDirectory(logdir)
    # TensorFlow's and TensorBoard's file layers raise types of their own.
    except Exception as e:  # noqa: BLE001
        hint = ""
        if with_tensorflow:
            hint = (
                "; TensorFlow is installed, so TensorBoard reads through tf.io.gfile, "
                "which has no s3:// file system in TensorFlow 2.21 (tensorflow-io adds "
                "one): read s3:// log dirs where TensorFlow is not installed"
            )
        raise OSError("cannot list log dir %s: %s: %s%s" % (logdir, type(e).__name__, e, hint)) from e


class LogReader:
    """Reads activations from a log dir (all steps kept)."""

    def __init__(self, logdir):
        """Loads every run under `logdir`.

        Args:
          logdir: a local directory, or a remote one (`s3://bucket/logs`).

        Raises:
          ValueError: `logdir` is the root of an S3 bucket, which
            TensorBoard's S3 layer cannot list, or no installed package
            reaches its store (the message says what to install).
          OSError: a remote `logdir` cannot be listed (the message says why).
        """
        logdir = os.fspath(logdir)
        multiplexer = plugin_event_multiplexer.EventMultiplexer(
            tensor_size_guidance={metadata.PLUGIN_NAME: 0}
        )
        if remote_files.is_remote(logdir):
            _add_remote_runs(multiplexer, logdir)
        else:
            multiplexer.AddRunsFromDirectory(logdir)
        multiplexer.Reload()
        self._provider = data_provider.MultiplexerDataProvider(multiplexer, logdir)
        self._pixels = pixel_store.PixelStore(pixel_store.RunLocator(logdir=logdir))
        self._ctx = context.RequestContext()

    def tags(self):
        """{run: {tag: ActivationsPluginData}}."""
        listing = self._provider.list_blob_sequences(
            self._ctx, experiment_id="", plugin_name=metadata.PLUGIN_NAME
        )
        return {
            run: {
                tag: metadata.parse_plugin_metadata(series.plugin_content)
                for tag, series in tags.items()
            }
            for run, tags in listing.items()
        }

    def _sequence(self, run, tag):
        result = self._provider.read_blob_sequences(
            self._ctx,
            experiment_id="",
            plugin_name=metadata.PLUGIN_NAME,
            downsample=10**9,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]),
        )
        data = result.get(run, {}).get(tag)
        if not data:
            raise KeyError("no activations for run %r, tag %r" % (run, tag))
        return sorted(data, key=lambda d: d.step)

    def _blobs(self, run, tag, info, datum, indices):
        """Blobs `indices` of one step: from the plugin's own file for
        version-1 layers (`pixel_store`), else from the event files."""
        if metadata.pixels_in_plugin_files(info):
            return self._pixels.read(run, tag, datum.step, datum.wall_time, indices)
        return [
            self._provider.read_blob(self._ctx, blob_key=datum.values[i].blob_key)
            for i in indices
        ]

    def summary(self, run, tag, step=None):
        """A version-1 layer's per-filter summary at `step` (default: the
        last), float32 [F, len(info.summary_names)], from the event files."""
        info = self.tags()[run][tag]
        datum = self._datum(run, tag, step)
        data = self._provider.read_blob(self._ctx, blob_key=datum.values[0].blob_key)
        return blob_layout.decode_summary(data, info)

    def steps(self, run, tag):
        return [d.step for d in self._sequence(run, tag)]

    def _datum(self, run, tag, step):
        sequence = self._sequence(run, tag)
        datum = sequence[-1] if step is None else next(
            (d for d in sequence if d.step == step), None
        )
        if datum is None:
            raise KeyError("no step %r for %s %s; steps: %s" % (step, run, tag, [d.step for d in sequence]))
        return datum

    def layer(self, run, tag, step=None):
        """The `LayerSnapshot` at `step` (default: the last one)."""
        info = self.tags()[run][tag]
        datum = self._datum(run, tag, step)
        count = len(info.filter_indices)
        blobs = self._blobs(run, tag, info, datum, range(1 + count))
        stats = blob_layout.decode_stats(blobs[0], info)
        strips = [blob_layout.decode_strip(blob, info) for blob in blobs[1:]]
        return LayerSnapshot(datum.step, info, stats, np.stack(strips))

    def filter_series(self, run, tag, filter_position):
        """[(step, uint8 [N, h, w])] of one logged filter over all steps."""
        info = self.tags()[run][tag]
        return [
            (d.step, blob_layout.decode_strip(
                self._blobs(run, tag, info, d, [1 + filter_position])[0], info))
            for d in self._sequence(run, tag)
        ]

    def probe(self, run):
        """(list of uint8 images, labels) of a run's probe."""
        info = self.tags()[run][metadata.PROBE_TAG]
        datum = self._sequence(run, metadata.PROBE_TAG)[-1]
        pictures = [images.decode_png(b) for b in self._blobs(
            run, metadata.PROBE_TAG, info, datum, range(len(datum.values)))]
        return pictures, list(info.labels)
