"""tb_actviz.read.pixel_store: the run locator (run names as TensorBoard gives
them -> run directories, from --logdir or --logdir_spec) and the pixel store
(byte ranges of the pixel files written by `write.pixel_file_writer`, each
blob's length checked against its tag's metadata before it is read, kept
within a byte budget). Real files in tmp_path; no file system is mocked."""

import os
import struct

import numpy as np
import pytest

from tensorboard import errors

from tb_actviz.format import blob_layout, pixel_file
from tb_actviz.format.geometry import MapGeometry
from tb_actviz.read import pixel_store
from tb_actviz.write.pixel_file_writer import PixelFileWriter

N, F, H, W = 2, 3, 4, 5
TAG = "actviz/layers/conv"
OTHER = "actviz/layers/other"


def layer_info():
    return blob_layout.layer_plugin_data("conv", 0, "Conv2D", (H, W, F), MapGeometry("maps", False, H, W, F, 1), N)


def layer_blobs(seed):
    maps = np.random.default_rng(seed).normal(size=(N, F, H, W)).astype(np.float32)
    return blob_layout.layer_blobs(maps)[0]


def write_log(run_dir, step, wall_time, seed=0):
    """One log's pixel file of TAG and OTHER; returns (path, TAG's blobs)."""
    blobs = layer_blobs(seed)
    path = PixelFileWriter(run_dir).write(step, wall_time, [(TAG, blobs), (OTHER, layer_blobs(seed + 1))])
    return path, blobs


def store_of(root, **kwargs):
    return pixel_store.PixelStore(pixel_store.RunLocator(logdir=str(root)), **kwargs)


# RunLocator ------------------------------------------------------------------------


def test_runs_under_a_logdir_are_its_subdirectories(tmp_path):
    (tmp_path / "a" / "train").mkdir(parents=True)
    locator = pixel_store.RunLocator(logdir=str(tmp_path))
    root = os.path.realpath(str(tmp_path))
    assert locator.candidates("a/train") == [os.path.join(root, "a/train")]
    assert locator.locate("a/train") == os.path.join(root, "a/train")
    assert locator.candidates(".") == [root]  # the log dir is itself a run
    assert locator.locate("b/train") is None


def test_a_file_url_and_a_user_path_are_the_local_directory(tmp_path, monkeypatch):
    (tmp_path / "run").mkdir()
    root = os.path.realpath(str(tmp_path))
    assert pixel_store.RunLocator(logdir="file://" + root).locate("run") == os.path.join(root, "run")
    monkeypatch.setenv("HOME", root)
    assert pixel_store.RunLocator(logdir="~").locate("run") == os.path.join(root, "run")


def test_runs_of_a_logdir_spec_are_named_by_their_group(tmp_path):
    for d in ("x/r1", "y/r2", "z"):
        (tmp_path / d).mkdir(parents=True)
    x, y, z = (os.path.realpath(str(tmp_path / d)) for d in ("x", "y", "z"))
    locator = pixel_store.RunLocator(logdir_spec="first:%s,second:%s,%s" % (x, y, z))
    assert locator.locate("first") == x
    assert locator.locate("first/r1") == os.path.join(x, "r1")
    assert locator.locate("second/r2") == os.path.join(y, "r2")
    assert locator.locate("second/r1") is None
    assert locator.candidates("first/r1") == [os.path.join(x, "r1"), os.path.join(z, "first/r1")]
    # A path of its own (leading "/") or a URI is a path, not a group name.
    assert pixel_store._parse_logdir_spec("/abs/p,name:rel,s3://b/logs,,") == [
        ("/abs/p", None), ("rel", "name"), ("s3://b/logs", None)]
    assert pixel_store.RunLocator().candidates("run") == []


def test_an_unlocated_run_names_where_it_looked(tmp_path):
    store = store_of(tmp_path)
    with pytest.raises(errors.NotFoundError, match="cannot locate the directory of run 'nope' under the log "
                                                   "dir \\(tried .*nope\\): its pixels are in plugins/activations/"):
        store.read("nope", TAG, layer_info(), 0, 1.0, [0])


