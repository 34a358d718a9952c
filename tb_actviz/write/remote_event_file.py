"""An event file in a remote log directory (`s3://bucket/logs`, `gs://...`).

Object stores have no append, so there an event file is an object uploaded
whole: `RemoteEventFile` keeps the file's bytes in memory and each `append`
uploads all of them (header and every record so far) in one request, which
the store applies atomically: a reader sees the previous version or the new
one, whole batches either way. Before each upload a size check (one HEAD)
makes sure the object is still the one last uploaded; if it was removed or
replaced, the call raises, as locally, and the next one starts a new event
file instead of bringing back logs whose pixel files went with it. A failed
upload raises (`OSError`, naming the file) and the next write starts a new
file too: the store may have taken the upload after all, and rewriting bytes
a reader already read would stop TensorBoard's reader of that file. Once an
object holds `REMOTE_FILE_BYTES`, the next write starts a new file, so
uploads stay bounded (a version-1 log is ~1.5 KB per layer: ~170 logs of 16
layers a file).

File system access: `tb_actviz.remote_files` (`write` and `size`).
"""

import errno

from tb_actviz import remote_files

# A remote event file is re-uploaded whole at every write: the next write
# after it reaches this size starts a new file.
REMOTE_FILE_BYTES = 4 * 1024 * 1024


class RemoteEventFile:
    """The event file `EventFileWriter` writes in a remote log directory: its
    path and the bytes last uploaded to it, or none before the first write
    and after the file was dropped. Not thread-safe: the writer's lock
    guards it."""

    local = False  # holds no file descriptor

    def __init__(self, logdir, new_name):
        """Checks that an installed package reaches the store (ValueError
        saying what to install if none does); object stores have no
        directories to create. The file is named by `new_name()`."""
        remote_files.check_reachable(logdir)
        self._logdir = logdir
        self._new_name = new_name
        self.path = None
        self._uploaded = None  # the bytes of the event file, as uploaded

    def start(self):
        """Names a new file if there is none. Returns whether the next
        `append` starts the file (it must begin with the file_version event)."""
        if self._uploaded is not None:
            return False
        self.path = remote_files.join(self._logdir, self._new_name())
        self._uploaded = b""
        return True

    def append(self, data):
        """Uploads the whole file with `data` (whole records) at its end.

        Raises:
          OSError: the object was removed or replaced since the last upload,
            or cannot be checked, or the upload failed; the next write starts
            a new file either way. The message names the file.
        """
        path, previous = self.path, self._uploaded
        try:
            stored = remote_files.size(path) if previous else 0
        except OSError as e:
            self.drop()
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
            self.drop()
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
            self.drop()
            raise OSError(
                e.errno,
                "uploading event file %s: %s; the next write starts a new file"
                % (path, e.strerror or e),
            ) from e
        self._uploaded = contents
        if len(contents) >= REMOTE_FILE_BYTES:
            self.drop()  # the next write starts a new file: uploads stay bounded
        return len(data)

    def drop(self):
        """Forgets the file; the next `start` names a new one."""
        self.path = None
        self._uploaded = None
