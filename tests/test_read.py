"""Unit tests of tb_actviz/read/: the catalog and the blob source, over real
log dirs (tests/hostile_logdirs.py writes them with TensorBoard's protos and
tb_actviz's own writer) loaded by TensorBoard's Python loader."""

import os

import pytest

from tensorboard import context
from tensorboard import errors
from tensorboard.backend.event_processing import data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer

import hostile_logdirs
from tb_actviz import metadata
from tb_actviz.format import pixel_file
from tb_actviz.read import blob_source, catalog, pixel_store, restarts

CTX = context.RequestContext()
CONV = metadata.layer_tag(hostile_logdirs.HEALTHY_LAYER)


def _open(root):
    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        tensor_size_guidance={metadata.PLUGIN_NAME: 0})
    multiplexer.AddRunsFromDirectory(root)
    multiplexer.Reload()
    provider = restarts.LatestTrainingProvider(
        data_provider.MultiplexerDataProvider(multiplexer, root), multiplexer)
    source = blob_source.BlobSource(provider, pixel_store.PixelStore(pixel_store.RunLocator(logdir=root)))
    return multiplexer, catalog.Catalog(provider), source


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("read"))
    hostile_logdirs.write(root, ["undecodable_metadata", "newer_version", "huge_steps", "nan_wall_time",
                                 "pixel_png_bomb", "pixel_huge_claim", "wrong_summary_size", "bad_png"])
    return root


def test_the_listing_keeps_what_it_reads_and_says_why_of_the_rest(root):
    _, cat, _ = _open(root)
    listing, skipped = cat.listing(CTX, "")
    assert list(listing) == sorted(listing)
    assert CONV in listing[hostile_logdirs.HEALTHY_RUN]
    assert [(s.run, s.newer_version is not None) for s in skipped] == [
        ("newer_version/train", True), ("undecodable_metadata/train", False)]
    assert listing["undecodable_metadata/train"] == {}  # its run is listed, empty
    assert "does not parse" in skipped[1].reason


def test_a_sequence_tells_addressable_steps_from_the_others(root):
    _, cat, _ = _open(root)
    sequence = cat.sequence(CTX, "", "huge_steps/train", metadata.layer_tag("huge_steps"))
    reasons = {d.step: reason for d, reason in sequence.skipped}
    assert any(step < 0 and reason == "negative step" for step, reason in reasons.items())
    assert any(step > catalog.MAX_ADDRESSABLE_STEP for step in reasons)
    assert all(0 <= d.step <= catalog.MAX_ADDRESSABLE_STEP for d in sequence.steps)
    assert len(sequence.data) == len(sequence.steps) + len(sequence.skipped)
    nan = cat.sequence(CTX, "", "nan_wall_time/train", metadata.layer_tag("nan_wall_time"))
    assert [reason for _, reason in nan.skipped] == ["wall time nan is not a finite number"]
    with pytest.raises(errors.NotFoundError, match="no activations for run 'nope'"):
        cat.sequence(CTX, "", "nope", CONV)
    with pytest.raises(errors.NotFoundError, match="no step 9 for run"):
        cat.datum(CTX, "", hostile_logdirs.HEALTHY_RUN, CONV, 9)
    md, datum = cat.datum(CTX, "", hostile_logdirs.HEALTHY_RUN, CONV, 1)
    assert datum.step == 1 and md.kind == metadata.Kind.LAYER
    with pytest.raises(errors.NotFoundError, match="step 1 was rewritten"):
        cat.datum(CTX, "", hostile_logdirs.HEALTHY_RUN, CONV, 1, wall_time=datum.wall_time + 1)


def test_a_sequence_is_read_once_until_its_series_changes(tmp_path):
    root = str(tmp_path)
    run_dir = os.path.join(root, hostile_logdirs.HEALTHY_RUN)
    hostile_logdirs._write_v1_steps(run_dir, CONV, [0, 1])
    multiplexer, cat, _ = _open(root)
    first = cat.sequence(CTX, "", hostile_logdirs.HEALTHY_RUN, CONV)
    assert cat.sequence(CTX, "", hostile_logdirs.HEALTHY_RUN, CONV) is first
    hostile_logdirs._write_v1_steps(run_dir, CONV, [2], wall_times=[first.steps[-1].wall_time + 5])
    multiplexer.Reload()
    again = cat.sequence(CTX, "", hostile_logdirs.HEALTHY_RUN, CONV)
    assert again is not first and [d.step for d in again.steps] == [0, 1, 2]


def test_blobs_come_from_the_pixel_file_checked(root):
    _, cat, source = _open(root)
    md, datum = cat.datum(CTX, "", hostile_logdirs.HEALTHY_RUN, CONV, 2)
    count = len(md.filter_indices)
    blobs = source.read(CTX, hostile_logdirs.HEALTHY_RUN, CONV, md, datum, list(range(1 + count)))
    path = source.pixels.path(hostile_logdirs.HEALTHY_RUN, 2, datum.wall_time)
    assert os.path.basename(path) == pixel_file.file_name(2, datum.wall_time)
    assert len(blobs) == 1 + count and blobs[1][:4] == b"\x89PNG"
    with open(path, "rb") as f:
        assert blobs[1] in f.read()  # the bytes of the step's own pixel file
    (summary,) = source.read(CTX, hostile_logdirs.HEALTHY_RUN, CONV, md, datum, [0], summary=True)
    assert len(summary) == 4 * count * len(md.summary_names)


def test_one_error_names_run_tag_step_and_blob(root):
    _, cat, source = _open(root)
    run, tag = "pixel_png_bomb/train", metadata.layer_tag("pixel_png_bomb")
    md, datum = cat.datum(CTX, "", run, tag, 0)
    with pytest.raises(blob_source.UnreadableDataError) as caught:
        source.read(CTX, run, tag, md, datum, [0, 1])
    error = caught.value
    assert (error.run, error.tag, error.step, error.blob) == (run, tag, 0, 1)
    assert isinstance(error, errors.NotFoundError) and isinstance(error, ValueError)
    assert str(error).startswith("run %s, tag %s, step 0, blob 1 (strip of logged filter 0): " % (run, tag))
    # One rule for every reader: a version-0 strip that is no PNG, and a summary of the wrong length.
    md, datum = cat.datum(CTX, "", "bad_png/train", metadata.layer_tag("bad_png"), 0)
    with pytest.raises(blob_source.UnreadableDataError, match=r"blob 1 \(strip of logged filter 0\): not a PNG"):
        source.read(CTX, "bad_png/train", metadata.layer_tag("bad_png"), md, datum, [1])
    run, tag = "wrong_summary_size/train", metadata.layer_tag("wrong_summary_size")
    sequence = cat.sequence(CTX, "", run, tag)
    with pytest.raises(blob_source.UnreadableDataError, match=r"summary: the blob holds \d+ bytes"):
        source.summaries(CTX, run, tag, sequence.metadata, sequence.steps)


def test_a_series_leaves_out_the_steps_it_cannot_read(root):
    _, cat, source = _open(root)
    run, tag = "pixel_huge_claim/train", metadata.layer_tag("pixel_huge_claim")
    sequence = cat.sequence(CTX, "", run, tag)
    assert [d.step for d, _ in source.series(CTX, run, tag, sequence.metadata, sequence.steps, 1)] == [1]
    assert [d.step for d, _ in source.series(CTX, run, tag, sequence.metadata, sequence.steps, 0)] == [0, 1]
    with pytest.raises(errors.NotFoundError, match="is past the layer's"):
        source.series(CTX, run, tag, sequence.metadata, sequence.steps, 99)
