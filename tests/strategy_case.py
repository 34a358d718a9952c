"""The model and data every distributed test trains (tf.distribute, JAX
multi-process, torch.distributed), imported by the worker scripts after their
strategy or process group is set up."""

import keras
import numpy as np


def data():
    rng = np.random.default_rng(0)
    return rng.random((32, 16, 16, 3), dtype=np.float32), rng.integers(0, 2, 32)


def model():
    """Build inside the strategy's scope."""
    return keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(4, 3, name="c1"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2),
        ]
    )
