"""`tb-actviz export`: the recipe's figures and a filter's evolution, checked by
decoding what the command wrote, from a log dir written by a real fit."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from tb_actviz import ActivationLogger, export, metadata
from tb_actviz.format import colormaps
from tb_actviz.reader import LogReader

EPOCHS = 3


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("export_logs")
    rng = np.random.default_rng(5)
    x, y = rng.random((12, 16, 16, 1), dtype=np.float32), rng.integers(0, 2, 12)
    model = keras.Sequential([
        keras.Input((16, 16, 1)),
        keras.layers.Conv2D(12, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(2),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=EPOCHS, verbose=0, callbacks=[
        ActivationLogger(str(root / "run"), probe=(x[:6], y[:6]), class_names=["no", "yes"], verbose=0)
    ])
    return str(root)


def _run_cli(*args):
    """The installed console script, as a user runs it."""
    script = os.path.join(os.path.dirname(sys.executable), "tb-actviz")
    done = subprocess.run([script, "export", *args], capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


def _tile_colours(figure, snapshot, filter_position, image):
    """The viridis colours of one stored map, as the export should draw them."""
    return {tuple(c) for c in colormaps.apply(snapshot.quantized[filter_position, image]).reshape(-1, 3)}


def test_filters_grid_decodes_and_holds_every_map(log_dir, tmp_path):
    out = tmp_path / "filters.png"
    code, output = _run_cli("filters", "--logdir", log_dir, "--layer", "conv1", "--image", "2",
                            "--count", "12", "--columns", "4", "-o", str(out))
    assert code == 0, output
    figure = np.asarray(Image.open(out).convert("RGB"))
    snapshot = LogReader(log_dir).layer("run/train", metadata.layer_tag("conv1"))
    assert snapshot.step == EPOCHS  # the last step by default
    colours = {tuple(c) for c in figure.reshape(-1, 3)}
    for f in range(12):  # every map's colours are in the figure
        assert _tile_colours(figure, snapshot, f, 2) <= colours, f
    tile = export.TILE_SIZE // 16 * 16  # 16-px maps scaled to the tile size
    assert figure.shape[0] >= 3 * tile and figure.shape[1] >= 4 * tile


def test_a_tile_is_the_stored_map_scaled_without_smoothing(log_dir):
    snapshot = LogReader(log_dir).layer("run/train", metadata.layer_tag("conv1"), step=1)
    tile = np.asarray(export.colour_tile(snapshot.quantized[3, 1], "viridis", 0))
    scale = tile.shape[0] // 16
    assert tile.shape == (16 * scale, 16 * scale, 3)
    expected = colormaps.apply(snapshot.quantized[3, 1]).repeat(scale, 0).repeat(scale, 1)
    assert np.array_equal(tile, expected)


def test_filter_across_images_titles_and_maps(log_dir, tmp_path):
    out = tmp_path / "filter.png"
    code, output = _run_cli("images", "--logdir", log_dir, "--layer", "conv1", "--filter", "5",
                            "--step", "2", "-o", str(out))
    assert code == 0, output
    figure = np.asarray(Image.open(out).convert("RGB"))
    snapshot = LogReader(log_dir).layer("run/train", metadata.layer_tag("conv1"), step=2)
    colours = {tuple(c) for c in figure.reshape(-1, 3)}
    for image in range(6):
        assert _tile_colours(figure, snapshot, 5, image) <= colours, image


def test_evolution_gif_has_one_frame_per_step(log_dir, tmp_path):
    out = tmp_path / "evolution.gif"
    code, output = _run_cli("evolution", "--logdir", log_dir, "--layer", "conv1", "--filter", "4",
                            "--image", "1", "-o", str(out))
    assert code == 0, output
    assert "%d/%d frames" % (EPOCHS + 1, EPOCHS + 1) in output  # the progress bar
    gif = Image.open(out)
    assert gif.format == "GIF" and gif.n_frames == EPOCHS + 1
    first = np.asarray(gif.convert("RGB"))
    gif.seek(EPOCHS)
    last = np.asarray(gif.convert("RGB"))
    assert not np.array_equal(first, last)  # the filter changed over training


def test_bad_layer_and_filter_say_what_exists(log_dir, tmp_path):
    code, output = _run_cli("filters", "--logdir", log_dir, "--layer", "nope", "-o", str(tmp_path / "x.png"))
    assert code != 0 and "logged layers: conv1" in output
    code, output = _run_cli("images", "--logdir", log_dir, "--layer", "conv1", "--filter", "99",
                            "-o", str(tmp_path / "x.png"))
    assert code != 0 and "logged filters: 0 to 11" in output


def test_export_does_not_import_tensorflow(log_dir, tmp_path):
    # TensorBoard's event reader uses TensorFlow when it is installed; block
    # it to show the export needs only TensorBoard.
    code = (
        "import sys; sys.modules['tensorflow'] = None\n"
        "from tb_actviz import export\n"
        "export.main(['export', 'filters', '--logdir', %r, '--layer', 'conv1', '-o', %r])\n"
    ) % (log_dir, str(tmp_path / "no_tf.png"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert Image.open(tmp_path / "no_tf.png").size[0] > 0


@pytest.mark.parametrize("view, args, heading", [
    ("filters", ["--image", "2"], "run/train · conv1 · epoch 3 · image 2 ({label}) · viridis"),
    ("images", ["--filter", "5", "--step", "2"], "run/train · conv1 · epoch 2 · filter 5 · viridis"),
])
def test_exported_figures_say_what_they_show(log_dir, tmp_path, view, args, heading):
    # A figure pasted into a report carries its run, layer, step (as the training counted it).
    out = tmp_path / "figure.png"
    code, output = _run_cli(view, "--logdir", log_dir, "--layer", "conv1", *args, "-o", str(out))
    assert code == 0, output
    figure = Image.open(out).convert("RGB")
    label = LogReader(log_dir).labels("run/train")[2]
    expected = export.with_heading(Image.new("RGB", (figure.width, 1), (255, 255, 255)),
                                   heading.format(label=label))
    band = export.TITLE_HEIGHT + 6
    assert expected.width == figure.width
    assert np.array_equal(np.asarray(figure)[:band], np.asarray(expected)[:band])
    assert (np.asarray(figure)[:band] < 128).any()  # text, not a blank band


def test_a_token_grid_layer_exports_as_maps(tmp_path):
    # issue [13], point 5: a ViT-like layer's tokens (a class token and a 4 x 4
    # patch grid) export as 4 x 4 maps, drawn as a conv layer's are.
    from keras import layers, ops

    class ClassToken(layers.Layer):
        def build(self, input_shape):
            self.token = self.add_weight(shape=(1, 1, input_shape[-1]), name="token")

        def call(self, t):
            return ops.concatenate([ops.zeros_like(t[:, :1]) + self.token, t], axis=1)

    rng = np.random.default_rng(6)
    x, y = rng.random((8, 12, 12, 3), dtype=np.float32), rng.integers(0, 2, 8)
    inputs = keras.Input((12, 12, 3))
    patches = layers.Reshape((16, 5))(layers.Conv2D(5, 3, strides=3, name="embed")(inputs))
    tokens = layers.Dense(4, name="tokens")(ClassToken()(patches))
    model = keras.Model(inputs, layers.Dense(2)(layers.GlobalAveragePooling1D()(tokens)))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=1, verbose=0, callbacks=[
        ActivationLogger(str(tmp_path / "vit"), probe=x[:4], layers=["tokens"], verbose=0)])
    out = tmp_path / "tokens.png"
    code, output = _run_cli("filters", "--logdir", str(tmp_path), "--layer", "tokens", "--image", "1",
                            "-o", str(out))
    assert code == 0, output
    snapshot = LogReader(str(tmp_path)).layer("vit/train", metadata.layer_tag("tokens"))
    assert (snapshot.info.map_kind, snapshot.info.leading_tokens) == ("token_grid", 1)
    assert snapshot.quantized.shape == (4, 4, 4, 4)  # filters, images, 4 x 4 maps
    figure = np.asarray(Image.open(out).convert("RGB"))
    tile = np.asarray(export.colour_tile(snapshot.quantized[0, 1], "viridis", 0))
    assert tile.shape == (export.TILE_SIZE, export.TILE_SIZE, 3)  # a square map, not a strip
    top = 2 * export.TITLE_HEIGHT + 6 + 3  # heading band, then the first cell's title
    assert np.array_equal(figure[top:top + tile.shape[0], 3:3 + tile.shape[1]], tile)
