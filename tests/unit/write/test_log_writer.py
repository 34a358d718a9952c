"""tb_actviz.write.log_writer: a run's logs written off the training thread.
Known maps go in (support/written_logs.py writes them as the loggers do); the
event files are read back with TensorBoard's own loader and the pixel files
as docs/format.md describes them (support/log_parsing.py), independently of
tb_actviz's readers. Faults are real: a run directory that cannot be
created, a capture that raises."""

import json
import logging
import os

import numpy as np
import pytest

import written_logs
from log_parsing import decode_png, dequantize, pixel_file_blobs, read_run
from tb_actviz import metadata
from tb_actviz.capture.captured_log import CapturedLog
from tb_actviz.format import blob_layout, images, map_encoding, pixel_file
from tb_actviz.format.geometry import MapGeometry
from tb_actviz.write import failure_policy, log_writer, tag_series

N, F, H, W = written_logs.N, written_logs.F, written_logs.H, written_logs.W
STEPS = [0, 1, 2]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return written_logs.write_run(str(tmp_path_factory.mktemp("log_writer") / "run"), STEPS)


def test_every_tag_is_written_at_every_step(run):
    values, metadatas = read_run(run.run_dir)
    assert sorted(values) == sorted([metadata.PROBE_TAG, metadata.SUMMARIES_TAG, run.layer_tag, run.kernel_tag]
                                    + run.attribution_tags)
    for tag in [run.layer_tag, run.kernel_tag, metadata.SUMMARIES_TAG] + run.attribution_tags:
        assert [step for step, _, _ in values[tag]] == STEPS, tag
    assert [step for step, _, _ in values[metadata.PROBE_TAG]] == [0]  # with the first log only
    layer = metadata.parse_plugin_metadata(metadatas[run.layer_tag].plugin_data.content)
    assert (layer.kind, layer.layer_path, layer.num_images, layer.step_unit) == (
        metadata.Kind.LAYER, written_logs.LAYER, N, "epoch")


def test_a_layer_step_is_its_pixel_file_and_a_summary_in_the_event_files(run):
    events, _ = read_run(run.run_dir, events_only=True)
    summaries = {step: blobs for step, _, blobs in events[metadata.SUMMARIES_TAG]}
    info = blob_layout.layer_plugin_data(written_logs.LAYER, 0, "Conv2D", (H, W, F),
                                         MapGeometry("maps", False, H, W, F, 1), N)
    for step, wall_time, value in events[run.layer_tag]:
        assert len(value) == 0  # the layer's event holds no blob
        maps = written_logs.layer_maps(step)
        stats = map_encoding.statistics(maps)  # [N, F, K]
        blobs = pixel_file_blobs(run.run_dir, run.layer_tag, step, wall_time)
        assert len(blobs) == 1 + F
        np.testing.assert_array_equal(np.frombuffer(blobs[0], "<f4").reshape(F, N, -1), stats.transpose(1, 0, 2))
        for f in range(F):
            strip = decode_png(blobs[1 + f])
            assert strip.shape == (H, N * W)
            for i in range(N):
                low, high = stats[i, f, 0], stats[i, f, 1]
                np.testing.assert_allclose(dequantize(strip[:, i * W:(i + 1) * W], low, high), maps[i, f],
                                           rtol=0, atol=(high - low) / 255 * 0.5001)
        # The log's SUMMARIES event: blob 0 the tags, then each one's summary.
        tags = json.loads(summaries[step][0])
        assert tags == [run.layer_tag]
        assert summaries[step][1] == blob_layout.layer_summary_blob(stats)
        assert blob_layout.decode_summary(summaries[step][1], info).shape == (F, len(metadata.SUMMARY_NAMES))


