"""Events of one run's event files, read without TensorBoard's loader.

Two readers need them:

- TensorBoard's Rust data server cannot give a blob of a run or tag whose
  name JSON escapes (`"`, `\\`, U+0000-U+001F: a tab, a newline): its blob
  keys are JSON, deserialized into borrowed strings, which serde_json refuses
  for a string with an escape sequence, so every `read_blob` of such a run or
  tag is an `InvalidArgumentError` ("failed to parse blob key: BadJson").
  Listing the steps works; the plugin then reads the blob here (`read`).
- The SUMMARIES events (`metadata.SUMMARIES_TAG`, one per log) are under a
  plugin name TensorBoard has no plugin for, so it keeps a sample of 10 of
  them, not every step: the plugin reads them here (`events`,
  `read.blob_source`).

Both read the TFRecord files `*tfevents*` directly in the run's directory
(sub-folders are other runs), in file-name then record order, the last event
of the tag at the step winning (what the Rust loader serves for a re-written
step, and what `restarts.latest_training` keeps).

Each record's CRCs are checked; a file is read up to its first damaged or
incomplete record (the rest may still be being written). Per local file, an
index (tag, step) -> record offset is kept for the tags an `EventBlobs`
indexes, valid for the file's size; a file that grew is indexed on from
where its index stopped. The indexes are bounded in total entries (least
recently used dropped). A remote run directory (`s3://`, `gs://`) is read by
`events` only, each file whole (`remote_files`; tb_actviz uploads remote
event files of at most `remote_event_file.REMOTE_FILE_BYTES` plus one log),
without an index.
"""

import collections
import io
import os
import struct
import sys
import threading

from tensorboard import errors
from tensorboard.compat.proto import event_pb2

from tb_actviz import remote_files
from tb_actviz.write.event_file_writer import masked_crc32c

# Index entries kept, over all files: ~150 bytes each.
DEFAULT_INDEX_ENTRIES = 200_000
_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")


def needs_escaping(name):
    """Whether JSON escapes a character of `name` (what rustboard's blob keys cannot hold)."""
    return any(c in '"\\' or ord(c) < 0x20 for c in name)


def _records(f, offset, size):
    """(offset, data) of the intact records of an open file from `offset`, and
    then the offset where reading stopped (yielded last, as (offset, None))."""
    while True:
        f.seek(offset)
        header = f.read(_HEADER.size)
        if len(header) < _HEADER.size:
            break
        length, length_crc = _HEADER.unpack(header)
        if masked_crc32c(header[:8]) != length_crc:
            break
        end = offset + _HEADER.size + length + _FOOTER.size
        if end > size:
            break  # incomplete (or a damaged length that the CRC let through)
        data = f.read(length)
        footer = f.read(_FOOTER.size)
        if len(data) < length or len(footer) < _FOOTER.size:
            break
        if masked_crc32c(data) != _FOOTER.unpack(footer)[0]:
            break
        yield offset, data
        offset = end
    yield offset, None


def _parse(data):
    event = event_pb2.Event()
    try:
        event.ParseFromString(data)
    except Exception:  # a record that is not an Event (protobuf's DecodeError)
        return None
    return event


