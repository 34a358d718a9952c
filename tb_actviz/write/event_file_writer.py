"""Writes TensorBoard event files without TensorFlow.

The callback's logs are ordinary TensorBoard event files: TFRecord-framed
`Event` protos, read by TensorBoard's Python loader and by its Rust data
server. This module writes them with the protos TensorBoard ships
(`tensorboard.compat.proto`) and nothing else, so logging works on Keras
backends other than TensorFlow. It does not import `tensorboard.summary.writer`
or `tensorboard.compat.tf`: both load the real TensorFlow when it is installed.

Where the file is: `local_event_file.LocalEventFile` appends to a file in a
local directory (no torn records: a failed write is truncated away; no silent
loss: a removed or replaced file is noticed), `remote_event_file.RemoteEventFile`
uploads a file whole to an object store (`s3://bucket/logs`, `gs://...`).
This module frames the records, names the files and chooses between the two.

CRC32C. Each record carries two masked CRC32C checksums. Measured with
benchmarks/bench_writer.py on 2 shared x86-64 cores (Python 3.11, ext4 on a
virtual disk, medians of 7, ranges over runs), for a 2.5 MB log (13 records
of 56-322 KB, and a single 2.5 MB record):

    CRC of the log's records alone
      TensorBoard's pure-Python crc32c   8-9 MB/s      ~300 ms a log
      google-crc32c 1.9 (C, SSE4.2)      8-22 GB/s     0.1-0.3 ms
      crc32c 2.9 (C)                     2-21 GB/s     0.1-1.1 ms
    write_events of the log (serialize, frame, CRC, os.write, fsync)
      with the pure-Python CRC           5-9 MB/s      300-460 ms
      with google-crc32c                 310-740 MB/s  3.4-8 ms, 40-90x less

With the C CRC a write is serialization (0.6 ms), CRC (0.2 ms), os.write
(0.6 ms) and fsync (1.3-2 ms, 0.4-1 ms for a 300 KB log; up to 5 ms while
other processes write). The fsync is kept: it is small next to the encoding
that precedes every write on the same background thread, and it is what
makes a batch durable as a whole. google-crc32c is used because the CRC is
then a few per cent of a write, crc32c was not faster over a whole write,
and google-crc32c is Apache-2.0 like this project (crc32c is LGPL). Without it
(no wheel for the platform) the checksums fall back to TensorBoard's
pure-Python implementation, with a warning, since every log then costs a few
hundred milliseconds of CPU.
"""

import atexit
import functools
import itertools
import os
import socket
import struct
import threading
import time
import warnings
import weakref

from tensorboard.compat.proto import event_pb2

from tb_actviz import remote_files
from tb_actviz.write.local_event_file import LocalEventFile
from tb_actviz.write.remote_event_file import RemoteEventFile

try:
    import google_crc32c

    if google_crc32c.implementation != "c":
        raise ImportError("google-crc32c has no C extension on this platform")
    _crc32c = google_crc32c.value
    CRC32C_IMPLEMENTATION = "google-crc32c"
except ImportError:
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import crc32c as _crc32c

    CRC32C_IMPLEMENTATION = "tensorboard (pure Python)"

_FILE_VERSION = "brain.Event:2"
_SOURCE_WRITER = "tb_actviz"
_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF
# How long the exit handler waits for a write in flight before leaving the
# file descriptor to the OS (the file holds whole records either way).
_EXIT_LOCK_TIMEOUT = 10.0
# The zero-padded width of an event file name's counter (files of a process
# sort in the order they were made).
_COUNTER_DIGITS = 6

_file_counter = itertools.count()
_counter_lock = threading.Lock()
# Writers with a local event file open: closed at interpreter exit, and
# `leftovers` leaves their files alone.
_open_writers = weakref.WeakSet()
_warned_slow_crc = False


def masked_crc32c(data):
    """The masked CRC32C of `data`, as TFRecord stores it.

    Args:
      data: bytes.

    Returns:
      An int in [0, 2**32).
    """
    crc = _crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & _U32) + _MASK_DELTA) & _U32


def _frame(data, parts):
    """Appends one TFRecord to `parts`: length, its masked CRC, the data, the
    data's masked CRC. The caller joins the parts (one copy of the data)."""
    length = struct.pack("<Q", len(data))
    parts += (
        length,
        struct.pack("<I", masked_crc32c(length)),
        data,
        struct.pack("<I", masked_crc32c(data)),
    )


def _next_file_name(filename_suffix, counter_digits=_COUNTER_DIGITS):
    """A new event file name. Two files of one process may be made within a
    second (a second fit, a remote writer rolling over): the counter is
    zero-padded, since TensorBoard's loaders read a run's files in name order
    ("...7.10" sorts before "...7.9") and the readers take a step that goes
    back in that order for a restart (`restarts`)."""
    with _counter_lock:
        counter = next(_file_counter)
    return "events.out.tfevents.%010d.%s.%d.%0*d%s" % (
        time.time(),
        socket.gethostname(),
        os.getpid(),
        counter_digits,
        counter,
        filename_suffix,
    )


