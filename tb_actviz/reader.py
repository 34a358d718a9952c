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
from tensorboard import errors
from tensorboard.backend.event_processing import data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer

from tb_actviz import metadata
from tb_actviz import remote_files
from tb_actviz import wording
from tb_actviz.format import blob_checks
from tb_actviz.format import blob_layout
from tb_actviz.format import images
from tb_actviz.read import blob_source
from tb_actviz.read import catalog
from tb_actviz.read import pixel_store
from tb_actviz.read import restarts
from tb_actviz.read.blob_source import UnreadableDataError  # noqa: F401 - the API
from tb_actviz.read.catalog import SkippedTag  # noqa: F401 - the API


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


@dataclasses.dataclass(frozen=True)
class AttributionSnapshot:
    """One attribution method (Grad-CAM or saliency) at one step.

    Attributes:
      step: the step.
      info: the tag's `ActivationsPluginData` (`attribution_method`,
        `attribution_target`, `class_names`, the Grad-CAM layer's path).
      record: float32 [N, K], K in `info.summary_names` order
        (`metadata.ATTRIBUTION_RECORD_NAMES`).
      quantized: uint8 [N, h, w], each image's map quantized with its own range.
    """

    step: int
    info: object
    record: np.ndarray
    quantized: np.ndarray

    def field(self, name):
        return self.record[:, list(self.info.summary_names).index(name)]

    def values(self):
        """De-quantized maps, float32 [N, h, w]."""
        low = self.field("map_min")[:, None, None]
        high = self.field("map_max")[:, None, None]
        return low + self.quantized.astype(np.float32) * ((high - low) / 255.0)

    def class_name(self, index):
        """The name of class `index` (its number where the log has no names)."""
        names = self.info.class_names
        if not np.isfinite(index):
            return wording.NOT_FINITE
        index = int(index)
        return names[index] if 0 <= index < len(names) else str(index)


