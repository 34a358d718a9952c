"""The bytes of a step's blobs, wherever they are, each checked.

A version-1 layer's or attribution's pixels are in the run's own pixel
file of the step (`pixel_store`); everything else is in the event files,
given by TensorBoard's data provider (read in parallel: each read from the
Rust data server is a gRPC call of ~45 ms, mostly waiting), or, where the
Rust data server refuses a run or tag name that JSON escapes, read from the
run's event files themselves (`event_blobs`). A version-1 layer step's
summary is in its own event (one blob) or, in logs written since December
2026, whose layer events hold no blob, in the log's SUMMARIES event, which
TensorBoard does not keep: read from the run's event files (`event_blobs`).
Every blob is checked against the tag's metadata (`format.blob_checks`)
before anyone serves or decodes it. What cannot be read raises one error,
naming run, tag, step and blob.
"""

import concurrent.futures
import json
import threading

from tensorboard import errors

from tb_actviz import metadata
from tb_actviz.format import blob_checks
from tb_actviz.read import event_blobs
from tb_actviz.read import pixel_store

BLOB_READ_THREADS = 16
_THREAD_PREFIX = "tb_actviz_blob_reader"
# Index entries of SUMMARIES events kept (one per log and event file, ~150
# bytes each).
SUMMARY_INDEX_ENTRIES = 100_000


def blob_name(tag, index):
    """What blob `index` of `tag` is, in words."""
    if tag == metadata.PROBE_TAG:
        return "probe image %d" % index
    if tag.startswith(metadata.ATTRIBUTION_TAG_PREFIX):
        return "record of each image" if index == 0 else "strip of every image's map"
    if tag.startswith(metadata.KERNEL_TAG_PREFIX):
        return "ranges" if index == 0 else "strip of the kernels"
    if index == 0:
        return "statistics"
    return "strip of logged filter %d" % (index - 1)


class UnreadableDataError(errors.NotFoundError, ValueError):
    """Stored data of a readable tag is not what its metadata says.

    The message names the run, the tag, the step and the blob, and what is
    wrong with it. A `tensorboard.errors.NotFoundError` (the plugin answers
    404 with the message) and a `ValueError`.

    Attributes:
      run, tag, step: where.
      blob: the blob index (None: the step as a whole).
    """

    def __init__(self, run, tag, step, blob, problem):
        where = "run %s, tag %s, step %s" % (run, tag, step)
        if blob is not None:
            where += ", blob %d (%s)" % (blob, blob_name(tag, blob))
        message = "%s: %s" % (where, problem)
        super().__init__(message)
        self.args = (message,)  # the message without NotFoundError's "Not found: "
        self.run, self.tag, self.step, self.blob = run, tag, step, blob


class _Missing(Exception):
    """A blob TensorBoard no longer has (its step dropped since it was listed)."""


class _Damaged:
    """What is wrong with a SUMMARIES event."""

    def __init__(self, what):
        self.what = what


