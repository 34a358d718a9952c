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
import typing

import numpy as np

from tensorboard import context
from tensorboard import errors
from tensorboard.backend.event_processing import data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.data import provider

from tb_actviz import metadata
from tb_actviz import pixel_store
from tb_actviz import remote_files
from tb_actviz import restarts
from tb_actviz.format import blob_checks
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
            return "not finite"
        index = int(index)
        return names[index] if 0 <= index < len(names) else str(index)


class SkippedTag(typing.NamedTuple):
    """An activations tag `LogReader` cannot read, left out of `tags()`.

    Attributes:
      run, tag: where it is.
      reason: why it was skipped (the metadata's parse error).
      newer_version: the stored format version, when the tag was written by
        a newer tb_actviz than this one (`metadata.PROTO_VERSION`); else None.
    """

    run: str
    tag: str
    reason: str
    newer_version: typing.Optional[int] = None


class UnreadableDataError(ValueError):
    """Stored data of a readable tag does not decode as its metadata says.

    The message names the run, the tag, the step and the blob, and what is
    wrong with it.

    Attributes:
      run, tag, step: where.
      blob: the blob index (None: the step as a whole).
    """

    def __init__(self, run, tag, step, blob, problem):
        where = "run %s, tag %s, step %s" % (run, tag, step)
        if blob is not None:
            where += ", blob %d (%s)" % (blob, _blob_name(tag, blob))
        super().__init__("%s: %s" % (where, problem))
        self.run, self.tag, self.step, self.blob = run, tag, step, blob


def _blob_name(tag, index):
    if tag == metadata.PROBE_TAG:
        return "probe image %d" % index
    if tag.startswith(metadata.ATTRIBUTION_TAG_PREFIX):
        return "record of each image" if index == 0 else "strip of every image's map"
    if index == 0:
        return "statistics"
    return "strip of logged filter %d" % (index - 1)


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
            tensor_size_guidance={metadata.PLUGIN_NAME: 0}
        )
        if remote_files.is_remote(logdir):
            _add_remote_runs(multiplexer, logdir)
        else:
            multiplexer.AddRunsFromDirectory(logdir)
        multiplexer.Reload()
        self._provider = restarts.LatestTrainingProvider(
            data_provider.MultiplexerDataProvider(multiplexer, logdir), multiplexer)
        self._pixels = pixel_store.PixelStore(pixel_store.RunLocator(logdir=logdir))
        self._ctx = context.RequestContext()

    def _listing(self):
        """({run: {tag: ActivationsPluginData}}, [SkippedTag])."""
        listing = self._provider.list_blob_sequences(
            self._ctx, experiment_id="", plugin_name=metadata.PLUGIN_NAME
        )
        readable, skipped = {}, []
        for run, tags in sorted(listing.items()):
            readable[run] = {}
            for tag, series in sorted(tags.items()):
                try:
                    readable[run][tag] = metadata.parse_plugin_metadata(series.plugin_content)
                except (TypeError, ValueError) as e:
                    skipped.append(SkippedTag(run, tag, str(e), getattr(e, "version", None)))
        return readable, skipped

    def tags(self):
        """{run: {tag: ActivationsPluginData}} of every tag whose metadata
        this tb_actviz reads (a run whose tags are all skipped maps to {});
        the others are in `skipped()`."""
        return self._listing()[0]

    def skipped(self):
        """[SkippedTag(run, tag, reason, newer_version)]: the activations
        tags left out of `tags()` because their metadata does not parse or
        was written by a newer tb_actviz (`newer_version` is then its
        format version), sorted by run and tag."""
        return self._listing()[1]

    def _info(self, run, tag):
        """The tag's metadata.

        Raises:
          KeyError: no such run or tag, or the tag is skipped (the message
            says why).
        """
        tags, skipped = self._listing()
        info = tags.get(run, {}).get(tag)
        if info is not None:
            return info
        for entry in skipped:
            if (entry.run, entry.tag) == (run, tag):
                raise KeyError("run %r, tag %r cannot be read: %s" % (run, tag, entry.reason))
        raise KeyError("no activations for run %r, tag %r" % (run, tag))

    def _sequence(self, run, tag):
        """The tag's data as every reader shows it: sorted by step, an earlier
        training's steps replaced where a later one restarted
        (`restarts.latest_training`)."""
        return restarts.latest_training(self._all_data(run, tag))[0]

    def hidden_steps(self, run, tag):
        """[(step, wall time)] of the logs an earlier training wrote to this
        tag that a later training into the same run replaced: a step that
        goes back is a restart, and the reader, both TensorBoard loaders and
        export show the later training from that step on. Empty unless the
        run holds a restarted training.

        Raises:
          KeyError: no such run or tag.
        """
        self._all_data(run, tag)  # KeyError: no such run or tag
        return self._provider.hidden(run, tag)

    def _all_data(self, run, tag):
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
        return data

    def _event_blob(self, run, tag, datum, index):
        """Blob `index` of an event's blob sequence."""
        if index >= len(datum.values):
            raise UnreadableDataError(
                run, tag, datum.step, index,
                "missing: the step's event holds %d blobs" % len(datum.values))
        try:
            data = self._provider.read_blob(self._ctx, blob_key=datum.values[index].blob_key)
        # A tensor that is not a rank-1 string tensor (TensorBoard's reader
        # raises what numpy raises for it).
        except (IndexError, KeyError, TypeError, ValueError) as e:
            raise UnreadableDataError(
                run, tag, datum.step, index,
                "the event's tensor is not a list of blobs (%s: %s)" % (type(e).__name__, e)) from None
        if not isinstance(data, bytes):
            raise UnreadableDataError(
                run, tag, datum.step, index,
                "the event's tensor holds %s values, not blobs (a string tensor)"
                % getattr(data, "dtype", type(data).__name__))
        return data

    def _blobs(self, run, tag, info, datum, indices):
        """Blobs `indices` of one step: from the plugin's own file for
        version-1 layers (`pixel_store`), else from the event files."""
        if metadata.pixels_in_plugin_files(info):
            try:
                return self._pixels.read(run, tag, info, datum.step, datum.wall_time, indices)
            except pixel_store.DamagedBlobError as e:
                raise UnreadableDataError(run, tag, datum.step, e.index, e.details) from None
            except (ValueError, OverflowError) as e:  # a NaN or infinite wall time
                raise UnreadableDataError(
                    run, tag, datum.step, None,
                    "no pixel file name for wall time %r (%s)" % (datum.wall_time, e)) from None
        return [self._event_blob(run, tag, datum, i) for i in indices]

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
        data = self._event_blob(run, tag, datum, 0)
        decode = (blob_layout.decode_attribution_record if info.kind == metadata.Kind.ATTRIBUTION
                  else blob_layout.decode_summary)
        try:
            return decode(data, info)
        except ValueError as e:
            raise UnreadableDataError(run, tag, datum.step, 0, "summary: %s" % e) from None

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
        for d in self._sequence(run, tag):
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
        datum = self._sequence(run, metadata.PROBE_TAG)[-1]
        blobs = self._blobs(run, metadata.PROBE_TAG, info, datum, range(len(datum.values)))
        pictures = [self._decode(run, metadata.PROBE_TAG, datum.step, i, _decode_probe_image, blob, info)
                    for i, blob in enumerate(blobs)]
        return pictures, list(info.labels)