class EventFileWriter:
    """Appends batches of `Event` protos to an event file in `logdir`.

    The file, `events.out.tfevents.<time>.<host>.<pid>.<counter><suffix>`, is
    created on the first `write_events` and starts with a `file_version`
    event, as TensorBoard expects. Safe to use from several threads; writers
    left open are closed at interpreter exit.

    With `metadata_once`, a summary value's `metadata` is written only with
    the first value of its tag in each event file, as TensorFlow's own
    writers do: both TensorBoard loaders take a tag's metadata from its first
    value and ignore it afterwards, and TensorBoard's Python loader keeps
    every event it parsed in memory, metadata included (docs/format.md,
    "What TensorBoard keeps"). Each new file (a removed file replaced, a
    remote file rolled over) starts describing its tags again.
    """

    def __init__(self, logdir, filename_suffix="", metadata_once=False):
        """Creates the log directory; the event file comes with the first write.

        Args:
          logdir: a local directory (str or path-like), or a remote one
            (`s3://bucket/logs/run`, `gs://...`; see `remote_event_file`).
          filename_suffix: appended to the event file's name.
          metadata_once: write a tag's summary metadata only with its first
            value in each event file (the events given are not changed).

        Raises:
          ValueError: `logdir` is remote and no installed package reaches its
            store (the message says what to install).
          OSError: the local directory cannot be created.
        """
        logdir = os.fspath(logdir)
        target = RemoteEventFile if remote_files.is_remote(logdir) else LocalEventFile
        self._file = target(logdir, functools.partial(_next_file_name, filename_suffix))
        self._logdir = logdir
        self._lock = threading.Lock()
        self._closed = False
        self._metadata_once = metadata_once
        self._described = set()  # tags whose metadata the current file holds
        _warn_if_slow_crc()

    @property
    def logdir(self):
        return self._logdir

    @property
    def path(self):
        """The event file being written, or None before the first write and
        after the file was found removed."""
        return self._file.path

    def write_events(self, events):
        """Appends `events` to the event file, all of them or none.

        Args:
          events: a list of `event_pb2.Event`, each with `wall_time` and `step`
            set by the caller.

        Returns:
          The number of bytes written (the file's `file_version` event
          included when this call started the file); 0 for an empty list.

        Raises:
          TypeError: an element is not an `event_pb2.Event`.
          ValueError: an event has no `wall_time`, or the writer is closed.
          OSError: the directory or file could not be created, written or
            synced (the file is then truncated back to its length before the
            call), or it was removed or replaced since the last write (the
            next call starts a new file). Remotely: the upload failed, or the
            object was removed or replaced since the last one (the next call
            starts a new file either way). The message names the file.
        """
        events, parts = list(events), []
        for event in events:
            if not isinstance(event, event_pb2.Event):
                raise TypeError("expected an event_pb2.Event, got %r" % type(event))
            if not event.wall_time:
                raise ValueError("event has no wall_time: %s" % _describe(event))
            if not self._metadata_once:
                _frame(event.SerializeToString(), parts)
        if not events:
            return 0
        with self._lock:
            if self._closed:
                raise ValueError("write_events on a closed EventFileWriter")
            try:
                starts = self._file.start()
                if self._metadata_once:
                    if starts:
                        self._described = set()
                    described = set(self._described)
                    for event in events:  # serialized here: what a file holds decides
                        _frame(_metadata_once(event, described).SerializeToString(), parts)
                if starts:
                    header = []
                    _frame(_file_version_event().SerializeToString(), header)
                    parts[:0] = header
                if self._file.local:
                    _open_writers.add(self)
                written = self._file.append(b"".join(parts))
                if self._metadata_once:
                    self._described = described
                return written
            finally:
                if self._file.path is None:
                    _open_writers.discard(self)

    def close(self):
        """Closes the event file. Idempotent; later writes raise ValueError."""
        self._close(timeout=-1)

    def _close(self, timeout):
        if not self._lock.acquire(timeout=timeout):
            return
        try:
            self._closed = True
            self._file.drop()
            _open_writers.discard(self)
        finally:
            self._lock.release()


def _metadata_once(event, described):
    """`event`, or a copy of it without the metadata of the values whose tag
    is in `described`; adds its tags to `described`."""
    values = event.summary.value
    if not any(v.tag in described and v.HasField("metadata") for v in values):
        described.update(v.tag for v in values)
        return event
    stripped = event_pb2.Event()
    stripped.CopyFrom(event)
    for value in stripped.summary.value:
        if value.tag in described:
            value.ClearField("metadata")
        described.add(value.tag)
    return stripped


def _file_version_event():
    return event_pb2.Event(
        wall_time=time.time(),
        file_version=_FILE_VERSION,
        source_metadata=event_pb2.SourceMetadata(writer=_SOURCE_WRITER),
    )


def _describe(event):
    tags = [v.tag for v in event.summary.value]
    return "step %d, tags %s" % (event.step, tags) if tags else "step %d" % event.step


def _warn_if_slow_crc():
    global _warned_slow_crc
    if CRC32C_IMPLEMENTATION != "google-crc32c" and not _warned_slow_crc:
        _warned_slow_crc = True
        warnings.warn(
            "google-crc32c is not installed (or has no C extension here): "
            "event records are checksummed in pure Python at about 8 MB/s, "
            "~0.3 s per 2.5 MB log; pip install google-crc32c",
            RuntimeWarning,
            stacklevel=3,
        )


@atexit.register
def _close_open_writers():
    for writer in list(_open_writers):
        writer._close(timeout=_EXIT_LOCK_TIMEOUT)
