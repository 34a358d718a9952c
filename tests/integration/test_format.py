"""The stored format (docs/format.md), read back through BOTH TensorBoard
loaders: the Python MultiplexerDataProvider and the Rust data server.
(The PNG and probe-image helpers themselves: tests/unit/format/test_images.py.)"""

import json
import os
import time

import numpy as np
import pytest
from tensorboard import context
from tensorboard.backend.event_processing import data_provider as mux_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.compat.proto import summary_pb2
from tensorboard.data import provider as provider_lib
from tensorboard.data import server_ingester
from tensorboard.util import grpc_util

from log_parsing import area_average, decode_png, dequantize, pixel_file_blobs
from tensorboard_process import READY_DEADLINE
from tb_actviz import metadata
from tb_actviz.format import images

MIN, MAX = 0, 1
K = len(metadata.STAT_NAMES)


# Both loaders over the session log dir -------------------------------------------------------


class Reader:
    """One TensorBoard data provider over the session's log root."""

    def __init__(self, name, provider):
        self.name = name
        self.provider = provider
        self.ctx = context.RequestContext()

    def list(self):
        return self.provider.list_blob_sequences(
            self.ctx, experiment_id="", plugin_name=metadata.PLUGIN_NAME
        )

    def read(self, run, tag):
        result = self.provider.read_blob_sequences(
            self.ctx,
            experiment_id="",
            plugin_name=metadata.PLUGIN_NAME,
            downsample=10**6,
            run_tag_filter=provider_lib.RunTagFilter(runs=[run], tags=[tag]),
        )
        return sorted(result.get(run, {}).get(tag, []), key=lambda d: d.step)

    def blob(self, reference):
        return self.provider.read_blob(self.ctx, blob_key=reference.blob_key)

    def steps(self, run, tag):
        return [d.step for d in self.read(run, tag)]


def _wait_complete(reader, trained_logs):
    deadline = time.monotonic() + READY_DEADLINE
    while True:
        if all(
            reader.steps(e.run, e.tag(path)) == e.steps
            for e in trained_logs.experiments
            for path in e.layers
        ):
            return
        if time.monotonic() > deadline:
            return  # the tests below report what is missing
        time.sleep(0.5)


@pytest.fixture(scope="module", params=["multiplexer", "data_server"])
def reader(request, trained_logs):
    if request.param == "multiplexer":
        multiplexer = plugin_event_multiplexer.EventMultiplexer(
            tensor_size_guidance={metadata.PLUGIN_NAME: 0}
        )
        multiplexer.AddRunsFromDirectory(trained_logs.root)
        multiplexer.Reload()
        r = Reader("multiplexer", mux_provider.MultiplexerDataProvider(multiplexer, trained_logs.root))
    else:
        ingester = server_ingester.SubprocessServerDataIngester(
            server_binary=server_ingester.get_server_binary(),
            logdir=trained_logs.root,
            reload_interval=1,
            channel_creds_type=grpc_util.ChannelCredsType.LOCAL,
            samples_per_plugin={metadata.PLUGIN_NAME: 0},
        )
        ingester.start()
        # Closing its stdin stops the data server (--die-after-stdin).
        request.addfinalizer(ingester._stdin_handle.close)
        r = Reader("data_server", ingester.data_provider)
    _wait_complete(r, trained_logs)
    return r


def layer_cases(trained_logs):
    return [(e, path) for e in trained_logs.experiments for path in e.layers]


def test_runs_and_tags(reader, trained_logs):
    listing = reader.list()
    for e in trained_logs.experiments:
        assert e.run in listing, (reader.name, sorted(listing))
        expected = {"actviz/probe"} | {e.tag(p) for p in e.layers} | set(e.attribution_tags)
        assert set(listing[e.run]) == expected
        for series in listing[e.run].values():
            assert series.max_step == e.steps[-1] or series.max_step == 0


