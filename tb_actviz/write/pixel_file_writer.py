"""Writes the plugin's own file of each log (`format.pixel_file`), whole.

A file is written under a temporary name, fsynced, then renamed into place,
so a reader (or a crash) never meets half a file; on any OSError the
temporary file is removed and the error raised, naming the file.
"""

import os

from tb_actviz.format import pixel_file


class PixelFileWriter:
    """Writes log files into `<run dir>/plugins/activations/`.

    Args:
      run_dir: the run's directory (local; created when first needed).
    """

    def __init__(self, run_dir):
        self.directory = os.path.join(os.fspath(run_dir), *pixel_file.PLUGIN_DIR)

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
        path = os.path.join(self.directory, pixel_file.file_name(step, wall_time))
        temporary = path + ".tmp"
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
            os.remove(path)
        except OSError:
            pass
