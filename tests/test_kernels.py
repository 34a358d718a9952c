"""Kernel logging (`kernels=`): selection, drawing, and a real fit read back."""

import os

import keras
import numpy as np
import pytest
from keras import layers

from conftest import read_run
from tb_actviz import ActivationLogger, metadata
from tb_actviz.format import images
from tb_actviz.format.blob_layout import kernel_strip
from tb_actviz.reader import LogReader


def test_rgb_kernels_are_scaled_each_on_its_own_range():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(3, 3, 3, 5)).astype(np.float32)
    strip, ranges = kernel_strip(weights)
    assert strip.shape == (3, 15, 3) and strip.dtype == np.uint8
    for f in range(5):
        patch = weights[..., f]
        assert ranges[f].tolist() == pytest.approx([patch.min(), patch.max()])
        expected = np.round((patch - patch.min()) * 255 / (patch.max() - patch.min()))
        assert np.array_equal(strip[:, 3 * f:3 * f + 3], expected)


def test_other_input_counts_are_gray_means_and_constant_kernels_are_zero():
    weights = np.zeros((2, 2, 4, 2), np.float32)
    weights[..., 1] = np.arange(16, dtype=np.float32).reshape(2, 2, 4)
    strip, ranges = kernel_strip(weights)
    assert strip.shape == (2, 4)
    assert not strip[:, :2].any()  # constant kernel: no division by zero
    means = weights[..., 1].mean(axis=2)
    assert ranges[1].tolist() == pytest.approx([means.min(), means.max()])
    assert strip[:, 2:].min() == 0 and strip[:, 2:].max() == 255


def _model():
    return keras.Sequential([
        keras.Input((10, 10, 3)),
        layers.Conv2D(4, 3, name="first"),
        layers.Conv2D(2, 3, name="second"),
        layers.Flatten(),
        layers.Dense(2, name="head"),
    ])


def test_fit_logs_the_first_conv_kernels_every_step(tmp_path):
    rng = np.random.default_rng(1)
    x, y = rng.random((8, 10, 10, 3), dtype=np.float32), rng.integers(0, 2, 8)
    model = _model()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=2, verbose=0,
              callbacks=[ActivationLogger(str(tmp_path), probe=x[:2], kernels=True, verbose=0)])
    reader = LogReader(str(tmp_path))
    tag = metadata.KERNEL_TAG_PREFIX + "first"
    info = reader.tags()["train"][tag]
    assert info.kind == metadata.Kind.KERNELS and info.channels == 3
    assert (info.map_height, info.map_width, list(info.filter_indices)) == (3, 3, [0, 1, 2, 3])
    assert reader.steps("train", tag) == [0, 1, 2]
    last = images.decode_png(read_run(os.path.join(str(tmp_path), "train"))[0][tag][-1][2][1], max_side=16384)
    expected, _ = kernel_strip(keras.ops.convert_to_numpy(model.get_layer("first").kernel))
    assert np.array_equal(last, expected)  # the weights after the last epoch


def test_kernels_of_a_non_conv_layer_are_refused(tmp_path):
    model = _model()
    model.compile("adam", "mse")
    callback = ActivationLogger(str(tmp_path), probe=np.zeros((2, 10, 10, 3), np.float32),
                                kernels=["head"], verbose=0)
    with pytest.raises(ValueError, match="no 2-D convolution kernel"):
        model.fit(np.zeros((4, 10, 10, 3)), np.zeros((4, 2)), epochs=1, verbose=0, callbacks=[callback])
