"""What tests of the Keras callback need on every Keras backend."""

import numpy as np


def to_numpy(tensor):
    """A tensor of any Keras backend as numpy (torch: detached, on the host)."""
    import keras

    return np.asarray(keras.ops.convert_to_numpy(tensor))


def compiles_per_training():
    """What `ActivationLogger.trace_count` is after a training: the log
    pipeline is compiled once on TensorFlow and JAX, and runs eagerly (never
    compiled) on PyTorch."""
    import keras

    return 0 if keras.backend.backend() == "torch" else 1


def has_tensorflow():
    import importlib.util

    return importlib.util.find_spec("tensorflow") is not None


def keras_tensorboard_callback(log_dir):
    """`[keras.callbacks.TensorBoard(log_dir)]` where TensorFlow is installed
    (Keras's own callback needs it on every backend), else `[]`."""
    import keras

    return [keras.callbacks.TensorBoard(log_dir)] if has_tensorflow() else []


def tiny_classifier_data(seed):
    """8 random 8x8 gray images and their labels (0 or 1), for `tiny_classifier`."""
    rng = np.random.default_rng(seed)
    return rng.random((8, 8, 8, 1), dtype=np.float32), rng.integers(0, 2, 8)


def tiny_classifier():
    """A compiled 2-class model of one conv layer, `c1` (2 filters, 6x6 maps):
    the smallest model whose fit writes every kind of step the plugin reads."""
    import keras

    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, name="c1"), keras.layers.Flatten(),
         keras.layers.Dense(2)]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model