def test_many_layers_are_encoded_over_the_threads_as_each_would_be_alone(tmp_path):
    # From 4 layers on, whole layers are shared out over the encoding
    # threads (LogWriter._layer_blobs); each layer's blobs must be what
    # blob_layout.layer_blobs gives it alone, in the layers' order.
    shapes = [(N, 3, 8, 8), (N, 5, 4, 4), (N, 2, 16, 16), (N, 4, 2, 2), (N, 6, 8, 8)]
    rng = np.random.default_rng(7)
    maps = [rng.normal(size=s).astype(np.float32) for s in shapes]
    series = [tag_series.layer(written_logs.entry("layer%d" % k, index=k, output_shape=(h, w, f)),
                               MapGeometry("maps", False, h, w, f, 1), N, "epoch")
              for k, (_, f, h, w) in enumerate(shapes)]
    probe = log_writer.ProbeImages(inputs=written_logs.probe_inputs(), labels=written_logs.LABELS,
                                   max_side=written_logs.PROBE_SIDE, channels_first=False)
    writer = log_writer.LogWriter(str(tmp_path), series, [], probe, failure_policy.FailurePolicy())
    writer.submit(3, CapturedLog(layer_maps=maps, kernel_weights=[]))
    writer.close()
    events, _ = read_run(str(tmp_path), events_only=True)
    for layer, layer_maps in zip(series, maps):
        ((step, wall_time, _),) = events[layer.tag]
        expected, _, _ = blob_layout.layer_blobs(layer_maps)
        assert pixel_file_blobs(str(tmp_path), layer.tag, step, wall_time) == expected


def test_a_pixel_file_per_log_named_by_its_events(run):
    events, _ = read_run(run.run_dir, events_only=True)
    names = sorted(os.listdir(os.path.join(run.run_dir, *pixel_file.PLUGIN_DIR)))
    assert names == sorted(pixel_file.file_name(step, wall_time) for step, wall_time, _ in events[run.layer_tag])
    for step, wall_time, _ in events[run.attribution_tags[0]]:
        assert pixel_file.file_name(step, wall_time) in names  # one file holds all of a log's pixels


def test_kernels_and_attributions_are_what_was_captured(run):
    values, metadatas = read_run(run.run_dir)
    for step, _, (ranges_blob, png) in values[run.kernel_tag]:
        strip, ranges = blob_layout.kernel_strip(written_logs.kernel_weights(step))
        np.testing.assert_array_equal(np.frombuffer(ranges_blob, "<f4").reshape(-1, 2), ranges)
        np.testing.assert_array_equal(decode_png(png), strip)
    for tag, method in zip(run.attribution_tags, range(2)):
        info = metadata.parse_plugin_metadata(metadatas[tag].plugin_data.content)
        assert info.attribution_method == ("grad_cam", "saliency")[method]
        assert list(info.class_names) == list(written_logs.CLASS_NAMES)
        events, _ = read_run(run.run_dir, events_only=True)
        for (step, _, (record_event,)), (_, _, (record, strip)) in zip(events[tag], values[tag]):
            assert record_event == record  # the event holds the record, the pixel file both
            fields = blob_layout.decode_attribution_record(record, info)
            np.testing.assert_array_equal(fields[:, 2:6], written_logs.predictions(step))
            maps = written_logs.attribution_maps(step)[method]
            quantized = blob_layout.decode_strip(strip, info)
            for i in range(N):
                got = dequantize(quantized[i], fields[i, 0], fields[i, 1])
                np.testing.assert_allclose(got, maps[i, 0], atol=(fields[i, 1] - fields[i, 0]) / 255 * 0.5001)


def test_the_probe_images_are_written_once_with_their_labels(run):
    values, metadatas = read_run(run.run_dir)
    info = metadata.parse_plugin_metadata(metadatas[metadata.PROBE_TAG].plugin_data.content)
    assert list(info.labels) == list(written_logs.LABELS) and info.channels == 1
    ((_, _, pngs),) = values[metadata.PROBE_TAG]
    for png, sample in zip(pngs, written_logs.probe_inputs()):
        expected, _ = images.display_image(sample, written_logs.PROBE_SIDE)
        np.testing.assert_array_equal(decode_png(png), expected)


def test_the_first_log_written_reports_its_bytes_once(run):
    (sizes,) = run.first_written
    assert len(sizes) == 1 + 1 + 2  # the layer, the kernels, two attribution methods
    assert all(size > 0 for size in sizes)


