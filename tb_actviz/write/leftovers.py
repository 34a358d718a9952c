"""Removes what writers killed mid-log left in a local run directory.

A writer writes a log's pixel file (under a temporary name, renamed into
place) and then its events (`write.log_writer`). Killed (`kill -9`, an OOM
kill, a power cut) between the two, it leaves a temporary file or a pixel
file no event refers to; nothing reads them, but they take disk space and
add up over restarts. `clean` removes, once when a `LogWriter` starts (on its
background thread, before its first log), what is provably left over:

- A temporary `<pixel file name>.<host>.<pid>.tmp` (the naming of
  `pixel_file_writer.temporary_name`) whose host is this one and whose pid
  is not a live process: no one can still write or rename it. One of a live
  pid on this host (this process included) is kept, whatever its age. One of
  another host (a log dir on a shared file system), or of the old naming
  (`<pixel file name>.tmp`, which says nothing of its writer), is removed
  only once its last change is older than `SAFE_AGE`: a temporary lives for
  one write and fsync.
- A pixel file `<step>.<wall time us>.actviz` that no event of any tb_actviz
  event file of the run refers to by (step, wall time), and that is older
  than what a writer still at work could have in flight. A writer writes its
  pixel file BEFORE its events, so another process writing to the same run
  may have a pixel file whose events are a few milliseconds from the disk.
  Such a file is removed only if its wall time (in its name) is older than
  the last event of a FINISHED writer's event file (one whose pid on this
  host is dead, or of this process and closed): every writer wrote its pixel
  files before a later event of some writer that has since stopped, so a
  file still unreferenced was either abandoned by a dead writer or belongs to
  a live writer that stalled between its pixel file and its events for
  longer than another writer took to write an event and die. Or its wall
  time is older than `SAFE_AGE` (which a stall of a live writer would have to
  exceed). So after a kill -9 and a restart, that round's orphan is removed
  at the next start (the restarted writer's events are later than it), or at
  this one once it is `SAFE_AGE` old.

  tb_actviz event files are told from others (the Keras TensorBoard
  callback's, say, in the same run dir) by their first record: the
  `file_version` event whose `source_metadata.writer` is "tb_actviz". If one
  of ours cannot be read whole (an I/O error, a checksum or proto that does
  not check out before its end), no pixel file is removed: its events might
  have referred to any of them. A torn last record (a writer killed mid-write,
  or one appending right now) just ends the file, as it does for readers.

Cost: it reads every tb_actviz event file of the run, record by record,
parsing the events; measured for a run of 1000 steps x 13 layers, see the
`clean` docstring.

Remote run dirs (`s3://`, `gs://`) are not cleaned: it would mean listing the
run and downloading every event file (up to `REMOTE_FILE_BYTES` each) at
every start, paid in requests and egress, and deleting objects on a
bucket other writers (on other hosts, whose liveness cannot be checked) may
be writing; remote pixel files are uploaded whole, so only orphan pixel files
(never temporaries) can be left there.

Never raises: a failure to list, read or remove is one warning, and the
training goes on.
"""

import logging
import os
import re
import socket
import struct
import time

from tensorboard.compat.proto import event_pb2

from tb_actviz import metadata
from tb_actviz import remote_files
from tb_actviz.format import pixel_file
from tb_actviz.write import event_file_writer

logger = logging.getLogger("tb_actviz")

# Older than this, a leftover whose writer cannot be checked is one: no
# writer spends this long between its pixel file and its events, or on one
# temporary file.
SAFE_AGE = 10 * 60.0

