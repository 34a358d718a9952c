"""The examples on Keras's TensorFlow, JAX and PyTorch backends give log dirs
that the tab shows the same way: the same tags with the same metadata, the
same steps, the same blob layout, and the same `/runs` from a real
`tensorboard` serving all three.

Each backend runs in its own venv (JAX and PyTorch without TensorFlow), named
by `TB_ACTVIZ_BACKEND_PYTHONS="jax=.venv-jax/bin/python torch=..."`, which
`make test` sets; without it these tests are skipped, saying so. This test
module itself runs in the TensorFlow venv (`sys.executable`).
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from tb_actviz import metadata
from tb_actviz.format import images
from tb_actviz.reader import LogReader

from paths import REPO  # noqa: E402
TIMEOUT = 600
EXAMPLES = {
    "faces": ["--epochs", "2", "--image_size", "32", "--probe_size", "4"],
    "seed_vgg16": ["--epochs", "1", "--image_size", "32", "--probe_size", "3"],
}


def _backend_pythons():
    spec = os.environ.get("TB_ACTVIZ_BACKEND_PYTHONS", "")
    pythons = dict(item.split("=", 1) for item in spec.split())
    if set(pythons) != {"jax", "torch"}:
        pytest.skip("TB_ACTVIZ_BACKEND_PYTHONS does not name the jax and torch venvs' "
                    "pythons (make test sets it): got %r" % spec)
    return dict(pythons, tensorflow=sys.executable)


@pytest.fixture(scope="module", params=sorted(EXAMPLES))
def example_logs(request, tmp_path_factory):
    """{backend: log dir} of one example, trained on each backend at once."""
    pythons = _backend_pythons()
    root = tmp_path_factory.mktemp(request.param)
    runs = {}
    for backend, python in pythons.items():
        log_dir = str(root / backend)
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
        command = [python, os.path.join(REPO, "examples", request.param + ".py"),
                   "--log_dir", log_dir] + EXAMPLES[request.param]
        runs[backend] = (log_dir, subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for backend, (_, process) in runs.items():
        output, _ = process.communicate(timeout=TIMEOUT)
        assert process.returncode == 0, "%s on %s:\n%s" % (request.param, backend, output[-3000:])
    return root, {backend: log_dir for backend, (log_dir, _) in runs.items()}


def _what_the_tab_reads(log_dir):
    """Per tag: its metadata, steps, and the layout of its last step's blobs."""
    reader = LogReader(log_dir)
    described = {}
    for tag, info in reader.tags()["train"].items():
        entry = {"metadata": info, "steps": reader.steps("train", tag)}
        if info.kind == metadata.Kind.LAYER:
            snapshot = reader.layer("train", tag)
            entry["stats"] = snapshot.stats.shape
            entry["maps"] = snapshot.quantized.shape
            assert np.isfinite(snapshot.stats).all(), tag
        if info.kind == metadata.Kind.ATTRIBUTION:
            snapshot = reader.attribution("train", tag)
            entry["record"] = snapshot.record.shape
            entry["maps"] = snapshot.quantized.shape
            assert np.isfinite(snapshot.record).all(), tag
        if info.kind == metadata.Kind.PROBE:
            pictures, labels = reader.probe("train")
            entry["probe"] = [(p.shape, p.tobytes()) for p in pictures], labels
        described[tag] = entry
    return described


def test_every_backend_writes_what_the_tensorflow_run_writes(example_logs):
    _, log_dirs = example_logs
    reference = _what_the_tab_reads(log_dirs["tensorflow"])
    assert any(e["metadata"].kind == metadata.Kind.LAYER for e in reference.values())
    for backend in ("jax", "torch"):
        got = _what_the_tab_reads(log_dirs[backend])
        assert sorted(got) == sorted(reference), backend
        for tag, entry in reference.items():
            assert got[tag] == entry, (backend, tag)


