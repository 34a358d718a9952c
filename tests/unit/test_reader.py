"""tb_actviz.reader.LogReader: a log dir read without TensorBoard's server.
A run written by tb_actviz's own writer with known maps (support/written_logs.py)
reads back as what was written; hostile log dirs (support/hostile_logdirs.py)
cost only what is damaged, with errors naming run, tag, step and blob."""

import os

import numpy as np
import pytest

import hostile_logdirs
import written_logs
from tb_actviz import metadata, wording
from tb_actviz import reader as tb_reader
from tb_actviz.format import blob_layout, images, map_encoding
from tb_actviz.reader import LogReader

HEALTHY = hostile_logdirs.HEALTHY_RUN
NEWER_CONV_RUN = hostile_logdirs.NEWER_CONV_RUN
NAN_RUN = hostile_logdirs.NAN_RUN
N, F, H, W = written_logs.N, written_logs.F, written_logs.H, written_logs.W
STEPS = [0, 1, 2]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("reader")
    run = written_logs.write_run(str(root / "run"), STEPS)
    return str(root), run


@pytest.fixture(scope="module")
def hostile_root(tmp_path_factory):
    """Every hostile case, a run of a newer format sorting first, and a run with
    a NaN wall time (hostile_logdirs.py)."""
    root = str(tmp_path_factory.mktemp("hostile_reader"))
    hostile_logdirs.write(root)
    hostile_logdirs.write_newer_conv(root)
    hostile_logdirs.write_nan_wall_time_run(root)
    return root


@pytest.fixture(scope="module")
def hostile_dir(hostile_root):
    return hostile_root


# A run as written -----------------------------------------------------------------


def test_the_runs_tags_steps_and_probe(written):
    root, run = written
    reader = LogReader(root)
    tags = reader.tags()
    assert list(tags) == ["run"] and reader.skipped() == []
    assert sorted(tags["run"]) == sorted([metadata.PROBE_TAG, run.layer_tag, run.kernel_tag] + run.attribution_tags)
    assert tags["run"][run.layer_tag].layer_path == written_logs.LAYER
    for tag in (run.layer_tag, run.kernel_tag, *run.attribution_tags):
        assert reader.steps("run", tag) == STEPS
        assert reader.hidden_steps("run", tag) == []
    assert reader.labels("run") == list(written_logs.LABELS) and reader.labels("nope") == []
    pictures, labels = reader.probe("run")
    assert labels == list(written_logs.LABELS)
    for picture, sample in zip(pictures, written_logs.probe_inputs()):
        np.testing.assert_array_equal(picture, images.display_image(sample, written_logs.PROBE_SIDE)[0])


def test_a_layer_snapshot_is_the_maps_of_its_step(written):
    root, run = written
    reader = LogReader("file://" + os.path.abspath(root))  # a file:// URL is that directory
    last = reader.layer("run", run.layer_tag)
    assert last.step == STEPS[-1]
    for step in STEPS:
        snapshot = reader.layer("run", run.layer_tag, step)
        maps = written_logs.layer_maps(step)
        stats = map_encoding.statistics(maps).transpose(1, 0, 2)  # [F, N, K]
        np.testing.assert_array_equal(snapshot.stats, stats)
        np.testing.assert_array_equal(snapshot.stat("max"), stats[..., 1])
        assert snapshot.quantized.shape == (F, N, H, W) and snapshot.quantized.dtype == np.uint8
        step_size = (stats[..., 1] - stats[..., 0])[..., None, None] / 255
        assert (np.abs(snapshot.values() - maps.transpose(1, 0, 2, 3)) <= step_size * 0.5001 + 1e-6).all()
        np.testing.assert_array_equal(reader.summary("run", run.layer_tag, step),
                                      np.frombuffer(blob_layout.layer_summary_blob(stats.transpose(1, 0, 2)),
                                                    "<f4").reshape(F, -1))
    series = reader.filter_series("run", run.layer_tag, 2)
    assert [step for step, _ in series] == STEPS
    for step, quantized in series:
        np.testing.assert_array_equal(quantized, reader.layer("run", run.layer_tag, step).quantized[2])


def test_an_attribution_snapshot_is_the_record_and_maps_of_its_step(written):
    root, run = written
    reader = LogReader(root)
    cam, saliency = run.attribution_tags
    for step in STEPS:
        snapshot = reader.attribution("run", cam, step)
        assert snapshot.info.attribution_method == "grad_cam"
        np.testing.assert_array_equal(snapshot.field("predicted_score"), written_logs.predictions(step)[:, 1])
        np.testing.assert_array_equal(reader.summary("run", cam, step), snapshot.record)
        maps = written_logs.attribution_maps(step)[0][:, 0]
        span = (snapshot.field("map_max") - snapshot.field("map_min"))[:, None, None]
        assert (np.abs(snapshot.values() - maps) <= span / 255 * 0.5001 + 1e-6).all()
    snapshot = reader.attribution("run", saliency)
    assert snapshot.step == STEPS[-1] and snapshot.info.layer_path == ""
    assert [snapshot.class_name(k) for k in (0, 1, 2, -1, float("nan"))] == [
        "cat", "dog", "2", "-1", wording.NOT_FINITE]


