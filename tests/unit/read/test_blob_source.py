"""tb_actviz.read.blob_source: a step's blobs, each checked, from the pixel
file or the event, with one error type; the layers' summaries from the logs'
SUMMARIES events, local and remote. Over real log dirs
(tests/support/hostile_logdirs.py and benchmarks/synthetic_logdir.py write
them with TensorBoard's protos and tb_actviz's own writer) loaded by
TensorBoard's Python loader."""

import os
import shutil

import numpy as np
import pytest

from tensorboard import errors
from tensorboard.compat.proto import event_pb2

import hostile_logdirs
from read_support import CONV, CTX, Datum, fills, open_log_dir, summary_run, synthetic_logdir
from tb_actviz import metadata
from tb_actviz.format import pixel_file
from tb_actviz.read import blob_source, pixel_store
from tb_actviz.write import event_file_writer, summary_v2


def test_blobs_come_from_the_pixel_file_checked(root):
    _, cat, source = open_log_dir(root)
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
    _, cat, source = open_log_dir(root)
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
    _, cat, source = open_log_dir(root)
    run, tag = "pixel_huge_claim/train", metadata.layer_tag("pixel_huge_claim")
    sequence = cat.sequence(CTX, "", run, tag)
    assert [d.step for d, _ in source.series(CTX, run, tag, sequence.metadata, sequence.steps, 1)] == [1]
    assert [d.step for d, _ in source.series(CTX, run, tag, sequence.metadata, sequence.steps, 0)] == [0, 1]
    with pytest.raises(errors.NotFoundError, match="is past the layer's"):
        source.series(CTX, run, tag, sequence.metadata, sequence.steps, 99)


# Summaries: in the log's SUMMARIES event (TensorBoard keeps a sample of 10) ----------------

RUN = "run1/train"
SUMMARIES_STEPS = 4


def _generate(root, **kwargs):
    synthetic_logdir.generate(str(root), layers=2, steps=SUMMARIES_STEPS, runs=1, images=3, pool=4,
                              quiet=True, **kwargs)
    return str(root)


def _summaries(source, cat, tag):
    sequence = cat.sequence(CTX, "", RUN, tag)
    return [(d.step, data) for d, data in source.summaries(CTX, RUN, tag, sequence.metadata, sequence.steps)]


def test_a_layer_events_summary_is_in_its_logs_summaries_event(tmp_path):
    # The same log dir in both layouts of version 1: each layer-step's summary
    # in its own event (before), or in one SUMMARIES event per log (now).
    now = _generate(tmp_path / "now")
    before = _generate(tmp_path / "before", layer_event_summaries=True)
    multiplexer, cat, source = open_log_dir(now)
    _, cat_before, source_before = open_log_dir(before)
    tags = sorted(t for t in cat.listing(CTX, "")[0][RUN] if t.startswith(metadata.LAYER_TAG_PREFIX))
    assert len(tags) == 2
    # What TensorBoard's Python loader keeps per step: the layer's event, no blob.
    assert {len(e.tensor_proto.string_val) for e in multiplexer.Tensors(RUN, tags[0])} == {0}
    assert len(multiplexer.Tensors(RUN, metadata.SUMMARIES_TAG)) == SUMMARIES_STEPS  # (10 in TensorBoard)
    for tag in tags:
        served = _summaries(source, cat, tag)
        assert [step for step, _ in served] == list(range(SUMMARIES_STEPS))
        assert served == _summaries(source_before, cat_before, tag)
        md, datum = cat.datum(CTX, "", RUN, tag, 2)
        assert datum.values == ()
        assert source.read(CTX, RUN, tag, md, datum, [0], summary=True) == [served[2][1]]
        # It summarizes the step's statistics (pixel file): the max column, say.
        stats = np.frombuffer(source.read(CTX, RUN, tag, md, datum, [0])[0], "<f4").reshape(
            len(md.filter_indices), md.num_images, len(md.stat_names))
        summary = np.frombuffer(served[2][1], "<f4").reshape(len(md.filter_indices), -1)
        np.testing.assert_array_equal(summary[:, list(md.summary_names).index("max")],
                                      stats[..., list(md.stat_names).index("max")].max(axis=1))
    # A log dir copied without its pixel files: the summaries are in the event files.
    shutil.rmtree(os.path.join(now, RUN, *pixel_file.PLUGIN_DIR))
    _, cat, source = open_log_dir(now)
    assert [step for step, _ in _summaries(source, cat, tags[1])] == list(range(SUMMARIES_STEPS))