class EventBlobs:
    """Reads blobs and events of a run's event files; thread-safe.

    Args:
      index_entries: the most (tag, step) entries kept over all files.
      indexed: the tags indexed (None: every tag); `read` and `events` find
        only those.
    """

    def __init__(self, index_entries=DEFAULT_INDEX_ENTRIES, indexed=None):
        self._budget = index_entries
        self._indexed = None if indexed is None else frozenset(indexed)
        self._used = 0
        self._indexes = collections.OrderedDict()  # path -> (size, end, {(tag, step): offset})
        self._lock = threading.Lock()

    def read(self, run_dir, tag, step, index, run=None):
        """Blob `index` of `tag` at `step`, from the event files of `run_dir`.

        Raises:
          errors.NotFoundError: the directory is remote, or no intact event
            of the tag at the step holds such a blob (the message says which).
        """
        what = "run %r" % run if run is not None else run_dir
        if "://" in run_dir:
            raise errors.NotFoundError(
                "blob %d of step %d of tag %r (%s): TensorBoard's data server cannot give it "
                "(the name has a character JSON escapes), and the event files of a remote log "
                "dir (%s) are not read without it" % (index, step, tag, what, run_dir))
        found = None
        for path in self._event_files(run_dir):
            offset = self._index(path).get((tag, step))
            if offset is not None:
                found = (path, offset)
        if found is None:
            raise errors.NotFoundError(
                "no intact event of tag %r at step %d in the event files of %s (%s)"
                % (tag, step, what, run_dir))
        event = self._event_at(*found)
        values = [v for v in (event.summary.value if event else ()) if v.tag == tag]
        if not values:
            raise errors.NotFoundError(
                "the event of tag %r at step %d (%s) changed while it was read: %s"
                % (tag, step, what, found[0]))
        blobs = values[-1].tensor.string_val
        if index >= len(blobs):
            raise errors.NotFoundError(
                "blob index %d out of range: step %d of tag %r (%s) has %d in %s"
                % (index, step, tag, what, len(blobs), found[0]))
        return blobs[index]

    def events(self, run_dir, tag, steps, extract=lambda event: event):
        """{step: extract(event)} of the last intact event of `tag` at each
        of `steps` in the event files of `run_dir` (local, or remote: each
        file read whole); a step without one is left out. Only what `extract`
        returns is kept (one parsed event at a time).

        Raises:
          errors.NotFoundError: a remote directory cannot be listed or an
            event file of it cannot be read (the message says which).
        """
        wanted = set(steps)
        if remote_files.is_remote(run_dir):
            return _remote_events(run_dir, tag, wanted, extract)
        found = {}
        for path in self._event_files(run_dir):
            index = self._index(path)
            for step in wanted:
                offset = index.get((tag, step))
                if offset is not None:
                    found[step] = (path, offset)
        by_file = collections.defaultdict(dict)
        for step, (path, offset) in found.items():
            by_file[path][offset] = step
        result = {}
        for path, steps_at in by_file.items():
            for offset, event in self._events_at(path, sorted(steps_at)):
                if any(v.tag == tag for v in event.summary.value):
                    result[steps_at[offset]] = extract(event)
        return result

    @staticmethod
    def _events_at(path, offsets):
        """(offset, event) of the intact records at `offsets` of one file, in turn."""
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                for offset in offsets:
                    for at, data in _records(f, offset, size):
                        event = _parse(data) if at == offset and data is not None else None
                        if event is not None:
                            yield offset, event
                        break
        except OSError:
            return

    @staticmethod
    def _event_files(run_dir):
        try:
            names = sorted(os.listdir(run_dir))
        except OSError:
            return []
        paths = [os.path.join(run_dir, name) for name in names if "tfevents" in name]
        return [p for p in paths if os.path.isfile(p)]

    @staticmethod
    def _event_at(path, offset):
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                for at, data in _records(f, offset, size):
                    return _parse(data) if at == offset and data is not None else None
        except OSError:
            return None

    def _index(self, path):
        """{(tag, step): offset of its last record} of one file, for its current size."""
        try:
            size = os.stat(path).st_size
        except OSError:
            return {}
        with self._lock:
            entry = self._indexes.get(path)
            if entry is not None:
                self._indexes.move_to_end(path)
                if entry[0] == size:
                    return entry[2]
        start, index = 0, {}
        if entry is not None and entry[0] < size:
            start, index = entry[1], dict(entry[2])  # the file grew: index on
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                end = start
                for offset, data in _records(f, start, size):
                    if data is None:
                        end = offset
                        break
                    event = _parse(data)
                    if event is None or not event.HasField("summary"):
                        continue
                    for value in event.summary.value:
                        if self._indexed is None or value.tag in self._indexed:
                            index[(sys.intern(value.tag), event.step)] = offset
        except OSError:
            return {}
        with self._lock:
            old = self._indexes.pop(path, None)
            if old is not None:
                self._used -= len(old[2]) + 1
            cost = len(index) + 1
            if cost <= self._budget:
                self._indexes[path] = (size, end, index)
                self._used += cost
                while self._used > self._budget:
                    _, dropped = self._indexes.popitem(last=False)
                    self._used -= len(dropped[2]) + 1
        return index


def _remote_events(run_dir, tag, wanted, extract):
    """`EventBlobs.events` of a remote directory: its event files listed,
    each read whole (one GET) and every record parsed."""
    from tensorboard.compat.tensorflow_stub.io import gfile  # remote_files' layer

    try:
        remote_files.check_reachable(run_dir)
        names = sorted(name for name in gfile.listdir(run_dir) if "tfevents" in name)
    except Exception as e:  # noqa: BLE001 - boto3's and fsspec's errors have types of their own
        raise errors.NotFoundError("cannot list the event files of %s: %s: %s"
                                   % (run_dir, type(e).__name__, e)) from None
    found = {}
    for name in names:
        path = remote_files.join(run_dir, name)
        try:
            data = remote_files.read_range(path, 0, remote_files.size(path))
        except OSError as e:
            raise errors.NotFoundError("cannot read event file %s: %s" % (path, e)) from None
        for _, record in _records(io.BytesIO(data), 0, len(data)):
            if record is None:
                break
            event = _parse(record)
            if event is not None and event.step in wanted and any(
                    v.tag == tag for v in event.summary.value):
                found[event.step] = extract(event)
    return found


_shared = EventBlobs()


def read(run_dir, tag, step, index, run=None):
    """`EventBlobs.read` with the process-wide indexes."""
    return _shared.read(run_dir, tag, step, index, run=run)