# PixelStore ------------------------------------------------------------------------


def test_blobs_are_read_from_the_steps_own_file(tmp_path):
    run_dir = tmp_path / "run"
    path0, blobs0 = write_log(run_dir, 0, 10.0, seed=0)
    path1, blobs1 = write_log(run_dir, 1, 11.5, seed=5)
    store = store_of(tmp_path)
    assert store.path("run", 1, 11.5) == os.path.realpath(path1)
    assert os.path.basename(path0) == pixel_file.file_name(0, 10.0)
    assert store.blob_count("run", TAG, 0, 10.0) == 1 + F
    assert store.read("run", TAG, layer_info(), 0, 10.0, range(1 + F)) == blobs0
    assert store.read("run", TAG, layer_info(), 1, 11.5, [3, 1]) == [blobs1[3], blobs1[1]]
    assert store.read("run", OTHER, layer_info(), 1, 11.5, [0]) == [layer_blobs(6)[0]]


def test_read_blobs_and_headers_are_kept_within_the_budget(tmp_path):
    run_dir = tmp_path / "run"
    path, blobs = write_log(run_dir, 0, 10.0)
    kept = store_of(tmp_path)
    assert kept.read("run", TAG, layer_info(), 0, 10.0, [0, 1]) == blobs[:2]
    # The file's blobs overwritten in place (same lengths): what was read is served from memory.
    data = bytearray(open(path, "rb").read())
    layout = pixel_file.parse_layout(bytes(data), len(data))
    for index, (offset, length) in enumerate(layout.blob_ranges(TAG, range(1 + F))):
        data[offset:offset + length] = b"%d" % index * length
    with open(path, "wb") as f:
        f.write(data)
    assert kept.read("run", TAG, layer_info(), 0, 10.0, [0, 1]) == blobs[:2]
    # Blob 2 was not read before: it comes from the file (the cached header locates it).
    assert kept.read("run", TAG, layer_info(), 0, 10.0, [2]) == [b"2" * len(blobs[2])]
    # A budget smaller than one blob keeps none: every read goes to the file.
    none_kept = store_of(tmp_path, cache_bytes=10)
    assert none_kept.read("run", TAG, layer_info(), 0, 10.0, [1]) == [b"1" * len(blobs[1])]
    assert none_kept.read("run", TAG, layer_info(), 0, 10.0, [1]) == [b"1" * len(blobs[1])]
    os.remove(path)
    assert kept.read("run", TAG, layer_info(), 0, 10.0, [0, 1]) == blobs[:2]
    with pytest.raises(errors.NotFoundError, match="actviz cannot be read: .*No such file"):
        none_kept.read("run", TAG, layer_info(), 0, 10.0, [1])  # its header is kept: the blob is not


def test_the_lru_drops_the_least_recently_used_first():
    lru = pixel_store._LRU(10)
    lru.put("a", 1, 4)
    lru.put("b", 2, 4)
    assert lru.get("a") == 1  # now "b" is the oldest
    lru.put("c", 3, 4)
    assert (lru.get("a"), lru.get("b"), lru.get("c")) == (1, None, 3)
    lru.put("big", 4, 11)  # more than the budget: not kept, nothing dropped
    assert lru.get("big") is None and lru.get("a") == 1
    lru.put("a", 5, 2)  # replaced: its cost counts once
    lru.put("d", 6, 4)
    assert (lru.get("a"), lru.get("c"), lru.get("d")) == (5, 3, 6)


def test_what_is_missing_is_named(tmp_path):
    write_log(tmp_path / "run", 0, 10.0)
    store = store_of(tmp_path)
    with pytest.raises(errors.NotFoundError, match="pixel file .*0000000000.10500000.actviz is missing \\(a log "
                                                   "dir copied without its plugins/activations/ folder\\?\\)"):
        store.read("run", TAG, layer_info(), 0, 10.5, [0])  # another wall time than the file's
    with pytest.raises(errors.NotFoundError, match="tag 'actviz/layers/nope' is not in pixel file"):
        store.read("run", "actviz/layers/nope", layer_info(), 0, 10.0, [0])
    with pytest.raises(errors.NotFoundError, match="blob index out of range \\(step 0 of '%s' has 4\\)" % TAG):
        store.read("run", TAG, layer_info(), 0, 10.0, [4])


