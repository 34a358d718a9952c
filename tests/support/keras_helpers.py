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