_PIXEL_FILE = re.compile(r"^(-?\d+)\.(-?\d+)" + re.escape(pixel_file.SUFFIX) + r"$")
_TEMPORARY = re.compile(r"^-?\d+\.-?\d+" + re.escape(pixel_file.SUFFIX) + r"\.(.+)\.(\d+)\.tmp$")
_OLD_TEMPORARY = re.compile(r"^-?\d+\.-?\d+" + re.escape(pixel_file.SUFFIX) + r"\.tmp$")
# event_file_writer._next_file_name, with the empty suffix LogWriter uses.
_EVENT_FILE = re.compile(r"^events\.out\.tfevents\.\d+\.(.+)\.(\d+)\.\d+$")
_EVENT_FILE_PREFIX = "events.out.tfevents."
_NAMES_SHOWN = 3


def temporary_suffix():
    """What a pixel file's temporary name adds to its name: `.<host>.<pid>.tmp`."""
    return ".%s.%d.tmp" % (socket.gethostname(), os.getpid())


def _pid_alive(pid):
    """Whether `pid` is a process on this host (a pid reused by another
    process counts as alive: the safe side)."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, another user's
        return True
    return True


def _writer_finished(host, pid, path, open_paths):
    """Whether the writer of a file named with `host` and `pid` can write no more."""
    if host != socket.gethostname():
        return False  # unknown: another host's process
    if pid == os.getpid():
        return path not in open_paths
    return not _pid_alive(pid)


class _Unreadable(Exception):
    pass


def _read_event_file(path):
    """(whether it is a tb_actviz event file, the pixel file names its events
    refer to, its last event's wall time or None).

    Raises:
      _Unreadable: one of ours that cannot be read whole.
    """
    names, last = set(), None
    try:
        with open(path, "rb") as f:
            first = True
            while True:
                header = f.read(12)
                if len(header) < 12:
                    break  # the end, or a torn last record
                length_bytes, length_crc = header[:8], struct.unpack("<I", header[8:])[0]
                if event_file_writer.masked_crc32c(length_bytes) != length_crc:
                    if first:
                        return False, set(), None
                    raise _Unreadable("a record length's checksum does not match")
                (length,) = struct.unpack("<Q", length_bytes)
                body = f.read(length + 4)
                if len(body) < length + 4:
                    break  # a torn last record
                data = body[:length]
                if event_file_writer.masked_crc32c(data) != struct.unpack("<I", body[length:])[0]:
                    if first:
                        return False, set(), None
                    raise _Unreadable("a record's checksum does not match")
                event = event_pb2.Event()
                try:
                    event.ParseFromString(data)
                except Exception as e:  # noqa: BLE001 - DecodeError, any protobuf flavour
                    if first:
                        return False, set(), None
                    raise _Unreadable("a record is not an Event: %s" % e) from e
                if first:
                    first = False
                    if not (event.HasField("file_version")
                            and event.source_metadata.writer == event_file_writer._SOURCE_WRITER):
                        return False, set(), None
                last = event.wall_time if last is None else max(last, event.wall_time)
                for value in event.summary.value:
                    if value.tag.startswith(metadata.TAG_PREFIX):
                        names.add(pixel_file.file_name(event.step, event.wall_time))
                        break
    except OSError as e:
        raise _Unreadable(str(e)) from e
    return not first, names, last


def clean(run_dir):
    """Removes leftovers of dead writers in `run_dir`'s pixel file directory
    (see the module docstring), with one warning line saying what and why.

    Measured on 2 shared x86-64 cores (Python 3.11, ext4, benchmarks/bench_leftovers_scan.py
    150), a run of 1000 steps x 13 layers (13,001 records in a 4.9
    MB, or 11.4 MB, event file; 1000 pixel files), nothing to remove: 77-135
    ms, median 110 ms, mostly parsing the records; on the writer's thread,
    at nice 19, before its first log.

    Args:
      run_dir: the run's directory; remote ones are left alone.

    Returns:
      The list of paths removed. Never raises.
    """
    try:
        return _clean(os.fspath(run_dir))
    except Exception as e:  # noqa: BLE001 - a clean-up must never cost the training
        logger.warning("tb_actviz: could not look for files left by killed writers in %s: %s: %s",
                       run_dir, type(e).__name__, e)
        return []


def _clean(run_dir):
    if remote_files.is_remote(run_dir):
        return []
    directory = os.path.join(run_dir, *pixel_file.PLUGIN_DIR)
    try:
        entries = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    now = time.time()
    here = socket.gethostname()
    temporaries, pixel_files = [], {}
    for name in entries:
        match = _TEMPORARY.match(name)
        if match:
            host, pid = match.group(1), int(match.group(2))
            if host == here:
                if pid != os.getpid() and not _pid_alive(pid):
                    temporaries.append(name)
                continue
        if match or _OLD_TEMPORARY.match(name):
            try:
                if os.lstat(os.path.join(directory, name)).st_mtime < now - SAFE_AGE:
                    temporaries.append(name)
            except OSError:
                pass
            continue
        match = _PIXEL_FILE.match(name)
        if match:
            pixel_files[name] = int(match.group(2))

    orphans, unsure = [], None
    if pixel_files:
        referenced, finished_last = set(), None
        open_paths = {w.path for w in list(event_file_writer._open_writers)} - {None}
        try:
            event_files = [n for n in os.listdir(run_dir) if n.startswith(_EVENT_FILE_PREFIX)]
        except OSError as e:
            event_files, unsure = [], "could not list %s: %s" % (run_dir, e)
        for name in event_files:
            path = os.path.join(run_dir, name)
            try:
                ours, names, last = _read_event_file(path)
            except _Unreadable as e:
                unsure = "event file %s: %s" % (path, e)
                continue
            if not ours:
                continue
            referenced |= names
            match = _EVENT_FILE.match(name)
            if (last is not None and match
                    and _writer_finished(match.group(1), int(match.group(2)), path, open_paths)):
                finished_last = last if finished_last is None else max(finished_last, last)
        limit_us = (now - SAFE_AGE) * 1e6
        if finished_last is not None:
            limit_us = max(limit_us, finished_last * 1e6)
        orphans = sorted(n for n, wall_us in pixel_files.items()
                         if n not in referenced and wall_us < limit_us)
        if unsure is not None and orphans:
            unsure = "kept %d pixel file(s) no readable event refers to (%s): %s" % (
                len(orphans), _shown(orphans), unsure)
            orphans = []
        else:
            unsure = None

    removed, failed = [], []
    for name in sorted(temporaries) + orphans:
        path = os.path.join(directory, name)
        try:
            os.remove(path)
        except FileNotFoundError:
            continue  # another writer's clean-up got there first
        except OSError as e:
            failed.append("%s (%s)" % (name, e.strerror or e))
            continue
        removed.append(path)
    _report(directory, removed, temporaries, orphans, failed, unsure)
    return removed


def _shown(names):
    more = len(names) - _NAMES_SHOWN
    return ", ".join(names[:_NAMES_SHOWN]) + (", and %d more" % more if more > 0 else "")


def _report(directory, removed, temporaries, orphans, failed, unsure):
    """One warning line: what was removed and why, what could not be."""
    gone = {os.path.basename(p) for p in removed}
    temporaries = [n for n in temporaries if n in gone]
    orphans = [n for n in orphans if n in gone]
    parts = []
    if temporaries:
        parts.append("removed %d temporary file(s) whose writer is not running (or older than "
                     "%d min): %s" % (len(temporaries), SAFE_AGE // 60, _shown(temporaries)))
    if orphans:
        parts.append("removed %d pixel file(s) no event refers to, older than the last event of a "
                     "stopped writer (or than %d min): %s" % (len(orphans), SAFE_AGE // 60, _shown(orphans)))
    if failed:
        parts.append("could not remove %d: %s" % (len(failed), _shown(failed)))
    if unsure:
        parts.append(unsure)
    if parts:
        logger.warning("tb_actviz: files left by killed writers in %s: %s", directory, "; ".join(parts))