class BlobSource:
    """Reads and checks blobs of the steps a `catalog.Catalog` lists.

    Args:
      data_provider: TensorBoard's data provider.
      pixels: the `pixel_store.PixelStore` of the log dir.
    """

    def __init__(self, data_provider, pixels):
        self._provider = data_provider
        self.pixels = pixels
        self._readers = concurrent.futures.ThreadPoolExecutor(
            BLOB_READ_THREADS, thread_name_prefix=_THREAD_PREFIX)
        self._summary_events = event_blobs.EventBlobs(
            SUMMARY_INDEX_ENTRIES, indexed=[metadata.SUMMARIES_TAG])

    def read(self, ctx, run, tag, md, datum, indices, summary=False):
        """The checked bytes of blobs `indices` of one step (`summary`: the
        summary of a version-1 step, blob 0, instead of its pixels).

        Raises:
          UnreadableDataError: a blob is missing or not what the metadata
            says (naming run, tag, step and blob).
          errors.NotFoundError: the step's pixel file is missing or is no
            pixel file (naming the file).
        """
        if summary and self._summary_in_log(run, tag, md, datum):
            if list(indices) != [0]:
                raise UnreadableDataError(run, tag, datum.step, None,
                                          "a step's summary is one blob, blob 0")
            found = self._log_summaries(run, tag, [datum])
            if datum.step not in found:
                raise UnreadableDataError(
                    run, tag, datum.step, None,
                    "summary: the log's summaries event (tag %s) is not in the run's event "
                    "files" % metadata.SUMMARIES_TAG)
            blobs = [found[datum.step]]
        elif metadata.pixels_in_plugin_files(md) and not summary:
            blobs = self._pixel_blobs(run, tag, md, datum, indices)
        elif len(indices) == 1 or threading.current_thread().name.startswith(_THREAD_PREFIX):
            # One blob, or on a reader already (`series`): waiting on reads
            # queued behind this one on the same pool would never end.
            blobs = [self._event_blob(ctx, run, tag, datum, i) for i in indices]
        else:
            blobs = list(self._readers.map(
                lambda i: self._event_blob(ctx, run, tag, datum, i), indices))
        for index, data in zip(indices, blobs):
            self.check(run, tag, md, datum.step, index, data, summary)
        return blobs

    @staticmethod
    def check(run, tag, md, step, index, data, summary=False):
        try:
            blob_checks.check(md, index, data, summary=summary)
        except ValueError as e:
            raise UnreadableDataError(
                run, tag, step, index, ("summary: %s" if summary else "%s") % e) from None

    def series(self, ctx, run, tag, md, steps, index):
        """[(datum, bytes)] of blob `index` at every step of `steps` whose
        blob reads and checks; the others are left out.

        Raises:
          errors.NotFoundError: the tag has no blob `index`.
        """
        try:
            blob_checks.expected(md, index)
        except ValueError as e:
            raise errors.NotFoundError("tag %r of run %r: %s" % (tag, run, e)) from None

        def read(datum):
            try:
                return self.read(ctx, run, tag, md, datum, [index])[0]
            except errors.NotFoundError:
                return None  # that step's blob or file is missing or damaged

        blobs = self._readers.map(read, steps)
        return [(d, data) for d, data in zip(steps, blobs) if data is not None]

    def summaries(self, ctx, run, tag, md, steps):
        """[(datum, bytes)] of each version-1 step's summary (blob 0 of its
        event, or its part of the log's SUMMARIES event), checked; a step
        TensorBoard dropped between listing and reading (a run that
        restarts), or whose SUMMARIES event is not (or no longer) in the
        event files, is left out.

        Raises:
          UnreadableDataError: a step's event is neither one summary blob nor
            (a layer's) none, its SUMMARIES event holds no summary of the
            tag, or a summary is not what the metadata says.
          errors.NotFoundError: the run's directory cannot be located, or a
            remote one's event files cannot be read, where summaries are in
            SUMMARIES events.
        """
        in_log = [d for d in steps if self._summary_in_log(run, tag, md, d)]
        from_logs = self._log_summaries(run, tag, in_log) if in_log else {}

        def read(datum):
            if not datum.values:
                return from_logs.get(datum.step)
            try:
                return self._event_blob(ctx, run, tag, datum, 0, missing_as_none=True)
            except _Missing:
                return None

        kept = [(d, data) for d, data in zip(steps, self._readers.map(read, steps))
                if data is not None]
        for datum, data in kept:
            self.check(run, tag, md, datum.step, 0, data, summary=True)
        return kept

    @staticmethod
    def _summary_in_log(run, tag, md, datum):
        """Whether a step's summary is in the log's SUMMARIES event (a LAYER
        event holding no blob) rather than in its own event (one blob).

        Raises:
          UnreadableDataError: the event holds neither.
        """
        count = len(datum.values)
        if count == 1:
            return False
        if count == 0 and md.kind == metadata.Kind.LAYER:
            return True
        what = ("none (its summary is then in the log's summaries event) or one, its summary"
                if md.kind == metadata.Kind.LAYER else "one, its record")
        raise UnreadableDataError(
            run, tag, datum.step, None,
            "the event holds %d blobs where a %s event holds %s"
            % (count, "layer" if md.kind == metadata.Kind.LAYER else "tag's", what))

    def _log_summaries(self, run, tag, data):
        """{step: the summary of `tag`} of the steps of `data` whose log's
        SUMMARIES event, at the step's step and wall time, is in the run's
        event files.

        Raises:
          UnreadableDataError: such an event holds no summary of the tag.
          errors.NotFoundError: the run's directory cannot be located, or a
            remote one's event files cannot be read.
        """
        run_dir = self.pixels.run_dir(
            run, "the summaries of its layers are in that directory's event files")
        wall_times = {d.step: d.wall_time for d in data}

        def extract(event):
            if event.wall_time != wall_times[event.step]:
                return None  # another log at that step (a restart): not the one listed
            (value,) = [v for v in event.summary.value if v.tag == metadata.SUMMARIES_TAG][-1:]
            blobs = value.tensor.string_val
            try:
                tags = json.loads(blobs[0]) if blobs else None
            except (ValueError, RecursionError):  # not JSON (or nested too deeply to be a list)
                tags = None
            if not isinstance(tags, list) or len(blobs) != 1 + len(tags):
                return _Damaged("of its %d blobs, blob 0 is not the JSON list of the tags of "
                                "the others" % len(blobs))
            if tag not in tags:
                shown = ", ".join(map(str, tags[:5])) + (", ..." if len(tags) > 5 else "")
                return _Damaged("it holds no summary of this tag (it has %d: %s)" % (len(tags), shown))
            return blobs[1 + tags.index(tag)]

        found = self._summary_events.events(run_dir, metadata.SUMMARIES_TAG, list(wall_times),
                                            extract)
        for step, data in sorted(found.items()):
            if isinstance(data, _Damaged):
                raise UnreadableDataError(
                    run, tag, step, None, "summary: the log's summaries event (tag %s) is damaged: %s"
                    % (metadata.SUMMARIES_TAG, data.what))
        return {step: data for step, data in found.items() if data is not None}

    # Where the bytes are --------------------------------------------------------

    def _pixel_blobs(self, run, tag, md, datum, indices):
        try:
            return self.pixels.read(run, tag, md, datum.step, datum.wall_time, indices)
        except pixel_store.DamagedBlobError as e:
            raise UnreadableDataError(run, tag, datum.step, e.index, e.details) from None
        except (ValueError, OverflowError) as e:  # a NaN or infinite wall time
            raise UnreadableDataError(
                run, tag, datum.step, None,
                "no pixel file name for wall time %r (%s)" % (datum.wall_time, e)) from None

    def _event_blob(self, ctx, run, tag, datum, index, missing_as_none=False):
        """Blob `index` of a step's event."""
        if index >= len(datum.values):
            raise UnreadableDataError(
                run, tag, datum.step, index,
                "out of range: the step's event holds %d blobs" % len(datum.values))
        try:
            data = self._provider.read_blob(ctx, blob_key=datum.values[index].blob_key)
        except errors.NotFoundError:
            if missing_as_none:
                raise _Missing() from None
            raise
        except errors.InvalidArgumentError:
            if not (event_blobs.needs_escaping(run) or event_blobs.needs_escaping(tag)):
                raise
            data = self._escaped_event_blob(run, tag, datum.step, index)
        except errors.PublicError:
            raise
        # What TensorBoard's Python loader raises for a tensor that is not a
        # rank-1 string tensor.
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

    def _escaped_event_blob(self, run, tag, step, index):
        """A blob the Rust data server refuses to give (the run or tag has a
        character JSON escapes: its blob key does not parse there), read from
        the run's event files."""
        run_dir = self.pixels.run_dir(
            run, "TensorBoard's data server cannot give blob %d of step %d of tag %r (the "
            "name has a character JSON escapes) and it is read from that directory's event "
            "files" % (index, step, tag))
        return event_blobs.read(run_dir, tag, step, index, run=run)
