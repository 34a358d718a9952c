"""Remote log dirs: a real `model.fit` logs to `s3://` on a real S3-compatible
server (moto's server mode, started on 127.0.0.1 by a fixture), and a real
`tensorboard --logdir s3://...` serves the Activations tab from it, pixels
included; `tb_actviz.reader.LogReader` reads the same. A bucket deleted in
the middle of training costs warnings and the logs they name, nothing else.
The writer's remote path alone (whole-object uploads, rolling to a new file,
failed uploads, removed objects) is checked on fsspec's in-memory store.

Runs where TensorFlow is not installed (`.venv-jax`, `make test-jax`): with
TensorFlow importable, TensorBoard (its server and its loader, which
`LogReader` uses) reads through TensorFlow's `tf.io.gfile`, and TensorFlow
2.21 has no s3:// file system, so nothing here could be served there.

Training and reading run in subprocesses (this file, run as a script):
TensorBoard's S3 layer reads `S3_ENDPOINT` once, when it is first imported,
which in this pytest process may have happened (another test module) before
the fixture knew the server's port; a process started after the fixture set
the environment reads the right endpoint, as a user's would.
"""

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

if __name__ != "__main__":
    from keras_helpers import has_tensorflow
    from log_parsing import decode_png, parse_blobs, parse_series
    from tensorboard_process import free_port

    if has_tensorflow():
        pytest.skip(
            "TensorFlow is installed: TensorBoard then reads through tf.io.gfile, which "
            "has no s3:// file system in TensorFlow 2.21; these tests run in .venv-jax "
            "(make test-jax)",
            allow_module_level=True,
        )

BUCKET = "actviz"
LOGDIR = "s3://%s/logs" % BUCKET  # TensorBoard's S3 layer cannot list a bucket's root
RUN = "run/train"
EPOCHS = 3
LAYERS = {"c1": 4, "c2": 3}  # layer -> filters
PROBE_SIZE = 4
SERVER_DEADLINE = 60
WORKER_TIMEOUT = 600


# The S3 server ------------------------------------------------------------------


class S3Server:
    """A moto server on 127.0.0.1, and a boto3 client of it."""

    def __init__(self, endpoint, process, log_path):
        import boto3

        self.endpoint = endpoint
        self.process = process
        self.log_path = log_path
        self.client = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )

    def keys(self, bucket, prefix=""):
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-3000:]


