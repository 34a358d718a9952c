"""`tb-actviz export attention` and `attention-evolution`: the probe images
with their Grad-CAM or saliency maps laid over them, checked by decoding what
the command wrote, from log dirs written by a real fit."""

import dataclasses
import os
import shutil

import keras
import numpy as np
import pytest
from PIL import Image

from tb_actviz import ActivationLogger, Attributions, export, metadata
from tb_actviz.format import colormaps
from tb_actviz.reader import LogReader

L = keras.layers
EPOCHS = 2
STEPS = list(range(EPOCHS + 1))
CLASS_NAMES = ["cat", "dog", "owl"]
RUN = "train"
PREFIX = "tb-actviz export: error: "
BAND = export.TITLE_HEIGHT + 6  # the heading's band, and a cell's title and margins
SCALE = export.TILE_SIZE // 12  # the 12x10 probe images' tile scale
TILE_W, TILE_H = 10 * SCALE, 12 * SCALE


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """Log dirs of one fit of a small gray-image classifier, probe of 4
    labelled images: {"labels": attributions for the true labels, with class
    names; "class_2": attributions of class 2, a probe without labels, no
    class names, maps of at most 3x3 (the 8x6 Grad-CAM maps are averaged
    over 3x3 blocks, the last row of blocks partial); "layers": layers only}."""
    root = tmp_path_factory.mktemp("attention_logs")
    keras.utils.set_random_seed(3)
    model = keras.Sequential([
        keras.Input((12, 10, 1)),
        L.Conv2D(4, 3, activation="relu", name="c1"),
        L.Conv2D(5, 3, activation="relu", name="c2"),
        L.GlobalAveragePooling2D(),
        L.Dense(3, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 12, 10, 1), dtype=np.float32), np.arange(16) % 3
    dirs = {name: str(root / name) for name in ("labels", "class_2", "layers")}
    model.fit(x, y, epochs=EPOCHS, batch_size=8, verbose=0, callbacks=[
        ActivationLogger(dirs["labels"], (x[:4], y[:4]), layers="conv:0", attributions=True,
                         class_names=CLASS_NAMES, verbose=0),
        ActivationLogger(dirs["class_2"], x[:4], layers="conv:0", attributions=Attributions(target=2),
                         max_map_size=3, verbose=0),
        ActivationLogger(dirs["layers"], (x[:4], y[:4]), layers="conv:0", verbose=0),
    ])
    return dirs


@pytest.fixture(scope="module")
def log_dir(logs):
    return logs["labels"]


def _export(capsys, *args):
    """`tb-actviz export ...` in this process: (exit status, stdout, stderr)."""
    try:
        export.main(["export", *args])
        code = 0
    except SystemExit as e:
        code = e.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _figure(path):
    return np.asarray(Image.open(path).convert("RGB"))


def _tiles(figure, count, columns):
    """The overlay tiles of an attention grid, in image order."""
    cell_w = figure.shape[1] // columns
    cell_h = TILE_H + BAND
    tiles = []
    for i in range(count):
        r, c = divmod(i, columns)
        x, y = c * cell_w + 3, BAND + r * cell_h + 3 + export.TITLE_HEIGHT
        tiles.append(figure[y:y + TILE_H, x:x + TILE_W])
    return tiles


def _shown_probe(picture):
    """A gray probe image as the tile shows it: RGB, each pixel SCALE x SCALE."""
    rgb = np.repeat(picture[..., None], 3, axis=-1)
    return rgb.repeat(SCALE, 0).repeat(SCALE, 1)


def _smooth_map(q, height=TILE_H):
    """A stored map upsampled bilinearly to the tile's width and `height`,
    cut to the tile."""
    return np.asarray(Image.fromarray(q).resize((TILE_W, height), Image.BILINEAR))[:TILE_H]


def test_the_grid_size_follows_count_and_columns(log_dir, tmp_path, capsys):
    sizes = {}
    for count, columns in [(4, 4), (4, 2), (3, 2), (2, 1)]:
        out = tmp_path / ("%d_%d.png" % (count, columns))
        code, stdout, stderr = _export(capsys, "attention", "--logdir", log_dir, "--count", str(count),
                                       "--columns", str(columns), "-o", str(out))
        assert code == 0, stderr
        assert "(train, actviz/attribution/grad_cam)" in stdout
        sizes[count, columns] = Image.open(out).size
    cell_w = sizes[4, 4][0] // 4
    assert cell_w >= TILE_W + 6
    for (count, columns), (width, height) in sizes.items():
        rows = -(-count // columns)
        assert height == BAND + rows * (TILE_H + BAND), (count, columns)
        if columns > 1:  # one column is as wide as the heading
            assert width == columns * cell_w, (count, columns)


@pytest.mark.parametrize("method", ["grad_cam", "saliency"])
def test_each_tile_is_the_smoothed_map_over_its_probe_image(log_dir, tmp_path, capsys, method):
    out = tmp_path / "attention.png"
    code, _, stderr = _export(capsys, "attention", "--logdir", log_dir, "--method", method, "--step", "1",
                              "--columns", "4", "--cmap", "magma", "--opacity", "0.6", "-o", str(out))
    assert code == 0, stderr
    reader = LogReader(log_dir)
    snapshot = reader.attribution(RUN, metadata.attribution_tag(method), 1)
    pictures, _ = reader.probe(RUN)
    assert pictures[0].shape == (12, 10)  # gray, as the tiles below expect
    assert snapshot.quantized.shape[1:] == ((8, 6) if method == "grad_cam" else (12, 10))
    for i, tile in enumerate(_tiles(_figure(out), 4, 4)):
        plain = _shown_probe(pictures[i]).astype(np.int16)
        heat = _smooth_map(snapshot.quantized[i])
        expected = plain * 0.4 + colormaps.apply(heat, "magma") * 0.6
        assert np.abs(tile - expected).max() <= 0.5 + 1e-9, i
        high = heat >= 200
        assert high.any(), i  # each map is quantized over its own range
        assert (np.abs(tile.astype(np.int16) - plain).max(axis=-1)[high] > 0).mean() > 0.95, i


def test_opacity_0_shows_the_probe_image_and_1_the_map(log_dir, tmp_path, capsys):
    reader = LogReader(log_dir)
    pictures, _ = reader.probe(RUN)
    snapshot = reader.attribution(RUN, metadata.attribution_tag("grad_cam"))
    for opacity in ("0", "1"):
        out = tmp_path / ("opacity_%s.png" % opacity)
        code, _, stderr = _export(capsys, "attention", "--logdir", log_dir, "--columns", "4",
                                  "--opacity", opacity, "-o", str(out))
        assert code == 0, stderr
        for i, tile in enumerate(_tiles(_figure(out), 4, 4)):
            if opacity == "0":
                assert np.array_equal(tile, _shown_probe(pictures[i])), i
            else:
                heat = _smooth_map(snapshot.quantized[i])
                assert np.array_equal(tile, colormaps.apply(heat, export.overlay_cmap())), i


def test_a_map_whose_last_blocks_are_partial_reaches_past_the_image(logs, tmp_path, capsys):
    # As in the tab: 3x3 blocks of 8 rows make 3 rows spanning 9, so the map
    # is drawn 9/8 of the image's height and cut to it.
    out = tmp_path / "partial.png"
    code, _, stderr = _export(capsys, "attention", "--logdir", logs["class_2"], "--columns", "4",
                              "--opacity", "1", "--cmap", "viridis", "-o", str(out))
    assert code == 0, stderr
    reader = LogReader(logs["class_2"])
    snapshot = reader.attribution(RUN, metadata.attribution_tag("grad_cam"))
    pictures, _ = reader.probe(RUN)
    assert snapshot.quantized.shape[1:] == (3, 2) and pictures[0].shape == (6, 5)
    assert export.map_coverage(snapshot.info) == (1.0, 9 / 8)
    scale = export.TILE_SIZE // 6
    assert (TILE_W, TILE_H) == (5 * scale, 6 * scale)  # the 6x5 images' tiles are as large
    for i, tile in enumerate(_tiles(_figure(out), 4, 4)):
        q = snapshot.quantized[i]
        assert np.array_equal(tile, colormaps.apply(_smooth_map(q, TILE_H * 9 // 8))), i
        assert not np.array_equal(tile, colormaps.apply(_smooth_map(q))), i


def test_levels_posterize_the_map(log_dir, tmp_path, capsys):
    out = tmp_path / "levels.png"
    code, _, stderr = _export(capsys, "attention", "--logdir", log_dir, "--method", "saliency",
                              "--columns", "4", "--opacity", "1", "--levels", "5", "-o", str(out))
    assert code == 0, stderr
    for tile in _tiles(_figure(out), 4, 4):
        assert len({tuple(c) for c in tile.reshape(-1, 3)}) <= 5


def test_the_figure_says_what_it_shows(log_dir, tmp_path, capsys):
    # Titles "i predicted: name score (true: name)", the heading run, method
    # and layer, step, colormap: the figure is the grid of those.
    out = tmp_path / "titled.png"
    code, _, stderr = _export(capsys, "attention", "--logdir", log_dir, "--columns", "2", "-o", str(out))
    assert code == 0, stderr
    reader = LogReader(log_dir)
    snapshot = reader.attribution(RUN, metadata.attribution_tag("grad_cam"))
    assert snapshot.step == EPOCHS  # the last step by default
    pictures, labels = reader.probe(RUN)
    cmap = export.overlay_cmap()
    titles = []
    for i in range(4):
        predicted = CLASS_NAMES[int(snapshot.field("predicted_class")[i])]
        assert CLASS_NAMES[int(snapshot.field("target_class")[i])] == labels[i]
        titles.append("%d predicted: %s %.2f (true: %s)" % (
            i, predicted, snapshot.field("predicted_score")[i], labels[i]))
    tiles = [export.attention_overlay(pictures[i], snapshot.quantized[i], cmap, 0.5) for i in range(4)]
    expected = export.with_heading(export.titled_grid(tiles, titles, 2),
                                   "train · Grad-CAM of c2 · epoch %d · %s" % (EPOCHS, cmap))
    assert np.array_equal(_figure(out), np.asarray(expected))


def test_saliency_heading_names_the_gradient(log_dir, tmp_path, capsys):
    out = tmp_path / "saliency.png"
    code, _, stderr = _export(capsys, "attention", "--logdir", log_dir, "--method", "saliency",
                              "--step", "0", "--cmap", "gray", "-o", str(out))
    assert code == 0, stderr
    figure = Image.open(out).convert("RGB")
    heading = "train · saliency (|d score / d input|) · epoch 0 · gray"
    expected = export.with_heading(Image.new("RGB", (figure.width, 1), (255, 255, 255)), heading)
    assert np.array_equal(np.asarray(figure)[:BAND], np.asarray(expected)[:BAND])


def test_titles_name_the_explained_class(logs):
    # A probe without labels and no class names, explaining class 2.
    reader = LogReader(logs["class_2"])
    snapshot = reader.attribution(RUN, metadata.attribution_tag("grad_cam"))
    assert snapshot.info.attribution_target == "class 2" and not snapshot.info.class_names
    predicted = int(snapshot.field("predicted_class")[1])
    assert export.prediction_text(snapshot, 1) == "predicted: %d %.2f (explained: 2 %.2f)" % (
        predicted, snapshot.field("predicted_score")[1], snapshot.field("target_score")[1])
    # The same record as a log explaining the predicted class says no more.
    info = type(snapshot.info)()
    info.CopyFrom(snapshot.info)
    info.attribution_target = "predicted"
    explaining_prediction = dataclasses.replace(snapshot, info=info)
    assert export.prediction_text(explaining_prediction, 1) == "predicted: %d %.2f" % (
        predicted, snapshot.field("predicted_score")[1])


def test_the_evolution_has_one_frame_per_step(log_dir, tmp_path, capsys):
    out = tmp_path / "cam.gif"
    code, _, stderr = _export(capsys, "attention-evolution", "--logdir", log_dir, "--image", "1",
                              "--frame-ms", "300", "-o", str(out))
    assert code == 0, stderr
    assert "%d/%d frames" % (len(STEPS), len(STEPS)) in stderr  # the progress bar
    gif = Image.open(out)
    assert gif.format == "GIF" and gif.n_frames == len(STEPS)
    assert gif.info["duration"] == 300
    reader = LogReader(log_dir)
    tag = metadata.attribution_tag("grad_cam")
    snapshots = [reader.attribution(RUN, tag, step) for step in STEPS]
    pictures, labels = reader.probe(RUN)
    frames = export.attention_frames(snapshots, pictures[1], 1, export.overlay_cmap(), 0.5, 0, progress=None)
    assert len({frame.size for frame in frames}) == 1
    heading = "train · Grad-CAM of c2 · image 1 · " + export.overlay_cmap()
    assert gif.size == export.with_heading(frames[0], heading).size
    for step, frame, snapshot in zip(STEPS, frames, snapshots):
        title = "epoch %d · predicted: %s %.2f (true: %s)" % (
            step, CLASS_NAMES[int(snapshot.field("predicted_class")[1])],
            snapshot.field("predicted_score")[1], labels[1])
        tile = export.attention_overlay(pictures[1], snapshot.quantized[1], export.overlay_cmap(), 0.5,
                                        size=2 * export.TILE_SIZE)
        expected = np.asarray(export.titled_grid([tile], [title], 1))
        shown = np.asarray(frame)[:expected.shape[0], :expected.shape[1]]
        assert np.array_equal(shown, expected), step


def _without_pixel_file(log_dir, tmp_path, step):
    """A copy of `log_dir` without the pixel file of `step`: (its path, the file's name)."""
    damaged = str(tmp_path / "damaged")
    shutil.copytree(log_dir, damaged)
    pixels = os.path.join(damaged, RUN, "plugins", "activations")
    (name,) = [name for name in os.listdir(pixels) if name.startswith("%010d." % step)]
    os.remove(os.path.join(pixels, name))
    return damaged, name


def test_an_unreadable_step_is_left_out_of_the_evolution_with_a_warning(log_dir, tmp_path, capsys):
    damaged, step_1 = _without_pixel_file(log_dir, tmp_path, 1)
    out = tmp_path / "cam.gif"
    code, _, stderr = _export(capsys, "attention-evolution", "--logdir", damaged, "--method", "saliency",
                              "--image", "0", "-o", str(out))
    assert code == 0, stderr
    assert "tb-actviz export: warning: step 1 left out: " in stderr and step_1 in stderr, stderr
    assert Image.open(out).n_frames == len(STEPS) - 1


def test_an_unreadable_step_is_an_error_naming_the_readable_ones(log_dir, tmp_path, capsys):
    damaged, last = _without_pixel_file(log_dir, tmp_path, EPOCHS)
    out = tmp_path / "cam.png"
    code, stdout, stderr = _export(capsys, "attention", "--logdir", damaged, "-o", str(out))
    assert code == 2 and not stdout and not out.exists()
    (line,) = [line for line in stderr.splitlines() if line.startswith(PREFIX)]
    assert line.startswith(PREFIX + "run train, tag actviz/attribution/grad_cam, step %d: " % EPOCHS), line
    assert last in line and line.endswith("(other steps may be readable: --step; logged steps: 0, 1, 2)")
    code, _, stderr = _export(capsys, "attention", "--logdir", damaged, "--step", "1", "-o", str(out))
    assert code == 0, stderr


ERRORS = {
    "no_attributions": (
        ("attention", "--logdir", "{layers}"),
        "run train has no attributions (Grad-CAM, saliency) to show: log them with "
        "ActivationLogger(..., attributions=True)"),
    "image_99": (("attention-evolution", "--image", "99"),
                 "--image 99: run train has 4 probe images (0 to 3)"),
    "no_image": (("attention-evolution",),
                 "attention-evolution needs --image, the probe image to follow: run train has 4 "
                 "probe images (0 to 3)"),
    "step_99": (("attention", "--step", "99"),
                "the grad_cam attributions of run train have no step 99; logged steps: 0, 1, 2"),
    "unknown_run": (("attention", "--run", "nope"), "no run 'nope' in the log dir; runs: train"),
    "layer_view_without_layer": (("filters",), "filters needs --layer, the layer to show (e.g. "
                                 "vgg16/block1_conv1); logged layers: c1"),
    "opacity_1.5": (("attention", "--opacity", "1.5"), "argument --opacity: must be from 0 to 1, got 1.5"),
    "opacity_word": (("attention", "--opacity", "half"),
                     "argument --opacity: must be a number from 0 to 1, got 'half'"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_bad_input_is_one_line_naming_the_problem(logs, tmp_path, capsys, case):
    args, message = ERRORS[case]
    args = [a.format(layers=logs["layers"]) for a in args]
    if "--logdir" not in args:
        args[1:1] = ["--logdir", logs["labels"]]
    out = tmp_path / ("out.gif" if args[0] == "attention-evolution" else "out.png")
    code, stdout, stderr = _export(capsys, *args, "-o", str(out))
    assert code == 2, stderr
    lines = [line for line in stderr.splitlines() if line.startswith(PREFIX)]
    assert lines == [PREFIX + message], stderr
    assert not stdout and not out.exists()
