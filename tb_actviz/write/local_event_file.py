"""An event file in a local directory, appended to in place.

What it guarantees:

- No torn records. `append` writes a whole batch with unbuffered `os.write`
  calls and `os.fsync`s it; on any `OSError` (a full disk, say) it truncates
  the file back to its length before the call and re-raises, naming the file.
  A reader sees whole batches or nothing, and the next call goes on after the
  last whole record. (Both TensorBoard loaders resume at the start of a torn
  record, so records appended after one would never be read.)
- No silent loss. On Linux, writes to an unlinked file succeed. Before each
  write the file's path is checked to still name the open file; if the
  directory or the file was removed or replaced, the call raises and the next
  one recreates the directory and starts a new event file.

File system access: `_make_dir`, `_open_new`, `_append`, `_sync`,
`_names_open_file` and `_truncate` (plain `os` calls) are the only functions
that touch the log directory.
"""

import errno
import os


def _make_dir(logdir):
    os.makedirs(logdir, exist_ok=True)


def _open_new(logdir, new_name):
    """Creates the directory and a new, empty event file named by
    `new_name()`: (path, fd)."""
    _make_dir(logdir)
    for _ in range(100):
        path = os.path.join(logdir, new_name())
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


class LocalEventFile:
    """The event file `EventFileWriter` appends to in a local directory: an
    open file descriptor (O_APPEND), or none before the first write and
    after the file was dropped. Not thread-safe: the writer's lock guards it.
    """

    local = True  # holds a file descriptor (closed at interpreter exit)

    def __init__(self, logdir, new_name):
        """Creates the directory (OSError if it cannot be); the file comes
        with the first `start`, named by `new_name()`."""
        _make_dir(logdir)
        self._logdir = logdir
        self._new_name = new_name
        self._fd = None
        self.path = None
        self._size = 0  # bytes of whole records in the open file

    def start(self):
        """Readies the file the next `append` goes on: the open one if its
        path still names it, else a new one. Returns whether that `append`
        starts the file (it must begin with the file_version event).

        Raises:
          OSError: the file was removed or replaced, or its path cannot be
            checked (the file is dropped: the next call starts a new one), or
            a new one cannot be created. The message names the file.
        """
        if self._fd is not None:
            try:
                still_there = _names_open_file(self.path, self._fd)
            except OSError as e:
                path = self.path
                self.drop()
                raise _error(e, "checking event file", path) from e
            if not still_there:
                path = self.path
                self.drop()
                raise OSError(
                    errno.ENOENT,
                    "event file %s was removed or replaced (or its directory was); "
                    "nothing was written, the next write starts a new file" % path,
                )
        else:
            try:
                self.path, self._fd = _open_new(self._logdir, self._new_name)
            except OSError as e:
                raise _error(e, "creating an event file in", self._logdir) from e
            self._size = 0
        return self._size == 0

    def append(self, data):
        """Writes and syncs `data` (whole records) at the end of the file:
        all of it, or, on an OSError (re-raised, naming the file), none."""
        path, what = self.path, "writing"
        try:
            _append(self._fd, data)
            what = "syncing (fsync)"
            _sync(self._fd)
        except OSError as e:
            self._roll_back()
            raise _error(e, what + " event file", path) from e
        self._size += len(data)
        return len(data)

    def _roll_back(self):
        try:
            _truncate(self._fd, self._size)
        except OSError:
            # The file may end in a torn record: leave it (readers stop there)
            # and go on in a new file.
            self.drop()

    def drop(self):
        """Closes the file; the next `start` makes a new one."""
        fd, self._fd = self._fd, None
        self.path = None
        self._size = 0
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def __del__(self):
        try:
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)
        except Exception:  # noqa: BLE001 - at interpreter exit, anything goes
            pass