def _decode_probe_image(data, info):
    """A probe image's PNG -> uint8 pixels, its declared size checked first
    (`blob_checks.MAX_PROBE_SIDE`): a PNG bomb is refused undecoded."""
    return images.decode_png(data, max_side=blob_checks.MAX_PROBE_SIDE)


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
    """Reads activations from a log dir (all steps kept).

    Hostile or damaged input never costs the rest of the log dir:

    - A tag whose metadata does not parse, or was written by a newer
      tb_actviz, is left out of `tags()` and listed by `skipped()` (run, tag,
      reason; and the format version for a newer one).
    - Stored data that does not match its metadata (a blob of the wrong
      length, a strip that is not a PNG, a PNG of another size than the
      metadata's maps, which is refused before it is decoded, a missing
      blob) raises `UnreadableDataError`, naming run, tag, step and blob.
    - A version-1 step whose pixel file is missing or damaged raises
      `tensorboard.errors.NotFoundError` naming the file.
    """

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
        logdir = remote_files.file_url_path(os.fspath(logdir))
        multiplexer = plugin_event_multiplexer.EventMultiplexer(
            # Every step; the SUMMARIES events are read from the files (read/event_blobs.py).
            tensor_size_guidance={metadata.PLUGIN_NAME: 0, metadata.SUMMARIES_PLUGIN_NAME: 1}
        )
        if remote_files.is_remote(logdir):
            _add_remote_runs(multiplexer, logdir)
        else:
            multiplexer.AddRunsFromDirectory(logdir)
        multiplexer.Reload()
        provider = restarts.LatestTrainingProvider(
            data_provider.MultiplexerDataProvider(multiplexer, logdir), multiplexer)
        self._catalog = catalog.Catalog(provider)
        self._blobs_source = blob_source.BlobSource(
            provider, pixel_store.PixelStore(pixel_store.RunLocator(logdir=logdir)))
        self._ctx = context.RequestContext()

    def tags(self):
        """{run: {tag: ActivationsPluginData}} of every tag whose metadata
        this tb_actviz reads (a run whose tags are all skipped maps to {});
        the others are in `skipped()`."""
        return self._catalog.listing(self._ctx, "")[0]

    def skipped(self):
        """[SkippedTag(run, tag, reason, newer_version)]: the activations
        tags left out of `tags()` because their metadata does not parse or
        was written by a newer tb_actviz (`newer_version` is then its
        format version), sorted by run and tag."""
        return self._catalog.listing(self._ctx, "")[1]

    def _sequence(self, run, tag):
        """The tag's `catalog.Sequence`.

        Raises:
          KeyError: no such run or tag, or the tag is skipped (the message
            says why).
        """
        try:
            return self._catalog.sequence(self._ctx, "", run, tag)
        except errors.NotFoundError:
            for entry in self.skipped():
                if (entry.run, entry.tag) == (run, tag):
                    raise KeyError("run %r, tag %r cannot be read: %s" % (run, tag, entry.reason)) from None
            raise KeyError("no activations for run %r, tag %r" % (run, tag)) from None

    def _info(self, run, tag):
        return self._sequence(run, tag).metadata

    def hidden_steps(self, run, tag):
        """[(step, wall time)] of the logs an earlier training wrote to this
        tag that a later training into the same run replaced: a step that
        goes back is a restart, and the reader, both TensorBoard loaders and
        export show the later training from that step on. Empty unless the
        run holds a restarted training.

        Raises:
          KeyError: no such run or tag.
        """
        return self._sequence(run, tag).hidden

    def _blobs(self, run, tag, info, datum, indices):
        """Checked blobs `indices` of one step (`read.blob_source`)."""
        return self._blobs_source.read(self._ctx, run, tag, info, datum, indices)

    @staticmethod
    def _decode(run, tag, step, index, decode, data, info):
        try:
            return decode(data, info)
        except ValueError as e:
            raise UnreadableDataError(run, tag, step, index, str(e)) from None

    def summary(self, run, tag, step=None):
        """What the event files hold of a version-1 step (default: the last):
        a layer's per-filter summary, float32 [F, len(info.summary_names)];
        an attribution tag's record, float32 [N, len(info.summary_names)].

        Raises:
          KeyError: no such run, tag (or it is skipped) or step.
          UnreadableDataError: the summary does not match the metadata.
        """
        info = self._info(run, tag)
        datum = self._datum(run, tag, step)
        (data,) = self._blobs_source.read(self._ctx, run, tag, info, datum, [0], summary=True)
        decode = (blob_layout.decode_attribution_record if info.kind == metadata.Kind.ATTRIBUTION
                  else blob_layout.decode_summary)
        return self._decode(run, tag, datum.step, 0, decode, data, info)

    def steps(self, run, tag):
        return [d.step for d in self._sequence(run, tag).data]

    def _datum(self, run, tag, step):
        sequence = self._sequence(run, tag).data
        datum = sequence[-1] if step is None else next(
            (d for d in sequence if d.step == step), None
        )
        if datum is None:
            raise KeyError("no step %r for %s %s; steps: %s" % (step, run, tag, [d.step for d in sequence]))
        return datum

    def layer(self, run, tag, step=None):
        """The `LayerSnapshot` at `step` (default: the last one).

        Raises:
          KeyError: no such run, tag (or it is skipped) or step.
          UnreadableDataError: a blob does not match the metadata.
          tensorboard.errors.NotFoundError: the step's pixel file is missing
            or damaged.
        """
        info = self._info(run, tag)
        datum = self._datum(run, tag, step)
        count = len(info.filter_indices)
        blobs = self._blobs(run, tag, info, datum, range(1 + count))
        stats = self._decode(run, tag, datum.step, 0, blob_layout.decode_stats, blobs[0], info)
        strips = [self._decode(run, tag, datum.step, 1 + f, blob_layout.decode_strip, blob, info)
                  for f, blob in enumerate(blobs[1:])]
        return LayerSnapshot(datum.step, info, stats, np.stack(strips))

    def attribution(self, run, tag, step=None):
        """The `AttributionSnapshot` of an attribution tag at `step` (default:
        the last one).

        Raises:
          KeyError, UnreadableDataError, tensorboard.errors.NotFoundError:
            as `layer`.
        """
        info = self._info(run, tag)
        if info.kind != metadata.Kind.ATTRIBUTION:
            raise KeyError("tag %r of run %r is not an attribution tag" % (tag, run))
        datum = self._datum(run, tag, step)
        record_blob, strip_blob = self._blobs(run, tag, info, datum, [0, 1])
        record = self._decode(run, tag, datum.step, 0, blob_layout.decode_attribution_record,
                              record_blob, info)
        quantized = self._decode(run, tag, datum.step, 1, blob_layout.decode_strip, strip_blob, info)
        return AttributionSnapshot(datum.step, info, record, quantized)

    def filter_series(self, run, tag, filter_position, unreadable=None):
        """[(step, uint8 [N, h, w])] of one logged filter over all steps (of
        an attribution tag's maps with `filter_position` 0).

        Args:
          run, tag: the layer.
          filter_position: the position in `info.filter_indices`.
          unreadable: None to raise at the first step that cannot be read;
            or a list, to skip such steps and append (step, error) to it.

        Raises:
          KeyError, UnreadableDataError, tensorboard.errors.NotFoundError:
            as `layer` (only with `unreadable=None`, but for KeyError).
        """
        info = self._info(run, tag)
        series = []
        for d in self._sequence(run, tag).data:
            try:
                (data,) = self._blobs(run, tag, info, d, [1 + filter_position])
                series.append((d.step, self._decode(
                    run, tag, d.step, 1 + filter_position, blob_layout.decode_strip, data, info)))
            except (UnreadableDataError, errors.NotFoundError) as e:
                if unreadable is None:
                    raise
                unreadable.append((d.step, e))
        return series

    def labels(self, run):
        """The labels of a run's probe images ([] without a readable probe)."""
        info = self.tags().get(run, {}).get(metadata.PROBE_TAG)
        return list(info.labels) if info is not None else []

    def probe(self, run):
        """(list of uint8 images, labels) of a run's probe.

        Raises:
          KeyError: no readable probe tag in `run`.
          UnreadableDataError: a probe image is not a PNG that decodes.
        """
        info = self._info(run, metadata.PROBE_TAG)
        datum = self._sequence(run, metadata.PROBE_TAG).data[-1]
        blobs = self._blobs(run, metadata.PROBE_TAG, info, datum, range(len(datum.values)))
        pictures = [self._decode(run, metadata.PROBE_TAG, datum.step, i, _decode_probe_image, blob, info)
                    for i, blob in enumerate(blobs)]
        return pictures, list(info.labels)
