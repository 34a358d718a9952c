"""Writes TensorBoard event files without TensorFlow.

The callback's logs are ordinary TensorBoard event files: TFRecord-framed
`Event` protos, read by TensorBoard's Python loader and by its Rust data
server. This module writes them with the protos TensorBoard ships
(`tensorboard.compat.proto`) and nothing else, so logging works on Keras
backends other than TensorFlow. It does not import `tensorboard.summary.writer`
or `tensorboard.compat.tf`: both load the real TensorFlow when it is installed.

What it guarantees:

- No torn records. `write_events` frames a whole batch into one buffer, writes
  it with unbuffered `os.write` calls and `os.fsync`s it; on any `OSError`
  (a full disk, say) it truncates the file back to its length before the call
  and re-raises, naming the file. A reader sees whole batches or nothing, and
  the next call goes on after the last whole record. (Both TensorBoard
  loaders resume at the start of a torn record, so records appended after one
  would never be read.)
- No silent loss. On Linux, writes to an unlinked file succeed. Before each
  write the file's path is checked to still name the open file; if the
  directory or the file was removed or replaced, the call raises and the next
  one recreates the directory and starts a new event file.

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

Remote log directories (`s3://bucket/logs`, `gs://...`). Object stores have
no append, so there an event file is an object uploaded whole: the writer
keeps the file's bytes in memory and each `write_events` uploads all of them
(header and every record so far) in one request, which the store applies
atomically: a reader sees the previous version or the new one, whole batches
either way. Before each upload a size check (one HEAD) makes sure the object
is still the one last uploaded; if it was removed or replaced, the call
raises, as locally, and the next one starts a new event file instead of
bringing back logs whose pixel files went with it. A failed upload raises
(`OSError`, naming the file) and the next write starts a new file too: the
store may have taken the upload after all, and rewriting bytes a reader
already read would stop TensorBoard's reader of that file. Once an object
holds `REMOTE_FILE_BYTES`, the next write starts a new file, so uploads stay
bounded (a version-1 log is ~1.5 KB per layer: ~170 logs of 16 layers a
file).

File system access: locally, `_make_dir`, `_open_new`, `_append`, `_sync`,
`_names_open_file` and `_truncate` (plain `os` calls); remotely,
`tb_actviz.remote_files` (`write` and `size`).
"""

import atexit
import errno
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
# A remote event file is re-uploaded whole at every write: the next write
# after it reaches this size starts a new file.
REMOTE_FILE_BYTES = 4 * 1024 * 1024
# The zero-padded width of an event file name's counter (files of a process
# sort in the order they were made).
_COUNTER_DIGITS = 6

_file_counter = itertools.count()
_counter_lock = threading.Lock()
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


# File system access: the only functions that touch the log directory.


def _make_dir(logdir):
    os.makedirs(logdir, exist_ok=True)


def _open_new(logdir, filename_suffix):
    """Creates the directory and a new, empty event file: (path, fd)."""
    _make_dir(logdir)
    for _ in range(100):
        path = os.path.join(logdir, _next_file_name(filename_suffix))
        try:
            fd = os.open(
                path,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC,
                0o666,
            )
        except FileExistsError:
            continue
        return path, fd
    raise FileExistsError(errno.EEXIST, "no free event file name in %s" % logdir)


