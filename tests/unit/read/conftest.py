"""Log dirs the read/ tests share."""

import pytest

import hostile_logdirs


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """Hostile log dirs of the cases the read/ tests read (hostile_logdirs.py)."""
    root = str(tmp_path_factory.mktemp("read"))
    hostile_logdirs.write(root, ["undecodable_metadata", "newer_version", "huge_steps", "nan_wall_time",
                                 "pixel_png_bomb", "pixel_huge_claim", "wrong_summary_size", "bad_png"])
    return root