def test_layer_metadata_geometry(reader, trained_logs):
    listing = reader.list()
    for e, path in layer_cases(trained_logs):
        g = e.layers[path]
        md = metadata.parse_plugin_metadata(listing[e.run][e.tag(path)].plugin_content)
        assert md.kind == metadata.Kind.LAYER
        assert (md.layer_path, md.layer_index, md.layer_class) == (path, g["index"], g["cls"])
        assert list(md.output_shape) == g["output_shape"]
        assert md.map_kind == g["map_kind"]
        assert md.num_images == g["N"]
        assert list(md.filter_indices) == list(range(g["F"]))
        assert (md.map_height, md.map_width) == (g["H"], g["W"])
        assert (md.source_height, md.source_width) == g["source"]
        assert md.downsample_factor == g["factor"]
        assert tuple(md.stat_names) == metadata.STAT_NAMES


def test_every_step_of_every_layer(reader, trained_logs):
    for e, path in layer_cases(trained_logs):
        assert reader.steps(e.run, e.tag(path)) == e.steps, (reader.name, e.run, path)


def layer_blobs(trained_logs, e, path, datum):
    """A layer step's blobs (format version 1: the plugin's own file of the
    log, found from the step and wall time this loader gives)."""
    return pixel_file_blobs(os.path.join(trained_logs.root, e.run), e.tag(path),
                            datum.step, datum.wall_time)


def log_summaries(run_dir):
    """{(layer tag, step, wall time): its summary blob} from the run's
    SUMMARIES events (one per log: blob 0 the JSON list of layer tags)."""
    from log_parsing import read_run

    values, metadatas = read_run(run_dir, events_only=True)
    md = metadatas[metadata.SUMMARIES_TAG]
    assert md.plugin_data.plugin_name == metadata.SUMMARIES_PLUGIN_NAME
    assert md.data_class == summary_pb2.DATA_CLASS_BLOB_SEQUENCE
    found = {}
    for step, wall_time, blobs in values[metadata.SUMMARIES_TAG]:
        tags = json.loads(blobs[0])
        assert len(blobs) == 1 + len(tags)
        for tag, blob in zip(tags, blobs[1:]):
            found[(tag, step, wall_time)] = blob
    return found


def test_blob_count_stats_shape_and_png_geometry(reader, trained_logs):
    for e in trained_logs.experiments:
        summaries = log_summaries(os.path.join(trained_logs.root, e.run))
        for path in e.layers:
            g = e.layers[path]
            for datum in reader.read(e.run, e.tag(path)):
                # TensorBoard keeps every event: a layer's holds no blob, its
                # summary is in the log's SUMMARIES event.
                assert len(datum.values) == 0, (path, datum.step)
                summary = np.frombuffer(summaries[(e.tag(path), datum.step, datum.wall_time)],
                                        dtype="<f4")
                check_layer_step(trained_logs, e, path, g, datum, summary)


def check_layer_step(trained_logs, e, path, g, datum, summary):
    """A layer step: its summary (from the event files) and its blobs (from the pixel file)."""
    assert summary.shape == (g["F"] * len(metadata.SUMMARY_NAMES),)
    blobs = layer_blobs(trained_logs, e, path, datum)
    assert len(blobs) == 1 + g["F"], (path, datum.step)
    stats_bytes = blobs[0]
    assert len(stats_bytes) == g["F"] * g["N"] * K * 4
    stats = np.frombuffer(stats_bytes, dtype="<f4").reshape(g["F"], g["N"], K)
    assert np.isfinite(stats).all()
    assert (stats[..., MIN] <= stats[..., MAX]).all()
    # The event's summary: per filter over the images.
    summary = summary.reshape(g["F"], -1)
    np.testing.assert_array_equal(summary[:, 0], stats[..., MIN].min(axis=1))
    np.testing.assert_array_equal(summary[:, 1], stats[..., MAX].max(axis=1))
    np.testing.assert_allclose(summary[:, 2], stats[..., 2].mean(axis=1), rtol=1e-6)
    for blob in blobs[1:]:
        png = decode_png(blob)
        assert png.dtype == np.uint8
        assert png.shape == (g["H"], g["N"] * g["W"]), (path, datum.step)


def to_nhwc(output, kind):
    if kind == "units":
        return output[:, None, :, None]
    return output


