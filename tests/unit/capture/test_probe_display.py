"""ActivationLogger(probe_display=...): a preprocessed probe shown as the pictures it is
(issue [13], point 10), with real `model.fit` on every backend."""

import keras
import numpy as np
import pytest

from tb_actviz import ActivationLogger
from tb_actviz.reader import LogReader
from tb_actviz.capture import probe as probe_lib
from tb_actviz.capture import probe_display
from tb_actviz.format import images

L = keras.layers
SIZE = 16


def raw_images(n=4, size=SIZE, seed=0):
    """Smooth uint8 RGB pictures of distinct colours (a gradient per image)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.0, 1.0, size)
    pictures = []
    for _ in range(n):
        low, high = rng.uniform(0, 120, 3), rng.uniform(135, 255, 3)
        along = ramp[:, None, None] if rng.random() < 0.5 else ramp[None, :, None]
        pictures.append(np.broadcast_to(low + (high - low) * along, (size, size, 3)))
    return np.round(np.stack(pictures)).astype(np.uint8)


def preprocess(raw, mode="caffe"):
    """What the model receives: raw (N, H, W, 3) uint8 as keras.applications prepare it."""
    return keras.applications.imagenet_utils.preprocess_input(
        raw.astype("float32"), data_format="channels_last", mode=mode)


def rgb_model(size=SIZE):
    model = keras.Sequential([
        keras.Input((size, size, 3)),
        L.Conv2D(2, 3, name="c"),
        L.GlobalAveragePooling2D(),
        L.Dense(2, activation="softmax"),
    ])
    model.compile("sgd", "sparse_categorical_crossentropy")
    return model


def fit_with(tmp_path, x, model=None, **options):
    y = np.arange(len(x)) % 2
    callback = ActivationLogger(str(tmp_path), probe=(x, y), layers="c", verbose=0, **options)
    (model or rgb_model(x.shape[1])).fit(x, y, epochs=1, batch_size=2, verbose=0,
                                         callbacks=[callback])
    pictures, _ = LogReader(str(tmp_path)).probe("train")
    return np.stack(pictures)


def undo_caffe(x):
    return np.round(np.clip(x[..., ::-1] + np.array([123.68, 116.779, 103.939]), 0, 255)).astype(np.uint8)


# What is stored --------------------------------------------------------------------


def test_display_raw_uint8_images_are_stored_not_the_bgr_input(tmp_path):
    raw = raw_images()
    shown = fit_with(tmp_path, preprocess(raw), probe_display=raw)
    np.testing.assert_array_equal(shown, raw)  # 16x16 fits max_side: stored as given
    # Without probe_display= the tab shows the model input min-max scaled: other colours.
    scaled = np.stack([images.display_image(s, 64)[0] for s in preprocess(raw)])
    assert np.abs(scaled.astype(int) - raw).mean() > 20


def test_display_default_is_the_model_input_scaled(tmp_path):
    raw = raw_images()
    shown = fit_with(tmp_path, preprocess(raw))
    expected = np.stack([images.display_image(s, 64)[0] for s in preprocess(raw)])
    np.testing.assert_array_equal(shown, expected)


def test_display_float_images_in_0_1(tmp_path):
    raw = raw_images()
    shown = fit_with(tmp_path, preprocess(raw), probe_display=raw / 255.0)
    np.testing.assert_array_equal(shown, raw)


def test_display_callable_inverting_the_preprocessing(tmp_path):
    raw = raw_images()
    seen = []

    def undo(x):
        seen.append(x.shape)
        return undo_caffe(x)

    shown = fit_with(tmp_path, preprocess(raw), probe_display=undo)
    assert seen == [raw.shape]  # once, at train begin, on the model's input batch
    assert np.abs(shown.astype(int) - raw).max() <= 1


@pytest.mark.parametrize("mode", probe_display.MODES)
def test_display_mode_shortcut_undoes_keras_preprocess_input(tmp_path, mode):
    raw = raw_images()
    shown = fit_with(tmp_path, preprocess(raw, mode), probe_display=mode)
    assert np.abs(shown.astype(int) - raw).max() <= 1


def test_display_max_images_applies(tmp_path):
    raw = raw_images(6)
    shown = fit_with(tmp_path, preprocess(raw), probe_display=raw, max_images=3)
    np.testing.assert_array_equal(shown, raw[:3])
    # As many display images as are used is also accepted.
    shown = fit_with(tmp_path / "used", preprocess(raw), probe_display=raw[:3], max_images=3)
    np.testing.assert_array_equal(shown, raw[:3])


def test_display_gray_images(tmp_path):
    raw = raw_images()
    gray = raw[..., 1]
    shown = fit_with(tmp_path, preprocess(raw), probe_display=gray[..., None])
    np.testing.assert_array_equal(shown, gray)


def test_display_larger_images_of_the_same_aspect_are_resized(tmp_path):
    raw = raw_images()
    large = np.repeat(np.repeat(raw, 3, axis=1), 3, axis=2)  # 48x48
    shown = fit_with(tmp_path, preprocess(raw), probe_display=large)
    assert shown.shape == raw.shape
    assert np.abs(shown.astype(int) - raw).mean() < 2


def test_display_downsampled_as_the_model_input_would_be(tmp_path):
    # 80x80 inputs: the model input would be stored 40x40 (factor 2 for 64 a side).
    raw = raw_images(2, size=80)
    shown = fit_with(tmp_path, preprocess(raw), probe_display=raw)
    expected = np.stack([images.display_image(s, 64)[0] for s in preprocess(raw)])
    assert shown.shape == expected.shape == (2, 40, 40, 3)
    downsampled = np.stack([np.round(images.area_downsample(r, 2)) for r in raw])
    assert np.abs(shown.astype(int) - downsampled).max() <= 1


def test_display_with_attributions(tmp_path):
    # The Attention view and the overlays read the probe images from the PROBE tag.
    raw = raw_images()
    x = preprocess(raw)
    y = np.arange(len(x)) % 2
    callback = ActivationLogger(str(tmp_path), probe=(x, y), layers="c", verbose=0,
                                attributions=True, probe_display="caffe")
    rgb_model().fit(x, y, epochs=1, batch_size=2, verbose=0, callbacks=[callback])
    pictures, labels = LogReader(str(tmp_path)).probe("train")
    assert labels == ["0", "1", "0", "1"]
    assert np.abs(np.stack(pictures).astype(int) - raw).max() <= 1


# Refused, with what would be right ----------------------------------------------


def logger(x, display, **options):
    return ActivationLogger("unused_log_dir", probe=x, probe_display=display, verbose=0, **options)


@pytest.mark.parametrize("display, message", [
    (raw_images(3), r"holds 3 images but the probe has 4: pass one display image per probe image"),
    (raw_images(1)[0], r"looks like one image: pass a batch"),
    (raw_images()[..., :2], r"no batch of images: expected display images \(N, H, W, 3\)"),
    (np.zeros((4, SIZE, SIZE, 4), np.uint8), r"4 channels .*images\[\.\.\., :3\]"),
    (raw_images().astype("float32"), r"floats from \d+ to \d+.*0\.\.255 pixel values: pass images / 255"),
    (preprocess(raw_images()), r"look like preprocessed model inputs.*'caffe', 'torch', 'tf'"),
    (np.full((4, SIZE, SIZE, 3), np.nan), r"NaN or infinite"),
    (np.full((4, SIZE, SIZE, 3), 300), r"integers from 300 to 300: integer images are 0\.\.255"),
    (np.full((4, SIZE, SIZE, 3), "a"), r"dtype <U1, not an image"),
    (np.moveaxis(raw_images(), -1, 1), r"channels first, but Keras's image data format is channels_last"),
    ("vgg16", r"'vgg16' is no preprocessing mode: expected .*'caffe', 'torch', 'tf'"),
    (np.zeros((4, SIZE)), r"shape \(4, 16\), which is no batch of images"),
    (np.zeros((4, 0, 0, 3)), r"shape \(4, 0, 0, 3\), which is no batch of images"),
])
def test_display_bad_argument_refused_at_construction(display, message):
    with pytest.raises(ValueError, match="probe_display=.*" + message):
        logger(preprocess(raw_images()), display)


def test_display_count_with_max_images_names_both():
    with pytest.raises(ValueError, match=r"holds 5 images but the probe has 8 \(4 used, max_images\)"):
        logger(preprocess(raw_images(8)), raw_images(5), max_images=4)


@pytest.mark.parametrize("display, message", [
    (lambda x: x[:2], r"callable <lambda> returned a value that holds 2 images but the probe has 4"),
    (lambda x: x[..., 0:2], r"callable <lambda> returned a value that has shape \(4, 16, 16, 2\)"),
    (lambda x: x, r"callable <lambda> returned a value that holds floats from -\d.* preprocessed"),
    (lambda x: None, r"callable <lambda> returned a value that has shape \(\)"),
    (lambda x: 1 / 0, r"callable <lambda> failed on the probe's model input batch \(shape \(4, 16, 16, 3\)\): "
                      r"ZeroDivisionError"),
    (raw_images(4, size=20)[:, :, :12], r"images are 20x12 \(height x width\) but the model's input is 16x16.*"
                                        r"Crop the display images as the model's input was cropped"),
])
def test_display_bad_at_train_begin_before_any_step(tmp_path, display, message):
    x = preprocess(raw_images())
    model = rgb_model()
    before = [w.copy() for w in model.get_weights()]
    callback = ActivationLogger(str(tmp_path), probe=x, layers="c", verbose=0, probe_display=display)
    with pytest.raises(ValueError, match="probe_display=" + r".*" + message):
        model.fit(x, np.zeros(4), epochs=1, batch_size=2, verbose=0, callbacks=[callback])
    for w, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, b)


def test_display_mode_needs_three_channels(tmp_path):
    x = np.zeros((4, SIZE, SIZE, 1), "float32")
    model = keras.Sequential([keras.Input((SIZE, SIZE, 1)), L.Conv2D(2, 3, name="c"), L.Flatten(), L.Dense(2)])
    model.compile("sgd", "sparse_categorical_crossentropy")
    callback = ActivationLogger(str(tmp_path), probe=x, layers="c", verbose=0, probe_display="caffe")
    with pytest.raises(ValueError, match=r"'caffe' undoes the 'caffe' preprocessing of 3-channel images"):
        model.fit(x, np.zeros(4), epochs=1, verbose=0, callbacks=[callback])


def test_display_needs_image_inputs(tmp_path):
    x = np.zeros((4, 12), "float32")
    model = keras.Sequential([keras.Input((12,)), L.Dense(3, name="c"), L.Dense(2)])
    model.compile("sgd", "sparse_categorical_crossentropy")
    callback = ActivationLogger(str(tmp_path), probe=x, layers="c", verbose=0,
                                probe_display=raw_images())
    with pytest.raises(ValueError, match=r"probe_display= needs image inputs.*samples of shape \(12,\)"):
        model.fit(x, np.zeros(4), epochs=1, verbose=0, callbacks=[callback])


# Channels first ----------------------------------------------------------------------


@pytest.fixture
def channels_first():
    before = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    yield
    keras.config.set_image_data_format(before)


def test_display_channels_first(channels_first):
    raw = raw_images()
    x = np.moveaxis(preprocess(raw), -1, 1)  # (N, 3, H, W), as the model takes it
    probe = probe_lib.make_probe(x, 16)
    # Display images channels first or last; the caffe inverse on the channel axis 1.
    for display in (np.moveaxis(raw, -1, 1), raw, "caffe", lambda x: np.moveaxis(undo_caffe(np.moveaxis(x, 1, -1)), -1, 1)):
        shown = probe_display.pictures(probe_display.check(display, probe), x)
        assert shown.shape == raw.shape
        assert np.abs(shown.astype(int) - raw).max() <= 1