def test_display_pictures_are_the_probe_images_shown(tmp_path):
    pictures = np.random.default_rng(7).integers(0, 256, size=(N, 16, 16, 3), dtype=np.uint8)
    run = written_logs.write_run(str(tmp_path / "run"), [0], kernels=False, attributions=False,
                                 display=pictures)
    values, metadatas = read_run(run.run_dir)
    assert metadata.parse_plugin_metadata(metadatas[metadata.PROBE_TAG].plugin_data.content).channels == 3
    ((_, _, pngs),) = values[metadata.PROBE_TAG]
    for png, picture in zip(pngs, pictures):
        # 16 > PROBE_SIDE 8: area-downsampled by 2, as the model input would be, values kept.
        expected = np.clip(np.round(images.area_downsample(picture, 2)), 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(decode_png(png), expected)
    assert sorted(values) == sorted([metadata.PROBE_TAG, metadata.SUMMARIES_TAG, run.layer_tag])


def test_image_grids_are_written_for_the_images_tab(tmp_path):
    run = written_logs.write_run(str(tmp_path / "run"), [0, 1], kernels=False, attributions=False,
                                 image_grids=True)
    values, metadatas = read_run(run.run_dir)
    grid_tag = "actviz_grid/" + written_logs.LAYER
    assert metadatas[grid_tag].plugin_data.plugin_name == "images"
    for step, _, (width, height, png) in values[grid_tag]:
        strips = map_encoding.strips(written_logs.layer_maps(step), map_encoding.statistics(written_logs.layer_maps(
            step)))
        grid = images.filter_grid(strips, 0, N)  # the first image's maps, one tile per filter
        assert (int(width), int(height)) == (grid.shape[1], grid.shape[0])
        assert decode_png(png).shape == grid.shape + (3,)  # coloured (viridis)
    assert [step for step, _, _ in values[grid_tag]] == [0, 1]


def _probe():
    return log_writer.ProbeImages(inputs=np.zeros((1, 4, 4, 1)), labels=("",), max_side=4, channels_first=False)


def test_a_capture_that_raises_is_warned_about_and_writing_goes_on(tmp_path, caplog):
    failures = failure_policy.FailurePolicy()
    writer = log_writer.LogWriter(str(tmp_path / "run"), [], [], _probe(), failures)

    def broken():
        raise RuntimeError("the probe does not fit")

    with caplog.at_level(logging.WARNING, logger="tb_actviz"):
        writer.capture_and_submit(0, broken)
        writer.capture_and_submit(1, lambda: CapturedLog([], []))
        writer.close()
    assert "could not log step 0 (RuntimeError: the probe does not fit)" in caplog.text
    assert failures.in_a_row == 0 and not failures.disabled
    values, _ = read_run(str(tmp_path / "run"))
    assert [step for step, _, _ in values[metadata.PROBE_TAG]] == [1]  # with the first log that succeeded


def test_logs_that_cannot_be_written_stop_logging_after_three(tmp_path, caplog):
    failures = failure_policy.FailurePolicy()
    series = [tag_series.layer(written_logs.entry(written_logs.LAYER), MapGeometry("maps", False, H, W, F, 1), N,
                               "epoch")]
    writer = log_writer.LogWriter(str(tmp_path / "run"), series, [], _probe(), failures)
    # The run directory replaced by a file: neither its pixel files nor its events can be written.
    os.rmdir(tmp_path / "run")
    blocker = tmp_path / "run"
    blocker.write_text("not a directory")
    with caplog.at_level(logging.WARNING, logger="tb_actviz"):
        for step in range(5):
            writer.submit(step, CapturedLog([written_logs.layer_maps(step)], []))
        writer.close()  # never raises
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 3, warnings
    assert warnings[0].startswith("tb_actviz: could not log step 0 (") and str(blocker) in warnings[0]
    assert "failed 3 times in a row (the last: step 2" in warnings[2]
    assert failures.disabled  # steps 3 and 4 were not tried
    assert blocker.read_text() == "not a directory"
