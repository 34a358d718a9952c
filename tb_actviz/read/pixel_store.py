"""Reads version-1 blobs from the plugin's own files (`format.pixel_file`).

TensorBoard gives the plugin run names, not paths: `RunLocator` finds a
run's directory from `--logdir` or `--logdir_spec` as TensorBoard names its
runs. `PixelStore` reads only the byte ranges a request needs, and keeps what
it read within a fixed budget, so the plugin's memory does not grow with the
pixels of a log dir. Local files are read with plain `open`; remote ones
(`s3://...`, `gs://...`) through `remote_files` (ranged GETs).
"""

import collections
import os
import re
import stat
import threading

from tensorboard import errors

from tb_actviz import remote_files
from tb_actviz.format import blob_checks
from tb_actviz.format import images
from tb_actviz.format import pixel_file

# Bytes of blobs kept between requests: a grid of 49 strips at one step is
# ~300 KB at the defaults, a 300-step filmstrip ~2 MB (the tab keeps what it
# fetched too). Filled, the caches cost ~1.5-2x their budget in RSS (the
# allocator's slack over the reader threads): 32 + 8 MiB kept the
# bench_plugin sweep ~40 MiB lower than 64 + 16 (benchmarks/README.md).
DEFAULT_CACHE_BYTES = 32 * 1024 * 1024
# Memory for parsed file headers (`pixel_file.Layout.nbytes`: ~8.5 KB at 16
# layers x 50 blobs): ~1000 logs' headers, three 300-step filmstrips' worth.
DEFAULT_LAYOUT_BYTES = 8 * 1024 * 1024
# What a cached blob costs beyond its bytes (the bytes object, key, LRU entry).
_BLOB_OVERHEAD = 300
_URI = re.compile(r"[a-zA-Z][0-9a-zA-Z.]*://.*")


def _parse_logdir_spec(spec):
    """[(path, group name or None)] of a `--logdir_spec`, as TensorBoard
    parses it ('name:/path,/other/path'; a leading '/' or a URI is a path)."""
    groups = []
    for item in spec.split(","):
        if not item:
            continue
        if (_URI.match(item) is None and ":" in item and item[0] != "/"
                and not os.path.splitdrive(item)[0]):
            name, _, path = item.partition(":")
        else:
            name, path = None, item
        groups.append((path, name))
    return groups


def _normalized(path):
    path = remote_files.file_url_path(path)  # file:///abs: that local path
    return path if _URI.match(path) else os.path.realpath(os.path.expanduser(path))


def _join(path, name):
    return remote_files.join(path, name) if _URI.match(path) else os.path.join(path, name)


class RunLocator:
    """Run name -> run directory, for a TensorBoard started with `logdir` or
    `logdir_spec` (one of them)."""

    def __init__(self, logdir=None, logdir_spec=None):
        if logdir:
            groups = [(logdir, None)]
        else:
            groups = _parse_logdir_spec(logdir_spec or "")
        self._groups = [(_normalized(path), name) for path, name in groups]
        self._remote_found = {}  # run -> remote directory: each check is a LIST request

    def candidates(self, run):
        """The directories `run` may name, most likely first."""
        found = []
        for path, name in self._groups:
            if name is None:
                found.append(path if run == "." else _join(path, run))
            elif run == name:
                found.append(path)
            elif run.startswith(name + "/"):
                found.append(_join(path, run[len(name) + 1:]))
        return found

    def locate(self, run):
        """The run's directory, or None when no candidate exists."""
        found = self._remote_found.get(run)
        if found is not None:
            return found
        for candidate in self.candidates(run):
            if not _URI.match(candidate):
                if os.path.isdir(candidate):
                    return candidate
                continue
            try:
                exists = remote_files.isdir(candidate)
            except OSError:
                continue  # unreachable: as missing (the error names the candidates)
            if exists:
                self._remote_found[run] = candidate
                return candidate
        return None


class _LRU:
    """A thread-safe LRU map bounded by a total cost."""

    def __init__(self, budget):
        self._budget = budget
        self._used = 0
        self._entries = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key, value, cost):
        if cost > self._budget:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._used -= old[1]
            self._entries[key] = (value, cost)
            self._used += cost
            while self._used > self._budget:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._used -= dropped


class DamagedBlobError(errors.NotFoundError):
    """A blob of a pixel file that cannot be what its tag's metadata says
    (longer than it allows); `index` is the blob's."""

    def __init__(self, index, details):
        super().__init__(details)
        self.index = index
        self.details = details