def test_what_is_not_there_is_a_key_error_naming_it(written):
    root, run = written
    reader = LogReader(root)
    with pytest.raises(KeyError, match="no activations for run 'nope'"):
        reader.layer("nope", run.layer_tag)
    with pytest.raises(KeyError, match="no activations for run 'run', tag 'actviz/layers/nope'"):
        reader.steps("run", "actviz/layers/nope")
    with pytest.raises(KeyError, match=r"no step 7 for run actviz/layers/block/conv; steps: \[0, 1, 2\]"):
        reader.layer("run", run.layer_tag, 7)
    with pytest.raises(KeyError, match="is not an attribution tag"):
        reader.attribution("run", run.layer_tag)


def test_a_log_dir_without_activations_reads_as_empty(tmp_path):
    reader = LogReader(str(tmp_path))
    assert reader.tags() == {} and reader.skipped() == []
    with pytest.raises(KeyError):
        reader.probe("run")


# Hostile log dirs ------------------------------------------------------------------


def test_reader_skips_tags_it_cannot_read_and_says_why(hostile_root):
    reader = LogReader(hostile_root)
    tags = reader.tags()
    assert metadata.layer_tag("conv") in tags[HEALTHY]
    assert tags["newer_version/train"] == {} and tags["undecodable_metadata/train"] == {}
    skipped = {(s.run, s.tag): s for s in reader.skipped()}
    assert sorted(skipped) == sorted([
        (NEWER_CONV_RUN, metadata.layer_tag("conv")),
        ("newer_version/train", metadata.layer_tag("newer_version")),
        ("undecodable_metadata/train", metadata.layer_tag("undecodable_metadata")),
    ])
    newer = skipped[("newer_version/train", metadata.layer_tag("newer_version"))]
    assert isinstance(newer, tb_reader.SkippedTag) and newer.newer_version == 99
    assert "version 99 is newer" in newer.reason
    run, tag, reason, version = skipped[("undecodable_metadata/train", metadata.layer_tag("undecodable_metadata"))]
    assert "does not parse" in reason and version is None
    with pytest.raises(KeyError, match="cannot be read: activations metadata version 99"):
        reader.layer("newer_version/train", metadata.layer_tag("newer_version"))


def test_reader_refuses_blobs_that_do_not_match_their_metadata(hostile_root):
    reader = LogReader(hostile_root)
    tag = metadata.layer_tag("wrong_summary_size")
    with pytest.raises(tb_reader.UnreadableDataError, match=(
            r"run wrong_summary_size/train, tag actviz/layers/wrong_summary_size, step 0, blob 0 "
            r"\(statistics\): summary: the blob holds 12 bytes; the metadata's 3 filters x 5 summary "
            r"values float32 values make 60")):
        reader.summary("wrong_summary_size/train", tag)
    error = pytest.raises(tb_reader.UnreadableDataError, reader.layer, "pixel_png_bomb/train",
                          metadata.layer_tag("pixel_png_bomb")).value
    assert (error.run, error.tag, error.step, error.blob) == (
        "pixel_png_bomb/train", metadata.layer_tag("pixel_png_bomb"), 0, 1)
    unreadable = []
    series = reader.filter_series(NAN_RUN, metadata.layer_tag("conv"), 0, unreadable=unreadable)
    assert [step for step, _ in series] == [0, 2]
    assert [step for step, _ in unreadable] == [1]
    with pytest.raises(tb_reader.UnreadableDataError, match="step 1: no pixel file name for wall time nan"):
        reader.filter_series(NAN_RUN, metadata.layer_tag("conv"), 0)


def test_the_reader_names_the_damaged_attribution_blob(hostile_dir):
    from tb_actviz.reader import LogReader, UnreadableDataError

    reader = LogReader(hostile_dir)
    run, tag = "damaged_attribution/train", metadata.attribution_tag("saliency")
    with pytest.raises(UnreadableDataError, match=r"step 0, blob 0 \(record of each image\)"):
        reader.attribution(run, tag, 0)
    with pytest.raises(UnreadableDataError, match=r"step 1, blob 1 \(strip of every image.s map\).*a PNG declaring 12000x12000"):
        reader.attribution(run, tag, 1)


@pytest.mark.parametrize("case, expected", [
    ("pixel_fifo", "a FIFO, not a regular file"),
    ("pixel_deep_header", "nested too deeply"),
    ("pixel_huge_claim", "allows at most"),
    ("pixel_newer_layout", "upgrade tb_actviz"),
])
def test_the_reader_refuses_a_damaged_pixel_file_without_blocking_or_reading_it(hostile_dir, case, expected):
    import resource

    from tensorboard import errors
    from tb_actviz.reader import LogReader

    from tb_actviz.reader import UnreadableDataError

    reader = LogReader(hostile_dir)
    run, tag = "%s/train" % case, metadata.layer_tag(case)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # A blob that cannot be what the metadata says names the blob; a file that is not one, the file.
    refusal = UnreadableDataError if case == "pixel_huge_claim" else errors.NotFoundError
    with pytest.raises(refusal, match=expected):
        reader.layer(run, tag, 0)
    assert reader.layer(run, tag, 1).quantized.shape[0] == hostile_logdirs.FILTERS
    unreadable = []
    assert [step for step, _ in reader.filter_series(run, tag, 0, unreadable=unreadable)] == [1]
    assert [step for step, _ in unreadable] == [0] and expected in str(unreadable[0][1])
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert grown_kib < 256 * 1024, grown_kib  # the 1 GiB claim was never read


def test_the_reader_refuses_a_probe_png_bomb_before_decoding(hostile_dir):
    from tb_actviz.reader import LogReader, UnreadableDataError

    reader = LogReader(hostile_dir)
    with pytest.raises(UnreadableDataError, match=r"probe image 1.*12000x12000 pixels, at most 4096 a side"):
        reader.probe("probe_png_bomb/train")
