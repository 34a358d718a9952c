"""The bytes of a step's blobs, wherever they are, each checked.

A version-1 layer's or attribution's pixels are in the run's own pixel
file of the step (`pixel_store`); everything else is in the event files,
given by TensorBoard's data provider (read in parallel: each read from the
Rust data server is a gRPC call of ~45 ms, mostly waiting), or, where the
Rust data server refuses a run or tag name that JSON escapes, read from the
run's event files themselves (`event_blobs`). Every blob is checked against
the tag's metadata (`format.blob_checks`) before anyone serves or decodes
it. What cannot be read raises one error, naming run, tag, step and blob.
"""

import concurrent.futures

from tensorboard import errors

from tb_actviz import metadata
from tb_actviz.format import blob_checks
from tb_actviz.read import event_blobs
from tb_actviz.read import pixel_store

BLOB_READ_THREADS = 16


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
            BLOB_READ_THREADS, thread_name_prefix="tb_actviz_blob_reader")

    def read(self, ctx, run, tag, md, datum, indices, summary=False):
        """The checked bytes of blobs `indices` of one step (`summary`: the
        event's summary of a version-1 step, blob 0, instead of its pixels).

        Raises:
          UnreadableDataError: a blob is missing or not what the metadata
            says (naming run, tag, step and blob).
          errors.NotFoundError: the step's pixel file is missing or is no
            pixel file (naming the file).
        """
        if metadata.pixels_in_plugin_files(md) and not summary:
            blobs = self._pixel_blobs(run, tag, md, datum, indices)
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
        """[(datum, bytes)] of each version-1 step's event summary (blob 0),
        checked; a step TensorBoard dropped between listing and reading (a
        run that restarts) is left out.

        Raises:
          UnreadableDataError: a step's event is not one summary blob, or a
            summary is not what the metadata says.
        """
        for datum in steps:
            if len(datum.values) != 1:
                raise UnreadableDataError(
                    run, tag, datum.step, None,
                    "the event holds %d blobs where a layer event holds one, its summary"
                    % len(datum.values))

        def read(datum):
            try:
                return self._event_blob(ctx, run, tag, datum, 0, missing_as_none=True)
            except _Missing:
                return None

        kept = [(d, data) for d, data in zip(steps, self._readers.map(read, steps))
                if data is not None]
        for datum, data in kept:
            self.check(run, tag, md, datum.step, 0, data, summary=True)
        return kept

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
