"""Kernel logging (`kernels=`): selection and a real fit read back (the kernels' drawing,
`blob_layout.kernel_strip`: tests/unit/format/test_blob_layout.py)."""

import os

import keras
import numpy as np
import pytest
from keras import layers

from log_parsing import read_run
from tb_actviz import ActivationLogger, metadata
from tb_actviz.format import images
from tb_actviz.format.blob_layout import kernel_strip
from tb_actviz.reader import LogReader


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