def _append(fd, data):
    """Writes all of `data` at the end of the file."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, "write() wrote nothing")
        view = view[written:]


def _sync(fd):
    os.fsync(fd)


def _names_open_file(path, fd):
    """Whether `path` still refers to the file open as `fd`."""
    try:
        on_path = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    opened = os.fstat(fd)
    return (on_path.st_ino, on_path.st_dev) == (opened.st_ino, opened.st_dev)


def _truncate(fd, length):
    os.ftruncate(fd, length)


def _error(cause, what, path):
    """An OSError like `cause` that says what failed on which file."""
    return OSError(cause.errno, "%s %s: %s" % (what, path, cause.strerror or cause))


class EventFileWriter:
    """Appends batches of `Event` protos to an event file in `logdir`.

    The file, `events.out.tfevents.<time>.<host>.<pid>.<counter><suffix>`, is
    created on the first `write_events` and starts with a `file_version`
    event, as TensorBoard expects. Safe to use from several threads; writers
    left open are closed at interpreter exit.
    """

    def __init__(self, logdir, filename_suffix=""):
        """Creates the log directory; the event file comes with the first write.

        Args:
          logdir: a local directory (str or path-like), or a remote one
            (`s3://bucket/logs/run`, `gs://...`; see the module docstring).
          filename_suffix: appended to the event file's name.

        Raises:
          ValueError: `logdir` is remote and no installed package reaches its
            store (the message says what to install).
          OSError: the local directory cannot be created.
        """
        logdir = os.fspath(logdir)
        self._remote = remote_files.is_remote(logdir)
        if self._remote:
            remote_files.check_reachable(logdir)  # object stores have no directories
        else:
            _make_dir(logdir)
        self._logdir = logdir
        self._suffix = filename_suffix
        self._lock = threading.Lock()
        self._path = None
        self._fd = None
        self._size = 0  # bytes of whole records in the open file
        self._uploaded = None  # remote: the bytes of the event file, as uploaded
        self._closed = False
        _warn_if_slow_crc()

    @property
    def logdir(self):
        return self._logdir

    @property
    def path(self):
        """The event file being written, or None before the first write and
        after the file was found removed."""
        return self._path

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
        parts = []
        for event in events:
            if not isinstance(event, event_pb2.Event):
                raise TypeError("expected an event_pb2.Event, got %r" % type(event))
            if not event.wall_time:
                raise ValueError("event has no wall_time: %s" % _describe(event))
            _frame(event.SerializeToString(), parts)
        if not parts:
            return 0
        with self._lock:
            if self._closed:
                raise ValueError("write_events on a closed EventFileWriter")
            if self._remote:
                return self._upload(parts)
            self._ensure_file()
            if self._size == 0:
                header = []
                _frame(_file_version_event().SerializeToString(), header)
                parts[:0] = header
            data = b"".join(parts)
            path, what = self._path, "writing"
            try:
                _append(self._fd, data)
                what = "syncing (fsync)"
                _sync(self._fd)
            except OSError as e:
                self._roll_back()
                raise _error(e, what + " event file", path) from e
            self._size += len(data)
            return len(data)

    def close(self):
        """Closes the event file. Idempotent; later writes raise ValueError."""
        self._close(timeout=-1)

    def _close(self, timeout):
        if not self._lock.acquire(timeout=timeout):
            return
        try:
            self._closed = True
            self._drop_file()
        finally:
            self._lock.release()

    def _upload(self, parts):
        """`write_events` on a remote log dir: uploads the whole event file
        with the new records (`parts`); the caller holds the lock."""
        if self._uploaded is None:
            self._path = remote_files.join(
                self._logdir, _next_file_name(self._suffix))
            header = []
            _frame(_file_version_event().SerializeToString(), header)
            parts[:0] = header
            self._uploaded = b""
        path, previous = self._path, self._uploaded
        data = b"".join(parts)
        try:
            stored = remote_files.size(path) if previous else 0
        except OSError as e:
            self._drop_file()
            if isinstance(e, FileNotFoundError):
                raise OSError(
                    errno.ENOENT,
                    "event file %s was removed (or its bucket was); nothing was "
                    "written, the next write starts a new file" % path,
                ) from e
            raise OSError(
                e.errno,
                "checking event file %s: %s; nothing was written, the next write "
                "starts a new file" % (path, e.strerror or e),
            ) from e
        if stored != len(previous):
            self._drop_file()
            raise OSError(
                errno.ESTALE,
                "event file %s was replaced (it holds %d bytes, not the %d last uploaded); "
                "nothing was written, the next write starts a new file"
                % (path, stored, len(previous)),
            )
        contents = previous + data
        try:
            remote_files.write(path, contents)
        except OSError as e:
            self._drop_file()
            raise OSError(
                e.errno,
                "uploading event file %s: %s; the next write starts a new file"
                % (path, e.strerror or e),
            ) from e
        self._uploaded = contents
        if len(contents) >= REMOTE_FILE_BYTES:
            self._drop_file()  # the next write starts a new file: uploads stay bounded
        return len(data)

    def __del__(self):
        try:
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)
        except Exception:  # noqa: BLE001 - at interpreter exit, anything goes
            pass

    def _ensure_file(self):
        if self._fd is not None:
            try:
                still_there = _names_open_file(self._path, self._fd)
            except OSError as e:
                path = self._path
                self._drop_file()
                raise _error(e, "checking event file", path) from e
            if still_there:
                return
            path = self._path
            self._drop_file()
            raise OSError(
                errno.ENOENT,
                "event file %s was removed or replaced (or its directory was); "
                "nothing was written, the next write starts a new file" % path,
            )
        try:
            self._path, self._fd = _open_new(self._logdir, self._suffix)
        except OSError as e:
            raise _error(e, "creating an event file in", self._logdir) from e
        self._size = 0
        _open_writers.add(self)

    def _roll_back(self):
        try:
            _truncate(self._fd, self._size)
        except OSError:
            # The file may end in a torn record: leave it (readers stop there)
            # and go on in a new file.
            self._drop_file()

    def _drop_file(self):
        fd, self._fd = self._fd, None
        self._path = None
        self._size = 0
        self._uploaded = None
        _open_writers.discard(self)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


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