def _start_moto(log_path):
    for _ in range(3):
        port = free_port()
        log = open(log_path, "wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        endpoint = "http://127.0.0.1:%d" % port
        deadline = time.monotonic() + SERVER_DEADLINE
        while time.monotonic() < deadline and process.poll() is None:
            try:
                urllib.request.urlopen(endpoint, timeout=5).close()
                return endpoint, process
            except urllib.error.HTTPError:
                return endpoint, process  # it answers
            except OSError:
                time.sleep(0.2)
        _stop(process)
        with open(log_path, "rb") as f:
            output = f.read().decode("utf-8", "replace")
        if "address already in use" not in output.lower():
            raise RuntimeError("moto server did not start in %ds:\n%s" % (SERVER_DEADLINE, output[-3000:]))
    raise RuntimeError("moto server found no free port")


def _stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server; the environment points boto3 (here, in the workers
    and in TensorBoard) at it with test credentials."""
    pytest.importorskip("moto", reason="moto is not installed (pip install 'moto[server]')")
    pytest.importorskip("boto3", reason="boto3 is not installed: TensorBoard's S3 layer needs it")
    root = tmp_path_factory.mktemp("s3")
    endpoint, process = _start_moto(str(root / "moto.log"))
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("S3_ENDPOINT", endpoint)
            env.setenv("AWS_ACCESS_KEY_ID", "testing")
            env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
            env.setenv("AWS_DEFAULT_REGION", "us-east-1")
            env.setenv("AWS_EC2_METADATA_DISABLED", "true")
            env.setenv("AWS_CONFIG_FILE", str(root / "no-config"))
            env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(root / "no-credentials"))
            env.delenv("AWS_PROFILE", raising=False)
            yield S3Server(endpoint, process, str(root / "moto.log"))
    finally:
        _stop(process)


def _worker(*args):
    """Runs this file as a script in a new process: its JSON result."""
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__)] + [str(a) for a in args],
        capture_output=True, text=True, timeout=WORKER_TIMEOUT,
    )
    assert result.returncode == 0, "worker %s failed:\n%s" % (args, result.stderr[-5000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def trained(s3):
    """`model.fit` with ActivationLogger(LOGDIR + "/run"), then LogReader(LOGDIR)."""
    s3.client.create_bucket(Bucket=BUCKET)
    training = _worker("train", LOGDIR + "/run", EPOCHS)
    return training, _worker("read", LOGDIR)


def _tag(layer):
    return "actviz/layers/" + layer


# A real model.fit, served by a real TensorBoard -----------------------------------


def test_training_writes_whole_objects_to_the_bucket(s3, trained):
    training, _ = trained
    assert training["epochs"] == EPOCHS
    assert training["warnings"] == []
    assert any("one log writes" in line and "s3://" in line for line in training["stdout"])
    keys = s3.keys(BUCKET, "logs/")
    events = [k for k in keys if "/events.out.tfevents." in k]
    pixels = [k for k in keys if k.endswith(".actviz")]
    assert len(events) == 1 and events[0].startswith("logs/run/train/events.out.tfevents.")
    assert [k.split("/")[-1][:10] for k in pixels] == ["%010d" % s for s in range(EPOCHS + 1)]
    assert all(k.startswith("logs/run/train/plugins/activations/") for k in pixels)
    assert not [k for k in keys if ".tb_actviz_write_check" in k or k.endswith(".tmp")]


def test_log_reader_reads_s3(trained):
    _, read = trained
    layers = read["runs"][RUN]["layers"]
    assert sorted(layers) == sorted(_tag(layer) for layer in LAYERS)
    for layer, filters in LAYERS.items():
        steps = layers[_tag(layer)]
        assert sorted(steps, key=int) == [str(s) for s in range(EPOCHS + 1)]
        q = np.array(steps["0"]["quantized"])
        assert q.shape[:2] == (filters, PROBE_SIZE)
    assert read["runs"][RUN]["probe_images"] == PROBE_SIZE


@pytest.mark.server
@pytest.mark.parametrize("load_fast", ["false", "auto"])
def test_tensorboard_serves_the_tab_from_s3(s3, trained, tensorboard_factory, load_fast):
    _, read = trained
    server = tensorboard_factory(LOGDIR, load_fast)

    def layers_listed():
        runs = server.plugin_json("runs")["runs"]
        return [sorted(layer["tag"] for layer in run["layers"]) for run in runs] == [
            sorted(_tag(layer) for layer in LAYERS)] and runs[0]["run"] == RUN

    server.wait_until(layers_listed, "the layers of %s" % RUN)
    steps = list(range(EPOCHS + 1))
    for layer in LAYERS:
        server.wait_until(lambda: server.served_steps(RUN, _tag(layer)) == steps,
                          "steps %s of %s" % (steps, layer))
    assert server.plugin_json("runs")["runs"][0]["probe"]["numImages"] == PROBE_SIZE
    for layer, filters in LAYERS.items():
        for step in steps:
            status, _, body = server.plugin(
                "blobs", run=RUN, tag=_tag(layer), step=step, indices="0-%d" % filters)
            assert status == 200, body[:300]
            blobs = parse_blobs(body)
            expected = read["runs"][RUN]["layers"][_tag(layer)][str(step)]
            stats = np.array(expected["stats"], dtype=np.float32)
            np.testing.assert_array_equal(np.frombuffer(blobs[0], "<f4").reshape(stats.shape), stats)
            quantized = np.array(expected["quantized"], dtype=np.uint8)  # [F, N, h, w]
            for f, png in enumerate(blobs[1:]):
                assert png[:4] == b"\x89PNG"
                np.testing.assert_array_equal(decode_png(png), np.concatenate(list(quantized[f]), axis=1))
    # The filmstrip: one strip per step, read from every step's pixel file
    # by the plugin's reader threads at once.
    status, _, body = server.plugin("series", run=RUN, tag=_tag("c1"), index=2)
    assert status == 200
    series = parse_series(body)
    assert [step for step, _, _ in series] == steps
    for step, _, png in series:
        quantized = np.array(read["runs"][RUN]["layers"][_tag("c1")][str(step)]["quantized"], np.uint8)
        np.testing.assert_array_equal(decode_png(png), np.concatenate(list(quantized[1]), axis=1))


@pytest.mark.server
def test_load_fast_true_cannot_read_s3(s3, trained, tensorboard_factory):
    # The Rust data server knows local paths and gs:// only; --load_fast=auto
    # (the default) falls back to the Python loader for s3://, true refuses.
    with pytest.raises(RuntimeError, match='unknown protocol "s3"'):
        tensorboard_factory(LOGDIR, "true")


def test_an_unreachable_bucket_fails_at_train_begin(s3):
    result = _worker("train", "s3://no-such-bucket/logs/run", 1)
    assert "cannot write to log_dir 's3://no-such-bucket/logs/run'" in result["error"]
    assert "NoSuchBucket" in result["error"]


def test_tensorboards_loader_follows_a_growing_event_object(s3):
    # Each log re-uploads the whole event file; TensorBoard's loader, which
    # reads on from its offset with ranged GETs, gets the new records only.
    s3.client.create_bucket(Bucket="growing")
    assert _worker("grow", "s3://growing/logs/run") == {"reads": [[0], [1, 2], [], [3]]}


# Faults --------------------------------------------------------------------------


def test_deleted_bucket_loses_only_the_logs_it_warns_about(s3):
    bucket, epochs = "outage", 6
    s3.client.create_bucket(Bucket=bucket)
    # Deleted before step 2 is logged, created again before step 3.
    training = _worker("train", "s3://%s/logs/run" % bucket, epochs, "--outage", 2, 3)
    assert training["epochs"] == epochs  # training completed
    warned = training["lost_steps"]
    assert warned == [2, 3], training["warnings"]
    assert "NoSuchBucket" in training["warnings"][0] and "s3://outage/" in training["warnings"][0]
    assert "was removed" in training["warnings"][1]
    keys = s3.keys(bucket)
    # Steps 0 and 1 went with the bucket; step 3's pixel file was uploaded,
    # then removed when its events could not be: no step without its events.
    pixels = sorted(int(k.split("/")[-1][:10]) for k in keys if k.endswith(".actviz"))
    assert pixels == [4, 5, 6]
    assert len([k for k in keys if "/events.out.tfevents." in k]) == 1
    read = _worker("read", "s3://%s/logs" % bucket)
    for layer in LAYERS:
        stored = sorted(int(s) for s in read["runs"][RUN]["layers"][_tag(layer)])
        assert stored == [4, 5, 6]  # not brought back: steps 0, 1; never written: 2, 3
        assert not set(stored) & set(warned)
        assert set(stored) | set(warned) == set(range(2, epochs + 1))


# The writer's remote path, on fsspec's in-memory store ----------------------------


def _event(step):
    from tensorboard.compat.proto import event_pb2, summary_pb2

    value = summary_pb2.Summary.Value(tag="loss", simple_value=float(step))
    return event_pb2.Event(wall_time=1.0 + step, step=step, summary=summary_pb2.Summary(value=[value]))


def _records(store, path):
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.compat.proto import event_pb2

    data = store.cat_file(path.partition("://")[2])
    with tempfile.NamedTemporaryFile(suffix=".tfevents") as f:
        f.write(data)
        f.flush()
        return [event_pb2.Event.FromString(r) for r in event_file_loader.RawEventFileLoader(f.name).Load()]


def test_remote_writer_uploads_whole_files_and_rolls(memory_store, monkeypatch):
    from tb_actviz.write import event_file_writer as efw, remote_event_file

    bound = 150
    monkeypatch.setattr(remote_event_file, "REMOTE_FILE_BYTES", bound)
    writer = efw.EventFileWriter("memory://logs/run")
    batch = writer.write_events([_event(0)])  # the header and one event: an upper bound
    for step in range(1, 24):
        writer.write_events([_event(step)])
    writer.close()
    # In name order, as TensorBoard's Python loader reads them.
    files = sorted(memory_store.ls("/logs/run", detail=False))
    assert len(files) >= 4
    steps = []
    for name in files:
        events = _records(memory_store, "memory://" + name)
        assert events[0].file_version == "brain.Event:2"
        assert memory_store.size(name) < bound + batch
        steps += [e.step for e in events[1:]]
    assert steps == list(range(24))  # every batch, each once, in order


def test_remote_writer_after_a_failed_upload_starts_a_new_file(memory_store, monkeypatch):
    from tb_actviz import remote_files
    from tb_actviz.write import event_file_writer as efw

    writer = efw.EventFileWriter("memory://logs/run")
    writer.write_events([_event(0)])
    first = writer.path
    upload = remote_files.write

    def fail(path, data):
        raise OSError(5, "injected", path)

    monkeypatch.setattr(remote_files, "write", fail)
    with pytest.raises(OSError, match="uploading event file memory://logs/run/events.*injected"):
        writer.write_events([_event(1)])
    monkeypatch.setattr(remote_files, "write", upload)
    writer.write_events([_event(2)])
    assert writer.path != first
    assert [e.step for e in _records(memory_store, first)[1:]] == [0]
    assert [e.step for e in _records(memory_store, writer.path)[1:]] == [2]

    # A removed object is not brought back: the write raises, the next one
    # starts a new file.
    removed = writer.path
    memory_store.rm(removed.partition("://")[2])
    with pytest.raises(FileNotFoundError, match="was removed"):
        writer.write_events([_event(3)])
    writer.write_events([_event(4)])
    assert not memory_store.exists(removed.partition("://")[2])
    assert [e.step for e in _records(memory_store, writer.path)[1:]] == [4]
    writer.close()


def test_pixel_files_and_reads_on_an_fsspec_store(memory_store):
    from tb_actviz import remote_files
    from tb_actviz.read import pixel_store
    from tb_actviz.write import pixel_file_writer

    import hostile_logdirs

    writer = pixel_file_writer.PixelFileWriter("memory://logs/run/train")
    md = hostile_logdirs.layer_data()  # 3 filters of 2 images: statistics are 144 bytes
    blobs = [b"s" * 144, b"a" * 7, b"b" * 9]
    path = writer.write(3, 12.5, [("t", blobs)])
    assert path == "memory://logs/run/train/plugins/activations/0000000003.12500000.actviz"
    assert memory_store.ls("/logs/run/train/plugins/activations", detail=False) == [path[len("memory:/"):]]
    store = pixel_store.PixelStore(pixel_store.RunLocator(logdir="memory://logs"))
    assert store.read("run/train", "t", md, 3, 12.5, [2, 1]) == [blobs[2], blobs[1]]
    assert store.blob_count("run/train", "t", 3, 12.5) == 3
    from tensorboard import errors

    with pytest.raises(errors.NotFoundError, match="is missing"):
        store.read("run/train", "t", md, 4, 12.5, [0])
    with pytest.raises(errors.NotFoundError, match="cannot locate"):
        store.read("nope", "t", md, 3, 12.5, [0])
    writer.remove(path)
    with pytest.raises(FileNotFoundError):
        remote_files.size(path)


# The workers ---------------------------------------------------------------------


def _train(log_dir, epochs, outage=None):
    """`model.fit` with ActivationLogger(log_dir); `outage`: (step before
    which the bucket is deleted, step before which it is created again)."""
    import io

    import keras
    from keras import layers

    from tb_actviz import ActivationLogger

    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logging.getLogger("tb_actviz").addHandler(handler)
    rng = np.random.default_rng(1)
    x = rng.random((16, 10, 10, 1), dtype=np.float32)
    y = rng.integers(0, 2, 16)
    model = keras.Sequential([
        keras.Input((10, 10, 1)),
        layers.Conv2D(LAYERS["c1"], 3, activation="relu", name="c1"),
        layers.Conv2D(LAYERS["c2"], 3, name="c2"),
        layers.Flatten(),
        layers.Dense(2),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    logger = ActivationLogger(log_dir, probe=(x[:PROBE_SIZE], y[:PROBE_SIZE]), layers=list(LAYERS))
    callbacks = [logger]
    if outage:
        callbacks.insert(0, _bucket_outage(logger, log_dir.split("/")[2], *outage))
    stdout, sys.stdout = sys.stdout, io.StringIO()
    try:
        history = model.fit(x, y, epochs=epochs, batch_size=8, verbose=0, callbacks=callbacks)
    except ValueError as e:
        return {"error": str(e)}
    finally:
        printed, sys.stdout = sys.stdout.getvalue(), stdout
    lost = [int(m.split("could not log step ")[1].split()[0])
            for m in records if "could not log step " in m]
    return {"epochs": len(history.history["loss"]), "warnings": records, "lost_steps": lost,
            "stdout": printed.splitlines()}


def _bucket_outage(logger, bucket, down, up):
    """A Keras callback, run before the logger's: deletes the bucket (once the
    log in flight is written) before step `down` is logged, and creates it
    again before step `up`."""
    import boto3
    import keras

    client = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"])

    class Outage(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            step = epoch + 1
            if step == down:
                logger.flush()
                for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                    for o in page.get("Contents", []):
                        client.delete_object(Bucket=bucket, Key=o["Key"])
                client.delete_bucket(Bucket=bucket)
            elif step == up:
                logger.flush()
                client.create_bucket(Bucket=bucket)

    return Outage()


def _grow(run_dir):
    """What TensorBoard's event file loader reads after each write."""
    from tensorboard.backend.event_processing import event_file_loader

    from tb_actviz.write import event_file_writer

    writer = event_file_writer.EventFileWriter(run_dir)
    writer.write_events([_event(0)])
    loader = event_file_loader.EventFileLoader(writer.path)
    reads = []
    for batch in ([], [1, 2], [], [3]):
        if batch:
            writer.write_events([_event(step) for step in batch])
        reads.append([e.step for e in loader.Load() if e.HasField("summary")])
    writer.close()
    return {"reads": reads}


def _read(logdir):
    """Everything LogReader(logdir) reads: per run, per layer tag, per step,
    the statistics and the quantized maps; the probe's image count."""
    from tb_actviz import metadata
    from tb_actviz.reader import LogReader

    reader = LogReader(logdir)
    runs = {}
    for run, tags in reader.tags().items():
        layers = {}
        for tag, info in tags.items():
            if info.kind != metadata.Kind.LAYER:
                continue
            layers[tag] = {}
            for step in reader.steps(run, tag):
                snapshot = reader.layer(run, tag, step)
                layers[tag][str(step)] = {"stats": snapshot.stats.tolist(),
                                          "quantized": snapshot.quantized.tolist()}
        probe = len(reader.probe(run)[0]) if metadata.PROBE_TAG in tags else 0
        runs[run] = {"layers": layers, "probe_images": probe}
    return {"runs": runs}


if __name__ == "__main__":
    mode, target = sys.argv[1], sys.argv[2]
    if mode == "train":
        outage = tuple(int(a) for a in sys.argv[5:7]) if "--outage" in sys.argv else None
        result = _train(target, int(sys.argv[3]), outage)
    elif mode == "grow":
        result = _grow(target)
    else:
        result = _read(target)
    print(json.dumps(result))