@pytest.mark.parametrize("which", ["initial", "final"])
def test_stored_values_match_the_model(reader, trained_logs, which):
    """Dequantized strips and statistics of step 0 and of the last step equal
    the model's activations for the probe (before / after training)."""
    for e, path in layer_cases(trained_logs):
        g = e.layers[path]
        outputs = e.initial_outputs if which == "initial" else e.final_outputs
        x = to_nhwc(outputs[path], g["map_kind"])[..., : g["F"]]
        datum = reader.read(e.run, e.tag(path))[0 if which == "initial" else -1]
        assert datum.step == (e.steps[0] if which == "initial" else e.steps[-1])
        blobs = layer_blobs(trained_logs, e, path, datum)
        stats = np.frombuffer(blobs[0], "<f4").reshape(g["F"], g["N"], K)
        # The statistics describe the stored (area-averaged) maps.
        expected = area_average(x, g["factor"])
        for f in range(g["F"]):
            stored = expected[..., f]
            np.testing.assert_allclose(stats[f, :, MIN], stored.min(axis=(1, 2)), rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(stats[f, :, MAX], stored.max(axis=(1, 2)), rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(stats[f, :, 2], stored.mean(axis=(1, 2)), rtol=1e-3, atol=1e-5)
        for f in range(g["F"]):
            strip = decode_png(blobs[1 + f])
            for i in range(g["N"]):
                low, high = stats[f, i, MIN], stats[f, i, MAX]
                got = dequantize(strip[:, i * g["W"]:(i + 1) * g["W"]], low, high)
                np.testing.assert_allclose(
                    got, expected[i, :, :, f], rtol=0, atol=(high - low) / 255 * 1.01 + 1e-5,
                    err_msg="%s %s filter %d image %d" % (reader.name, path, f, i),
                )


def test_probe_tag(reader, trained_logs):
    listing = reader.list()
    for e in trained_logs.experiments:
        md = metadata.parse_plugin_metadata(listing[e.run]["actviz/probe"].plugin_content)
        assert md.kind == metadata.Kind.PROBE
        assert md.num_images == len(e.probe_x)
        assert list(md.labels) == e.probe_labels
        assert md.channels == 1
        (datum,) = reader.read(e.run, "actviz/probe")
        assert datum.step == 0
        assert len(datum.values) == len(e.probe_x)
        for i, reference in enumerate(datum.values):
            png = decode_png(reader.blob(reference))
            expected, _ = images.display_image(e.probe_x[i], max_side=10**6)
            assert png.shape == expected.shape[:2]
            np.testing.assert_array_equal(png, expected)


def test_summary_metadata_data_class_on_disk(trained_logs):
    """What both loaders rely on: blob-sequence data class, plugin name, on the
    first event of every tag."""
    from log_parsing import read_run

    for e in trained_logs.experiments:
        values, metadatas = read_run(e.log_dir + "/train")
        for tag in ["actviz/probe"] + [e.tag(p) for p in e.layers]:
            md = metadatas[tag]
            assert md.plugin_data.plugin_name == "activations"
            assert md.data_class == summary_pb2.DATA_CLASS_BLOB_SEQUENCE
            for _, _, value in values[tag]:
                assert value.ndim == 1 and value.dtype == object


def test_each_tag_is_described_once_per_event_file(trained_logs):
    """TensorBoard's Python loader keeps every event it parsed, its metadata
    included: the callback writes a tag's metadata with the tag's first
    event in each of its event files only (the loaders above list every step
    with the plugin data all the same)."""
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.compat.proto import event_pb2

    checked = 0
    for e in trained_logs.experiments:
        run_dir = os.path.join(trained_logs.root, e.run)
        for name in sorted(os.listdir(run_dir)):
            if "tfevents" not in name:
                continue
            events = [event_pb2.Event.FromString(r) for r in
                      event_file_loader.RawEventFileLoader(os.path.join(run_dir, name)).Load()]
            if events[0].source_metadata.writer != "tb_actviz":
                continue  # another writer's file in the run (keras.callbacks.TensorBoard)
            seen = set()
            for event in events:
                for value in event.summary.value:
                    assert value.HasField("metadata") == (value.tag not in seen), (name, event.step, value.tag)
                    seen.add(value.tag)
            assert {e.tag(p) for p in e.layers} | {metadata.SUMMARIES_TAG} <= seen
            assert len(events) > 2 * len(seen)  # more than one event per tag
            checked += 1
    assert checked
