"""The plugin's own files: one file per log holding every tag's large blobs.

Format version 1 keeps TensorBoard's event files small (what TensorBoard
must index, and a compact per-step summary) and puts the pixel strips and
per-map statistics of a log in one file of the plugin's own, after
TensorBoard's convention for plugin-owned files:

    <run dir>/plugins/activations/<step>.<wall time in microseconds>.actviz

The name follows from the event's step and wall time, which the data
provider gives for every datum, so no index is needed to find it. The file:

    b"ACTVIZ01"                 magic and layout version
    uint32 LE                   header length
    header                      JSON: {"step": s, "wall_time": t,
                                       "tags": [[tag, [len0, len1, ...]], ...]}
    blobs                       each tag's blobs, in header order, back to back

A file is written whole (a temporary name, then renamed), so a reader sees a
complete file or none.
"""

import array
import json
import struct
import sys

PLUGIN_DIR = ("plugins", "activations")
SUFFIX = ".actviz"
MAGIC = b"ACTVIZ01"
_MAGIC_PREFIX = MAGIC[:6]
_HEADER_LENGTH = struct.Struct("<I")
# The largest header read: a log of 1000 layers x 1025 blobs is ~10 MB of
# lengths; more is a damaged or hostile file, refused before it is read.
MAX_HEADER_BYTES = 16 * 1024 * 1024
# Enough for the magic, the length and the header of a typical log (16
# layers x 50 blobs of lengths): one read usually gets the whole header.
HEADER_READ_SIZE = 16 * 1024


def file_name(step, wall_time):
    """The file name of the log written at `step` and `wall_time` (a float, as
    the event stores it)."""
    return "%010d.%d%s" % (step, round(wall_time * 1e6), SUFFIX)


def step_of(name):
    """The step in a log file's name (`file_name`), or None for any other name."""
    stem, dot, rest = name.partition(".")
    if dot and stem.isdigit() and rest.endswith(SUFFIX) and rest[:-len(SUFFIX)].isdigit():
        return int(stem)
    return None


def encode(step, wall_time, tag_blobs):
    """The bytes of one log's file.

    Args:
      step: the log's step.
      wall_time: the wall time of its events.
      tag_blobs: a list of (tag, list of bytes).
    """
    header = json.dumps(
        {
            "step": int(step),
            "wall_time": wall_time,
            "tags": [[tag, [len(b) for b in blobs]] for tag, blobs in tag_blobs],
        },
        separators=(",", ":"),
    ).encode()
    parts = [MAGIC, _HEADER_LENGTH.pack(len(header)), header]
    for _, blobs in tag_blobs:
        parts.extend(blobs)
    return b"".join(parts)


class Layout:
    """Where each tag's blobs are in one log's file, kept compact (the plugin
    caches thousands): the blobs' start offsets in one array, and per tag the
    range of its blobs in it.

    Attributes:
      step, wall_time: as written.
      tags: {tag: (index of its first blob, number of blobs)}.
    """

    __slots__ = ("step", "wall_time", "tags", "_starts")

    def __init__(self, step, wall_time, tags, starts):
        self.step = step
        self.wall_time = wall_time
        self.tags = tags
        self._starts = starts  # array("Q"): blob i is [starts[i], starts[i + 1])

    def blob_ranges(self, tag, indices):
        """[(offset, length)] of blobs `indices` of `tag`.

        Raises:
          KeyError: the tag is not in this file.
          IndexError: an index is out of range.
        """
        first, count = self.tags[tag]
        ranges = []
        for i in indices:
            if not 0 <= i < count:
                raise IndexError(i)
            start = self._starts[first + i]
            ranges.append((start, self._starts[first + i + 1] - start))
        return ranges

    def blob_count(self, tag):
        return self.tags[tag][1]

    @property
    def nbytes(self):
        """About what this object holds in memory (tag names are interned: shared)."""
        return 200 + sys.getsizeof(self.tags) + 64 * len(self.tags) + self._starts.itemsize * len(self._starts)


class NewerLayoutError(ValueError):
    """A pixel file of a layout newer than this tb_actviz reads."""


def header_size(prefix):
    """The total size of magic + length + header, from the file's first 12
    bytes or more.

    Raises:
      NewerLayoutError: the magic is of a newer layout (`ACTVIZ02`, ...).
      ValueError: not a tb_actviz pixel file, or a header longer than
        `MAX_HEADER_BYTES`.
    """
    magic = bytes(prefix[:len(MAGIC)])
    if len(magic) == len(MAGIC) and magic.startswith(_MAGIC_PREFIX) and magic != MAGIC:
        layout = magic[len(_MAGIC_PREFIX):]
        if layout.isdigit() and layout > MAGIC[len(_MAGIC_PREFIX):]:
            raise NewerLayoutError(
                "written by a newer tb_actviz (pixel file layout %s; this one reads %s): "
                "upgrade tb_actviz" % (layout.decode(), MAGIC[len(_MAGIC_PREFIX):].decode()))
    if len(prefix) < len(MAGIC) + _HEADER_LENGTH.size or magic != MAGIC:
        raise ValueError("not a tb_actviz pixel file (no %r magic)" % MAGIC)
    (length,) = _HEADER_LENGTH.unpack_from(prefix, len(MAGIC))
    if length > MAX_HEADER_BYTES:
        raise ValueError("its header claims %d bytes; headers are at most %d" % (length, MAX_HEADER_BYTES))
    return len(MAGIC) + _HEADER_LENGTH.size + length


def _tag_entries(header):
    """The [(tag, lengths)] of a decoded header, checked for shape: a JSON
    object whose "tags" is a list of [name, [length, ...]] pairs."""
    if not isinstance(header, dict) or not isinstance(header.get("tags"), list):
        raise ValueError('not an object with a "tags" list')
    for entry in header["tags"]:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
                and isinstance(entry[1], list)):
            raise ValueError("a tag entry that is not [name, [lengths]]")
        for n in entry[1]:
            if type(n) is not int:  # noqa: E721 - bools and floats are not lengths
                raise ValueError("a blob length that is not an integer (%.40r)" % (n,))
            if n < 0:
                raise ValueError("negative blob length")
    return header["tags"]


def parse_layout(head, file_size):
    """The `Layout` of a file from its first `header_size` bytes.

    Raises:
      ValueError: the header is not valid, or its blobs do not fit the file.
    """
    start = header_size(head)
    if len(head) < start:
        raise ValueError("truncated pixel file header")
    try:
        header = json.loads(head[len(MAGIC) + _HEADER_LENGTH.size:start])
        starts, tags = array.array("Q", [start]), {}
        for tag, lengths in _tag_entries(header):
            tags[sys.intern(tag)] = (len(starts) - 1, len(lengths))
            for n in lengths:
                starts.append(starts[-1] + n)
        starts = array.array("Q", starts)  # a copy without the growth's slack
        offset = starts[-1]
        step, wall_time = int(header["step"]), float(header["wall_time"])
    except RecursionError:
        raise ValueError("bad pixel file header: nested too deeply to be one") from None
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise ValueError("bad pixel file header: %s" % e) from None
    if offset > file_size:
        raise ValueError("pixel file holds %d bytes, its header describes %d" % (file_size, offset))
    return Layout(step, wall_time, tags, starts)
