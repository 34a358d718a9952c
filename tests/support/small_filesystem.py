"""A real small file system (a pytest plugin, registered by tests/conftest.py):
`small_filesystem`, a 2 MiB tmpfs mounted for one test, to run out of space for real."""

import os
import subprocess

import pytest


class SmallFileSystem:
    """A tmpfs of a few hundred KB mounted for one test, to run out of space
    for real. `fill()` takes all the space left; `free()` gives it back."""

    def __init__(self, path):
        self.path = path
        self._filler = os.path.join(path, "filler")

    def fill(self):
        chunk = b"\0" * 4096
        with open(self._filler, "ab", buffering=0) as f:
            try:
                while True:
                    f.write(chunk)
            except OSError:
                pass  # ENOSPC: full
        # Partial pages can leave a few bytes: take them too.
        with open(self._filler, "ab", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0")
            except OSError:
                pass

    def free(self):
        if os.path.exists(self._filler):
            os.remove(self._filler)


@pytest.fixture
def small_filesystem(tmp_path):
    """A tmpfs (2 MiB) mounted at a temporary folder. Mounting needs root (or
    CAP_SYS_ADMIN): elsewhere the test is skipped, saying why."""
    path = str(tmp_path / "tmpfs")
    os.makedirs(path)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", path],
        capture_output=True, text=True,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here to fill a disk for real (needs root): "
                    + done.stderr.strip())
    try:
        yield SmallFileSystem(path)
    finally:
        subprocess.run(["umount", "-l", path], check=False)