@pytest.mark.server
def test_the_tab_lists_the_three_runs_alike(example_logs, tensorboard_factory):
    root, _ = example_logs
    server = tensorboard_factory(str(root), "true")
    names = ["%s/train" % b for b in ("jax", "tensorflow", "torch")]
    server.wait_until(
        lambda: sorted(r["run"] for r in server.plugin_json("runs")["runs"]) == names,
        "the three backends' runs",
    )
    runs = {r["run"]: r for r in server.plugin_json("runs")["runs"]}
    for name in names:
        assert runs[name]["layers"] == runs["tensorflow/train"]["layers"], name
        assert runs[name]["kernels"] == runs["tensorflow/train"]["kernels"], name
        assert runs[name]["attributions"] == runs["tensorflow/train"]["attributions"], name
        # examples/faces.py logs attributions; seed_vgg16.py does not.
        expected = ["grad_cam", "saliency"] if os.path.basename(str(root)).startswith("faces") else []
        assert [a["method"] for a in runs[name]["attributions"]] == expected
        tag = runs[name]["layers"][0]["tag"]
        status, _, body = server.plugin("blob", run=name, tag=tag, step=0, index=1)
        assert status == 200 and images.decode_png(body, max_side=16384).ndim == 2


_PYTORCH_RUN = r"""
import collections, sys
import numpy as np, torch
import tb_actviz.torch as tbt

torch.manual_seed(0)
model = torch.nn.Sequential(collections.OrderedDict([
    ("conv1", torch.nn.Conv2d(3, 8, 3, padding=1)), ("relu1", torch.nn.ReLU()),
    ("conv2", torch.nn.Conv2d(8, 6, 3, padding=1)), ("relu2", torch.nn.ReLU()),
    ("pool", torch.nn.AdaptiveAvgPool2d(1)), ("flat", torch.nn.Flatten()),
    ("head", torch.nn.Linear(6, 3)),
]))
x = torch.from_numpy(np.load(sys.argv[2])).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
y = torch.tensor([0, 1, 2, 0])
optimizer = torch.optim.SGD(model.parameters(), 0.1)
with tbt.ActivationLogger(sys.argv[1], (x, y), layers=["conv1", "conv2"], verbose=0) as logger:
    logger.log(model, 0)
    for epoch in (1, 2):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        logger.log(model, epoch)
"""


@pytest.mark.server
def test_a_keras_run_and_a_pytorch_run_compare_in_the_tab(tmp_path, tensorboard_factory, tab):
    """The same small CNN built in Keras and in PyTorch: the tab's Compare
    view shows one layer of each run side by side, at the same step."""
    import keras

    from browser_support import assert_drawn, tab_url
    from tb_actviz import ActivationLogger

    pythons = _backend_pythons()
    x = np.random.default_rng(0).random((4, 16, 16, 3)).astype("float32")
    np.save(tmp_path / "probe.npy", x)
    root = tmp_path / "logs"
    result = subprocess.run(
        [pythons["torch"], "-c", _PYTORCH_RUN, str(root / "pytorch"), str(tmp_path / "probe.npy")],
        capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stdout + result.stderr
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv2"),
        keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3),
    ])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    y = np.array([0, 1, 2, 0])
    model.fit(x, y, epochs=2, verbose=0, callbacks=[
        ActivationLogger(str(root / "keras"), (x, y), layers=["conv1", "conv2"], verbose=0)])

    server = tensorboard_factory(str(root), "true")
    server.wait_until(lambda: server.served_steps("pytorch", metadata.layer_tag("conv2")) == [0, 1, 2]
                      and server.served_steps("keras/train", metadata.layer_tag("conv2")) == [0, 1, 2],
                      "the Keras and the PyTorch run")
    tab.open(tab_url(server, view="compare", run="keras/train", layer="conv1", step=2,
                     cmpRun="pytorch", cmpLayer="conv1"))
    f = tab.f
    left, right = tab.grid("compare-left-grid"), tab.grid("compare-right-grid")
    assert len(left) == len(right) == 8
    for stats in left + right:
        assert stats["width"] == 16 and stats["height"] == 16
    for grid, what in ((left, "keras"), (right, "pytorch")):
        drawn = [s for s in grid if s["variance"] > 0]
        assert len(drawn) >= 4, what
        assert_drawn(drawn[0], what)
    assert f.locator("[data-testid=compare-left-title]").inner_text().startswith("keras/train · conv1")
    assert f.locator("[data-testid=compare-right-title]").inner_text().startswith("pytorch · conv1")
    tab.assert_clean()
