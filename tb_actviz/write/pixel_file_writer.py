"""Writes the plugin's own file of each log (`format.pixel_file`), whole.

A file is written under a temporary name (`<name>.<host>.<pid>.tmp`, so
that a leftover of a killed writer can be told from one being written:
`write.leftovers`), fsynced, then renamed into place, so a reader (or a
crash) never meets half a file; on any OSError the
temporary file is removed and the error raised, naming the file. In a remote
run directory (`s3://...`) the file is one upload of the whole object
(`remote_files.write`), which the store applies atomically: no temporary
object, no rename (stores have none).
"""

import os

from tb_actviz import remote_files
from tb_actviz.format import pixel_file
from tb_actviz.write import leftovers


class PixelFileWriter:
    """Writes log files into `<run dir>/plugins/activations/`.

    Args:
      run_dir: the run's directory: local (created when first needed) or
        remote (`s3://bucket/logs/run/train`).
    """

    def __init__(self, run_dir):
        run_dir = os.fspath(run_dir)
        self._remote = remote_files.is_remote(run_dir)
        self._join = remote_files.join if self._remote else os.path.join
        self.directory = self._join(run_dir, *pixel_file.PLUGIN_DIR)

    def write(self, step, wall_time, tag_blobs):
        """Writes one log's file.

        Args:
          step, wall_time: the log's, as its events carry them.
          tag_blobs: a list of (tag, list of bytes).

        Returns:
          The path of the file.

        Raises:
          OSError: the file could not be written; nothing is left behind.
        """
        data = pixel_file.encode(step, wall_time, tag_blobs)
        path = self._join(self.directory, pixel_file.file_name(step, wall_time))
        if self._remote:
            try:
                remote_files.write(path, data)
            except OSError as e:
                raise OSError(e.errno, "uploading pixel file %s: %s" % (path, e.strerror or e)) from e
            return path
        temporary = path + leftovers.temporary_suffix()  # tells whose it is
        what = "creating the directory of"
        try:
            os.makedirs(self.directory, exist_ok=True)
            what = "writing"
            with open(temporary, "wb") as f:
                f.write(data)
                f.flush()
                what = "syncing (fsync)"
                os.fsync(f.fileno())
            what = "renaming into place"
            os.replace(temporary, path)
        except OSError as e:
            try:
                os.remove(temporary)
            except OSError:
                pass
            raise OSError(e.errno, "%s pixel file %s: %s" % (what, path, e.strerror or e)) from e
        return path

    def remove(self, path):
        """Removes a file no event refers to (its events could not be
        written); a failure here changes nothing for readers."""
        try:
            if self._remote:
                remote_files.remove(path)
            else:
                os.remove(path)
        except OSError:
            pass