def test_summaries_follow_the_latest_training_and_leave_out_what_is_not_there(tmp_path):
    root = str(tmp_path)
    run_dir = os.path.join(root, "run")
    tag = metadata.layer_tag("conv")
    summary_run(run_dir, [(s, 100.0 + s, s) for s in range(4)], [tag], 3)
    # A second training into the run, from step 2 (a new event file).
    md = summary_run(run_dir, [(s, 200.0 + s, 10 + s) for s in (2, 3)], [tag], 3)
    _, cat, source = open_log_dir(root)
    sequence = cat.sequence(CTX, "", "run", tag)
    assert [(d.step, d.wall_time) for d in sequence.steps] == [(0, 100.0), (1, 101.0), (2, 202.0), (3, 203.0)]
    assert fills(source.summaries(CTX, "run", tag, md, sequence.steps)) == [(0, 0), (1, 1), (2, 12), (3, 13)]
    # A step whose SUMMARIES event is not the one listed (another wall time), or
    # not there at all, is left out of a series; read alone, it is an error.
    asked = [Datum(1, 101.0), Datum(2, 102.0), Datum(7, 107.0)]
    assert fills(source.summaries(CTX, "run", tag, md, asked)) == [(1, 1)]
    with pytest.raises(blob_source.UnreadableDataError, match="step 7: summary: the log's summaries event"):
        source.read(CTX, "run", tag, md, Datum(7, 107.0), [0], summary=True)
    # An event of three blobs is neither layout.
    with pytest.raises(blob_source.UnreadableDataError, match="the event holds 3 blobs where a layer"):
        source.summaries(CTX, "run", tag, md, [Datum(1, 101.0, ("a", "b", "c"))])


def test_a_summaries_event_without_the_tag_or_its_list_is_damaged(tmp_path):
    root = str(tmp_path)
    tag, other = metadata.layer_tag("conv"), metadata.layer_tag("other")
    md = summary_run(os.path.join(root, "run"), [(0, 100.0, 1)], [other], 3)
    _, _, source = open_log_dir(root)
    with pytest.raises(blob_source.UnreadableDataError,
                       match="step 0: summary: .* damaged: it holds no summary of this tag"):
        source.summaries(CTX, "run", tag, md, [Datum(0, 100.0)])
    writer = event_file_writer.EventFileWriter(os.path.join(root, "run"))
    writer.write_events([event_pb2.Event(step=1, wall_time=101.0, summary=summary_v2.activations_pb(
        metadata.SUMMARIES_TAG, [b"not json", b"x"], md))])
    writer.close()
    with pytest.raises(blob_source.UnreadableDataError, match="step 1: .* blob 0 is not the JSON list of the tags"):
        source.summaries(CTX, "run", tag, md, [Datum(1, 101.0)])


def test_summaries_of_a_remote_run_dir(memory_store):
    # TensorBoard's Python loader reads s3:// log dirs; the plugin reads the
    # SUMMARIES events of such a run through the same layer as its pixel files.
    run_dir = "memory://actviz_read/run/train"
    tag = metadata.layer_tag("conv")
    writer = event_file_writer.EventFileWriter(run_dir, metadata_once=True)
    md = summary_run(run_dir, [(s, 100.0 + s, s) for s in range(3)], [tag], 2, writer=writer)
    writer = event_file_writer.EventFileWriter(run_dir, metadata_once=True)  # a second file
    summary_run(run_dir, [(2, 302.0, 22)], [tag], 2, writer=writer)
    source = blob_source.BlobSource(None, pixel_store.PixelStore(
        pixel_store.RunLocator(logdir="memory://actviz_read")))
    asked = [Datum(0, 100.0), Datum(1, 101.0), Datum(2, 302.0)]
    assert fills(source.summaries(CTX, "run/train", tag, md, asked)) == [(0, 0), (1, 1), (2, 22)]
    with pytest.raises(errors.NotFoundError, match="cannot locate the directory of run 'nope'"):
        source.summaries(CTX, "nope", tag, md, asked)


def test_a_version_0_series_of_more_steps_than_reader_threads_answers(tmp_path):
    # /series reads each step on the blob source's thread pool; a version-0
    # step's blob is read from TensorBoard on that pool too: nested, every
    # reader waited on reads queued behind its own steps, forever.
    import threading

    steps = 200  # many more than the pool's threads: every reader takes an outer step first
    synthetic_logdir.generate(str(tmp_path), layers=1, steps=steps, runs=1, images=2, pool=2,
                              quiet=True, format_version=0)
    _, cat, source = open_log_dir(str(tmp_path))
    tag = metadata.layer_tag("block1_conv1")
    sequence = cat.sequence(CTX, "", RUN, tag)
    done = []
    reader = threading.Thread(target=lambda: done.append(
        source.series(CTX, RUN, tag, sequence.metadata, sequence.steps, 1)), daemon=True)
    reader.start()
    reader.join(60)
    assert done, "the series did not answer within 60 s"
    assert [d.step for d, _ in done[0]] == list(range(steps))
    assert all(blob[:4] == b"\x89PNG" for _, blob in done[0])