class PixelStore:
    """Reads blobs of version-1 tags.

    Args:
      locator: a `RunLocator`.
      cache_bytes: the budget of blob bytes kept between requests.
    """

    def __init__(self, locator, cache_bytes=DEFAULT_CACHE_BYTES):
        self._locator = locator
        self._layouts = _LRU(DEFAULT_LAYOUT_BYTES)
        self._blobs = _LRU(cache_bytes)

    def run_dir(self, run, what="its pixels are in plugins/activations/ of that directory"):
        """The directory of `run` (local path or URI).

        Raises:
          errors.NotFoundError: it cannot be located (the message ends with `what`).
        """
        run_dir = self._locator.locate(run)
        if run_dir is None:
            raise errors.NotFoundError(
                "cannot locate the directory of run %r under the log dir (tried %s): %s"
                % (run, ", ".join(self._locator.candidates(run)) or "nothing", what)
            )
        return run_dir

    def path(self, run, step, wall_time):
        """The log file of `run` at (`step`, `wall_time`).

        Raises:
          errors.NotFoundError: the run's directory cannot be located.
        """
        run_dir = self.run_dir(run)
        for name in pixel_file.PLUGIN_DIR + (pixel_file.file_name(step, wall_time),):
            run_dir = _join(run_dir, name)
        return run_dir

    def blob_count(self, run, tag, step, wall_time):
        return self._layout(self.path(run, step, wall_time), tag).blob_count(tag)

    def read(self, run, tag, plugin_data, step, wall_time, indices):
        """The bytes of blobs `indices` of `tag` at one step.

        Each blob's length, as the file's header gives it, is checked against
        what the tag's metadata allows (`blob_checks.max_length`) before any
        of it is read: a header claiming a 1 GiB strip is refused unread.

        Args:
          run, tag: where.
          plugin_data: the tag's `ActivationsPluginData`.
          step, wall_time: the step's, as its event gives them.
          indices: the blobs wanted.

        Raises:
          errors.NotFoundError: the run, its log file, the tag in it or an
            index is missing, or a blob is longer than its metadata allows
            (the message says which file).
        """
        path = self.path(run, step, wall_time)
        wanted = [(path, tag, i) for i in indices]
        found = {key: self._blobs.get(key) for key in wanted}
        missing = sorted({key[2] for key, value in found.items() if value is None})
        if missing:
            layout = self._layout(path, tag)
            try:
                ranges = layout.blob_ranges(tag, missing)
            except IndexError:
                raise errors.NotFoundError(
                    "blob index out of range (step %d of %r has %d)"
                    % (step, tag, layout.blob_count(tag))
                ) from None
            # The one read below spans the blobs between too: check them all.
            spanned = range(missing[0], missing[-1] + 1)
            for index, (offset, length) in zip(spanned, layout.blob_ranges(tag, spanned)):
                self._check_length(plugin_data, path, tag, index, offset, length)
            start = min(offset for offset, _ in ranges)
            end = max(offset + length for offset, length in ranges)
            chunk = self._read_range(path, start, end - start)  # one read: strips are adjacent
            for index, (offset, length) in zip(missing, ranges):
                data = chunk[offset - start:offset - start + length]
                found[(path, tag, index)] = data
                self._blobs.put((path, tag, index), data, len(data) + _BLOB_OVERHEAD)
        return [found[key] for key in wanted]

    def _check_length(self, plugin_data, path, tag, index, offset, length):
        """Raises DamagedBlobError if the header gives blob `index` more bytes
        than the tag's metadata allows; says what the blob declares to be
        if it starts as a PNG (its first 24 bytes are all that is read)."""
        try:
            limit = blob_checks.max_length(plugin_data, index)
        except ValueError as e:
            raise errors.NotFoundError("tag %r: %s" % (tag, e)) from None
        if length <= limit:
            return
        declared = ""
        try:
            declared = ", a PNG declaring %dx%d," % images.png_size(self._read_range(path, offset, 24))
        except (errors.NotFoundError, ValueError):
            pass
        raise DamagedBlobError(
            index,
            "pixel file %s is damaged: its header gives blob %d of %r %d bytes%s where the tag's "
            "metadata allows at most %d: not read" % (path, index, tag, length, declared, limit))

    def _layout(self, path, tag):
        layout = self._layouts.get(path)
        if layout is None:
            layout = self._read_layout(path)
            self._layouts.put(path, layout, layout.nbytes)
        if tag not in layout.tags:
            raise errors.NotFoundError("tag %r is not in pixel file %s" % (tag, path))
        return layout

    def _read_layout(self, path):
        try:
            if _URI.match(path):
                return _remote_layout(path)
            with _open_regular_file(path) as f:
                head = f.read(pixel_file.HEADER_READ_SIZE)
                size = pixel_file.header_size(head)
                if size > len(head):
                    head += f.read(size - len(head))
                return pixel_file.parse_layout(head, os.fstat(f.fileno()).st_size)
        except FileNotFoundError:
            raise errors.NotFoundError(
                "pixel file %s is missing (a log dir copied without its plugins/activations/ "
                "folder?): the step's statistics summary is in the event files" % path
            ) from None
        except (OSError, ValueError) as e:
            raise errors.NotFoundError("pixel file %s cannot be read: %s" % (path, e)) from None

    def _read_range(self, path, offset, length):
        try:
            if _URI.match(path):
                data = remote_files.read_range(path, offset, length)
            else:
                with _open_regular_file(path) as f:
                    f.seek(offset)
                    data = f.read(length)
        except (OSError, ValueError) as e:
            raise errors.NotFoundError("pixel file %s cannot be read: %s" % (path, e)) from None
        if len(data) != length:
            raise errors.NotFoundError("pixel file %s is truncated" % path)
        return data


_FILE_KINDS = [
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
]


def _not_regular(mode):
    """What a file of `mode` is, if it is not a regular file (else None)."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")


def _open_regular_file(path):
    """`path` opened for binary reading, refused unless it is a regular file.

    Checked before opening (a FIFO's `open` waits for a writer, a device's may
    do anything) and again on what was opened, which is opened non-blocking,
    so a file swapped in between cannot park the reading thread either.

    Raises:
      FileNotFoundError: it does not exist.
      ValueError: it is not a regular file (the message says what it is).
      OSError: it cannot be opened.
    """
    kind = _not_regular(os.stat(path).st_mode)
    if kind is None:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        kind = _not_regular(os.fstat(fd).st_mode)
        if kind is None:
            return os.fdopen(fd, "rb")
        os.close(fd)
    raise ValueError("it is %s, not a regular file" % kind)


def _remote_layout(path):
    """`_read_layout` of a remote file: its size, then its first bytes."""
    file_size = remote_files.size(path)
    head = remote_files.read_range(path, 0, min(pixel_file.HEADER_READ_SIZE, file_size))
    size = pixel_file.header_size(head)
    if size > len(head):
        head += remote_files.read_range(path, len(head), size - len(head))
    return pixel_file.parse_layout(head, file_size)