def test_a_blob_longer_than_its_metadata_allows_is_refused_unread(tmp_path):
    run_dir = tmp_path / "run" / "plugins" / "activations"
    run_dir.mkdir(parents=True)
    blobs = layer_blobs(0)
    claim = 2 ** 30
    # The header claims a 1 GiB strip; the file holds a few bytes of it.
    header = ('{"step":0,"wall_time":10.0,"tags":[["%s",[%d,%d,%d,%d]]]}'
              % (TAG, len(blobs[0]), claim, len(blobs[2]), len(blobs[3]))).encode()
    data = pixel_file.MAGIC + struct.pack("<I", len(header)) + header + blobs[0] + blobs[1]
    (run_dir / pixel_file.file_name(0, 10.0)).write_bytes(data)
    store = store_of(tmp_path)
    with pytest.raises(ValueError, match="its header describes"):  # blobs past the end of the file
        pixel_file.parse_layout(data, len(data))
    with pytest.raises(errors.NotFoundError, match="cannot be read: pixel file holds"):
        store.read("run", TAG, layer_info(), 0, 10.0, [0])
    # A file as long as its header says: the claim is checked before any read.
    (run_dir / pixel_file.file_name(0, 10.0)).write_bytes(b"")
    with open(run_dir / pixel_file.file_name(0, 10.0), "wb") as f:
        f.write(data)
        f.truncate(len(pixel_file.MAGIC) + 4 + len(header) + len(blobs[0]) + claim + len(blobs[2])
                   + len(blobs[3]))  # sparse: no disk used
    store = store_of(tmp_path)
    assert store.read("run", TAG, layer_info(), 0, 10.0, [0]) == [blobs[0]]
    with pytest.raises(pixel_store.DamagedBlobError) as caught:
        store.read("run", TAG, layer_info(), 0, 10.0, [1])
    assert caught.value.index == 1
    assert "gives blob 1 of %r %d bytes, a PNG declaring 10x4, where the tag's metadata allows at most" % (
        TAG, claim) in str(caught.value)
    assert str(caught.value).endswith(": not read")
    with pytest.raises(pixel_store.DamagedBlobError):  # one read of blobs 0 and 2 would span blob 1
        store_of(tmp_path).read("run", TAG, layer_info(), 0, 10.0, [0, 2])


def test_a_truncated_file_and_files_that_are_not_regular_are_refused(tmp_path):
    path, _ = write_log(tmp_path / "run", 0, 10.0)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 1)
    with pytest.raises(errors.NotFoundError, match="its header describes"):
        store_of(tmp_path).read("run", TAG, layer_info(), 0, 10.0, [F])
    os.remove(path)
    os.mkfifo(path)  # a FIFO's open would wait for a writer forever
    with pytest.raises(errors.NotFoundError, match="it is a FIFO, not a regular file"):
        store_of(tmp_path).read("run", TAG, layer_info(), 0, 10.0, [0])
    os.remove(path)
    os.mkdir(path)
    with pytest.raises(errors.NotFoundError, match="it is a directory, not a regular file"):
        store_of(tmp_path).read("run", TAG, layer_info(), 0, 10.0, [0])


def test_a_remote_run_is_read_through_the_store(memory_store):
    run_dir = "memory://actviz_read/run"
    _, blobs = write_log(run_dir, 3, 12.0)
    store = pixel_store.PixelStore(pixel_store.RunLocator(logdir="memory://actviz_read"))
    assert store.path("run", 3, 12.0) == "memory://actviz_read/run/plugins/activations/" + pixel_file.file_name(
        3, 12.0)
    assert store.read("run", TAG, layer_info(), 3, 12.0, [0, F]) == [blobs[0], blobs[F]]
    with pytest.raises(errors.NotFoundError, match="cannot locate the directory of run 'other'"):
        store.read("other", TAG, layer_info(), 3, 12.0, [0])
